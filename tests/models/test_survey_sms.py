"""A survey's questions as SMS: each one segment with its options, under every provider; the
ready-made 五个摸清 survey in both languages."""

from __future__ import annotations

import pytest

from models.segments import count_segments
from models.sms_templates import TemplateRules, prepare
from models.survey import CARD_FIELDS, SurveyError, read_survey
from models.survey_ready import ready_made
from models.survey_sms import REMIND_KEY, check_fits, compose
from models.templates import render

PROVIDERS = [None, "aliyun", "tencent"]


def rules(provider: str | None) -> TemplateRules | None:
    """The provider's template rules with the shipped signature (None: Twilio's free text)."""
    return None if provider is None else TemplateRules.for_provider(provider, "青山镇")


def test_the_ready_made_survey_covers_the_five_things_in_both_languages() -> None:
    """Twelve questions, each in Chinese and English, each filling a card field once; the
    five things: reach and since when, why and where, work, life and schooling, a Party
    organisation at work, the part played."""
    data = ready_made()
    draft = read_survey(data)
    assert draft.title_en and all(q.text_en for q in draft.questions)
    fields = [q.field for q in draft.questions]
    assert len(fields) == len(set(fields)) == 12
    assert set(fields) <= set(CARD_FIELDS)
    for needed in ("departure_year", "reason", "employer", "work_form", "education"):
        assert needed in fields
    assert {"workplace_party_org", "party_role"} <= set(fields)
    ready_made()["questions"].clear()  # a copy: the next caller gets the survey whole
    assert len(ready_made()["questions"]) == 12


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_ready_made_question_is_one_segment(provider: str | None) -> None:
    """With the reminder's words, and the signature under a mainland provider."""
    check_fits(read_survey(ready_made()), rules(provider))


def test_a_long_question_is_cut_over_template_slots_at_its_spaces() -> None:
    """Alibaba holds 35 characters a variable: the longest question goes in three slots, one
    message with the signature, no word cut."""
    draft = read_survey(ready_made())
    question = draft.questions[11]
    text = compose(question.kind, question.text, None, question.choices, 12, 12, "zh_CN")
    prepared = prepare(
        TemplateRules.for_provider("aliyun", "青山镇"), REMIND_KEY, {"question": text}
    )
    assert len(prepared.template.variables) >= 2
    assert prepared.segments.segments == 1
    assert "".join(prepared.values.values()).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_question_over_one_segment_is_refused_in_both_languages(provider: str | None) -> None:
    """Options that push the text past one SMS: refused when written, saying which question."""
    draft = read_survey(
        {
            "title": "长",
            "questions": [
                {"text": "您好", "kind": "number"},
                {
                    "text": "您目前居住在什么样的房子里面?",
                    "kind": "choice",
                    "choices": [
                        "单位提供的集体宿舍",
                        "自己在外面租的房子",
                        "自己买的商品房",
                        "亲戚朋友家里",
                        "工地上的工棚",
                        "其他情况",
                    ],
                },
            ],
        }
    )
    with pytest.raises(SurveyError) as refused:
        check_fits(draft, rules(provider))
    assert "第2题" in refused.value.zh and "question 2" in refused.value.en


def test_english_is_checked_too() -> None:
    """An English text that runs past 160 characters is refused, named as English."""
    draft = read_survey(
        {"title": "t", "questions": [{"text": "问", "text_en": "word " * 40, "kind": "text"}]}
    )
    with pytest.raises(SurveyError, match="English"):
        check_fits(draft)


def test_the_question_text_counts_as_sent() -> None:
    """What check_fits counts is what the member reads."""
    text = compose(read_survey(ready_made()).questions[0].kind, "问?", None, (), 1, 1, "zh_CN")
    assert count_segments(render(REMIND_KEY, "zh_CN", question=text)).segments == 1
    assert render("survey_question", "zh_CN", question=text) == "问卷(1/1)问? 回复数字"
