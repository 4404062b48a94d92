"""The mainland providers' template registry: the rules each template obeys, the checks a
row's parameters pass before it is queued, and notices cut over slots."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.sms_templates import (
    ALIYUN,
    PROVIDERS,
    REGISTRY_PATH,
    TENCENT,
    Registry,
    TemplateError,
    TemplateRules,
    build_registry,
    prepare,
    problems,
    provider_params,
    registry,
    split_text,
    template_for,
)
from models.templates import TEMPLATES, placeholders

ALIYUN_RULES = TemplateRules.for_provider(ALIYUN)
TENCENT_RULES = TemplateRules.for_provider(TENCENT)


def shipped() -> dict[str, Any]:
    """The shipped registry's tables, to edit one thing in a test."""
    return copy.deepcopy(tomllib.loads(REGISTRY_PATH.read_text(encoding="utf-8")))


def edited(key: str, **fields: Any) -> Registry:
    """The shipped registry with some fields of one entry replaced."""
    data = shipped()
    data["templates"][key].update(fields)
    return build_registry(data)


def problems_of(key: str, **fields: Any) -> list[str]:
    """The problems `check` finds once one entry is edited."""
    return problems(edited(key, **fields))


# --- The shipped registry -------------------------------------------------------------------


def test_shipped_registry_passes_every_rule() -> None:
    """`flask templates check` finds nothing in the registry as shipped."""
    assert problems() == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_registry_covers_every_template_for_both_providers(provider: str, key: str) -> None:
    """Every text the system sends has a template for each mainland provider, filled only
    from the key's own parameters."""
    template = template_for(provider, key)
    assert template.key == key and template.provider == provider
    assert template.sign_name
    assert {template.parameter(v) for v in template.variables} <= placeholders(key)


def test_a_key_missing_from_the_registry_is_a_problem() -> None:
    """A template added to models/templates.py without a registry entry fails the check."""
    data = shipped()
    del data["templates"]["reminder"]
    assert "reminder: no entry (every key of models/templates.py needs one)" in problems(
        build_registry(data)
    )


def test_tencent_text_is_positional_in_order_of_appearance() -> None:
    """Tencent gets {1}, {2} numbered as the names first appear; Alibaba keeps ${name}."""
    assert (
        template_for(ALIYUN, "report_done").text
        == "${name}您好,${month}月汇报已收到,回执${receipt}。谢谢!"
    )
    tencent = template_for(TENCENT, "report_done")
    assert tencent.text == "{1}您好,{2}月汇报已收到,回执{3}。谢谢!"
    assert tencent.variables == ("name", "month", "receipt")


def test_params_are_by_name_for_alibaba_and_by_position_for_tencent() -> None:
    """The same row's parameters in each provider's shape, only the ones the template uses."""
    params = {"name": "李明", "month": 11, "receipt": "K7M2QX", "unused": "x"}
    assert provider_params(ALIYUN_RULES, "report_done", params) == {
        "name": "李明",
        "month": "11",
        "receipt": "K7M2QX",
    }
    assert provider_params(TENCENT_RULES, "report_done", params) == ["李明", "11", "K7M2QX"]


# --- Rules on the templates (check) ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["${name}${month}月汇报还没收到", "${name}, ${month}月汇报还没收到", "${name}。${month}月汇报"],
)
def test_adjacent_variables_are_refused_even_with_punctuation_between(text: str) -> None:
    """Alibaba refuses ${a}${b} and ${a}, ${b}: words must stand between two variables."""
    found = problems_of("reminder_second", text=text)
    assert any("${name} and ${month} are adjacent" in p for p in found), found


def test_words_between_variables_are_enough() -> None:
    """${name}您好,${month}月 passes."""
    assert problems_of("reminder_second", text="${name}您好,${month}月汇报还没收到") == []


@pytest.mark.parametrize("text", ["${name}", "${name}:${month}", " ${name} "])
def test_a_template_of_variables_only_is_refused(text: str) -> None:
    """Neither provider approves a template with no fixed words."""
    found = problems_of("reminder_second", text=text)
    assert any("made only of variables" in p for p in found), found


@pytest.mark.parametrize("word", ["法律维权", "维权", "面试", "招聘", "党政"])
def test_refused_words_are_found(word: str) -> None:
    """Help and job templates are worded neutrally: the refused words fail the check."""
    found = problems_of("help_done", text=f"{word}求助已收到,编号${{ref}}。")
    assert any(repr(word) in p for p in found), found


def test_marketing_must_end_with_the_opt_out_words() -> None:
    """A marketing template ends with 拒收请回复R; with it, it passes."""
    found = problems_of("lessons_none", category="marketing", text="新课程已上线,欢迎收听。")
    assert any("must end with 拒收请回复R" in p for p in found), found
    assert problems_of("lessons_none", category="marketing", text="新课程已上线。拒收请回复R") == []


def test_a_notification_may_not_carry_the_marketing_words() -> None:
    """拒收请回复R belongs to marketing only (Alibaba refuses it in a notification)."""
    found = problems_of("lessons_none", text="暂无课程。拒收请回复R")
    assert any("only a marketing template" in p for p in found), found


def test_verification_has_one_code_and_says_so() -> None:
    """A verification template has the code alone and the word 验证码."""
    found = problems_of("phone_code", text="您好${code},请回复此码")
    assert any("must say 验证码" in p for p in found), found


def test_a_template_over_one_message_with_the_signature_is_a_problem() -> None:
    """A template not split over slots fits one message (70) with its signature and examples."""
    long = "请回复新的城市和单位" * 7  # 70 characters, 75 with 【青山镇】
    found = problems_of("report_ask_place", text=long)
    assert any("75 characters with the signature: one message is 70" in p for p in found), found


def test_approved_needs_a_code() -> None:
    """An approval without the provider's code cannot be sent."""
    found = problems_of("menu", aliyun={"code": "", "approved": True})
    assert any("approved but no code" in p for p in found), found


def test_unknown_variable_is_a_problem() -> None:
    """A variable that no parameter of the key fills is caught."""
    found = problems_of("report_done", text="${name}您好,回执${receipt},${who}谢谢")
    assert any("${who} is not a parameter" in p for p in found), found


def test_split_forms_number_their_slots_in_order() -> None:
    """Form n of a split key fills ${text1} to ${textn}, nothing else."""
    data = shipped()
    data["templates"]["broadcast"]["forms"][1]["text"] = "村支部通知:${text1},另外${text3}"
    found = problems(build_registry(data))
    assert any("form 2 must fill ${text1}, ${text2}" in p for p in found), found


def test_a_providers_forms_run_without_a_gap() -> None:
    """A provider given forms 1 and 3 but not 2 could not send a notice cut in two."""
    data = shipped()
    del data["templates"]["broadcast"]["forms"][1]["aliyun"]
    found = problems(build_registry(data))
    assert "aliyun broadcast: forms must run from 1 slot up without a gap" in found


# --- A row's parameters (prepare) -----------------------------------------------------------


def test_alibaba_value_at_35_passes_and_36_fails_with_key_param_limit() -> None:
    """35 characters fit one Alibaba variable; 36 fail naming the template, parameter, limit."""
    params = {"number": "10690000", "title": "课" * 35}
    assert prepare(ALIYUN_RULES, "lesson_missed", params).values["title"] == "课" * 35
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "lesson_missed", {**params, "title": "课" * 36})
    error = caught.value
    assert (error.key, error.param, error.limit, error.reason) == (
        "lesson_missed",
        "title",
        35,
        "too_long",
    )
    assert error.code == "template:too_long:lesson_missed.title>35"
    assert "36 characters" in str(error)


def test_tencent_has_no_limit_by_default_and_takes_the_setting() -> None:
    """An organisation's Tencent account takes long values; a personal one's 12 is enforced."""
    params = {"number": "10690000", "title": "课" * 40}
    assert prepare(TENCENT_RULES, "lesson_missed", params).params == ["10690000", "课" * 40]
    with pytest.raises(TemplateError) as caught:
        prepare(TemplateRules(TENCENT, 12), "lesson_missed", params)
    assert (caught.value.param, caught.value.limit) == ("title", 12)


@pytest.mark.parametrize(
    ("rules", "code", "reason"),
    [
        (ALIYUN_RULES, "123", "too_short"),
        (ALIYUN_RULES, "1234567", "too_long"),
        (ALIYUN_RULES, "12 456", "not_digits"),
        (TENCENT_RULES, "1234567", "too_long"),
        (TENCENT_RULES, "12a456", "not_digits"),
    ],
)
def test_verification_codes_have_the_providers_lengths(
    rules: TemplateRules, code: str, reason: str
) -> None:
    """Alibaba: 4 to 6 digits or letters; Tencent: up to 6 digits."""
    assert prepare(rules, "phone_code", {"code": "493027"}).params in (
        {"code": "493027"},
        ["493027"],
    )
    with pytest.raises(TemplateError) as caught:
        prepare(rules, "phone_code", {"code": code})
    assert (caught.value.param, caught.value.reason) == ("code", reason)


def test_empty_value_takes_the_entrys_words_or_fails() -> None:
    """A variable may not be empty: an entry's if_empty fills it, else the row fails."""
    prepared = prepare(ALIYUN_RULES, "report_ask_same", {"city": "广州", "employer": ""})
    assert prepared.text.startswith("还在广州的原单位吗?")
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "report_done", {"name": "", "month": "11", "receipt": "K7M2QX"})
    assert (caught.value.param, caught.value.reason, caught.value.limit) == ("name", "empty", 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("详情见 https://example.cn/a", "link"),
        ("详情见www.example.cn", "link"),
        ("【青山镇】本月请回复HB", "brackets"),
    ],
)
def test_links_and_signature_brackets_are_not_sent_in_a_variable(text: str, reason: str) -> None:
    """A link or 【】 in a notice fails the row rather than being refused by the provider."""
    for rules in (ALIYUN_RULES, TENCENT_RULES):
        with pytest.raises(TemplateError) as caught:
            prepare(rules, "broadcast", {"text": text})
        assert (caught.value.param, caught.value.reason) == ("text", reason)


def test_missing_parameter_fails() -> None:
    """A parameter the template needs and the row lacks is named."""
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "help_done", {"category": "住房"})
    assert (caught.value.param, caught.value.reason) == ("ref", "missing")


def test_unknown_key_fails() -> None:
    """A key the registry does not hold cannot be sent."""
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "no_such_template", {})
    assert caught.value.reason == "unknown_template"


NOTICE = "本月25日前请回复HB汇报,春节回村请到村委会参加学习。在外有困难可随时发短信QZ加情况反映"


def test_a_long_notice_goes_over_the_fewest_slots_at_its_own_breaks() -> None:
    """46 characters over Alibaba's 35: cut at its punctuation into the 2-slot form, whose
    fixed words stand where the punctuation was; nothing else changes."""
    prepared = prepare(ALIYUN_RULES, "broadcast", {"text": NOTICE})
    assert prepared.template.name == "broadcast.2"
    assert prepared.params == {
        "text1": "本月25日前请回复HB汇报,春节回村请到村委会参加学习",
        "text2": "在外有困难可随时发短信QZ加情况反映",
    }
    assert prepared.text == (
        "村支部通知:本月25日前请回复HB汇报,春节回村请到村委会参加学习"
        ",另外在外有困难可随时发短信QZ加情况反映"
    )


def test_a_longer_notice_takes_more_slots() -> None:
    """Two stretches that together pass 35 go into slots of their own: the 3-slot form."""
    text = "本月25日前请回复HB汇报近况和学习情况,春节回村的同志请到村委会参加集中学习。在外有困难可随时发短信QZ加情况反映"
    prepared = prepare(ALIYUN_RULES, "broadcast", {"text": text})
    assert prepared.template.name == "broadcast.3"
    assert list(prepared.values.values()) == [
        "本月25日前请回复HB汇报近况和学习情况",
        "春节回村的同志请到村委会参加集中学习",
        "在外有困难可随时发短信QZ加情况反映",
    ]
    assert prepared.segments.characters == len("【青山镇】" + prepared.text)


def test_a_short_notice_uses_the_one_slot_form_unchanged() -> None:
    """A notice that fits one variable is sent as written."""
    prepared = prepare(ALIYUN_RULES, "broadcast", {"text": "本月25日前请回复HB汇报。"})
    assert (prepared.template.name, prepared.params) == (
        "broadcast",
        {"text": "本月25日前请回复HB汇报。"},
    )


def test_tencent_sends_a_long_notice_in_its_one_slot() -> None:
    """With no per-variable limit the notice is not cut."""
    prepared = prepare(TENCENT_RULES, "broadcast", {"text": NOTICE})
    assert (prepared.template.name, prepared.params) == ("broadcast", [NOTICE])


def test_a_stretch_with_no_break_over_the_limit_fails() -> None:
    """36 characters without punctuation cannot be cut sensibly: the row fails, not truncated."""
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "broadcast", {"text": "通" * 36})
    assert (caught.value.param, caught.value.reason, caught.value.limit) == (
        "text",
        "no_break",
        35,
    )


def test_a_notice_needing_more_slots_than_the_forms_have_fails() -> None:
    """Five stretches of 30 need five slots; Alibaba's broadcast has four."""
    with pytest.raises(TemplateError) as caught:
        prepare(ALIYUN_RULES, "broadcast", {"text": ",".join(["通" * 30] * 5)})
    assert (caught.value.param, caught.value.reason) == ("text", "too_long")
    assert "need 5 slots" in str(caught.value)


def test_a_message_over_500_characters_fails() -> None:
    """Both providers cap a message at 500 characters with the signature."""
    with pytest.raises(TemplateError) as caught:
        prepare(TENCENT_RULES, "broadcast", {"text": "通" * 495})
    assert (caught.value.reason, caught.value.limit) == ("message_too_long", 500)


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("一二三,四五六", 3, ["一二三", "四五六"]),
        ("一二三,四五六。", 4, ["一二三", "四五六。"]),
        ("一二,三四,五六", 5, ["一二,三四", "五六"]),
        ("12.工资条例 11.劳动合同", 8, ["12.工资条例", "11.劳动合同"]),
        ("共1,000人 20:30开会", 7, ["共1,000人", "20:30开会"]),
        ("一二三四五六", 3, None),
        (",一二三,四五六", 3, ["一二三", "四五六"]),
    ],
)
def test_split_text_cuts_only_at_breaks(text: str, limit: int, pieces: list[str] | None) -> None:
    """Cuts fall at punctuation or spaces, never in 1,000, 12.title or 20:30."""
    assert split_text(text, limit) == pieces


BREAKS = " ,，。;；!！?？、"


@given(
    text=st.text(alphabet=st.sampled_from("通知学习汇报12ab" + BREAKS), max_size=200),
    limit=st.integers(min_value=1, max_value=40),
)
def test_split_text_never_loses_or_truncates_words(text: str, limit: int) -> None:
    """Whatever the text, the pieces fit the limit and hold every word character in order:
    only breaks at the cuts are left out."""
    pieces = split_text(text, limit)
    if pieces is None:
        return
    assert all(0 < len(piece) <= limit for piece in pieces)

    def words(value: str) -> str:
        return "".join(char for char in value if char not in BREAKS)

    assert "".join(words(piece) for piece in pieces) == words(text)


def test_a_template_may_carry_its_own_signature_and_text_for_one_provider() -> None:
    """A per-template sign_name replaces the provider's, in the message and its length; a
    provider's own text replaces the shared one for that provider only."""
    reg = edited(
        "lessons_none",
        aliyun={"code": "", "approved": False, "sign_name": "青山镇人民政府"},
        tencent={"code": "", "approved": False, "text": "暂时没有课程。"},
    )
    aliyun = prepare(ALIYUN_RULES, "lessons_none", {}, source=reg)
    assert aliyun.template.sign_name == "青山镇人民政府"
    assert aliyun.segments.characters == len("【青山镇人民政府】暂无课程。有新课程时会通知您。")
    tencent = prepare(TENCENT_RULES, "lessons_none", {}, source=reg)
    assert (tencent.template.sign_name, tencent.text) == ("青山镇", "暂时没有课程。")


# --- The settings -----------------------------------------------------------------------------


def test_rules_come_from_the_settings_only_for_template_providers() -> None:
    """twilio and sandbox send text: no rules, so queue_sms behaves as before."""
    assert TemplateRules.from_config({"PROVIDER": "twilio"}) is None
    assert TemplateRules.from_config({"PROVIDER": "sandbox"}) is None
    assert TemplateRules.from_config(
        {"PROVIDER": "aliyun", "ALIYUN_SMS_PARAM_MAX": 35}
    ) == TemplateRules(ALIYUN, 35)
    assert TemplateRules.from_config(
        {"PROVIDER": "tencent", "TENCENT_SMS_PARAM_MAX": 0}
    ) == TemplateRules(TENCENT, None)
    assert TemplateRules.from_config(
        {"PROVIDER": "tencent", "TENCENT_SMS_PARAM_MAX": 12}
    ) == TemplateRules(TENCENT, 12)


def test_registry_is_read_once() -> None:
    """The shipped file is parsed once per process."""
    assert registry() is registry()
