"""Surveys by keypad through the signed voice webhooks: a survey call asks every question
(choices by key, numbers by digits and #, texts spoken), a wrong key asks once more then moves
on, a call that ends midway resumes on the next, and the hotline offers an open survey first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Call, Member, Recording, utcnow
from models.call import CallPurpose, RecordingKind
from models.member import ChangeSource, MemberChange
from models.report import Channel
from models.survey import Survey, SurveyAnswer, SurveyRecipient, read_survey
from models.survey_ops import add_survey, close_survey, send_survey
from models.targets import Target
from models.voice import queue_outbound_call
from tests.factories import make_member, make_tree
from tests.gateway.test_voice import PHONE, Phone, action, fresh, hung_up, said, zh
from tests.support import TwilioClient

DEFINITION = {
    "title": "五个摸清",
    "questions": [
        {
            "text": "您的就业形式？",
            "kind": "choice",
            "choices": ["受雇", "自己经营", "灵活就业"],
            "field": "work_form",
        },
        {"text": "您哪一年外出？", "kind": "number", "field": "departure_year"},
        {"text": "您在哪个单位工作？", "kind": "text", "field": "employer"},
        {
            "text": "您的单位有党组织吗？",
            "kind": "choice",
            "choices": ["有", "没有"],
            "field": "workplace_party_org",
        },
    ],
}


@pytest.fixture
def member(session: Session) -> Member:
    """张伟 of 东村党支部, sent the four-question survey by the township."""
    township, branch, _ = make_tree(session)
    found = make_member(session, branch, phone=PHONE, name="张伟")
    survey = add_survey(
        session, township, None, read_survey(DEFINITION), target=Target(), by_call=True
    )
    assert send_survey(session, survey, utcnow() - timedelta(days=1)) == 1
    session.commit()
    return found


def _survey_call(session: Session, member: Member) -> Call:
    call = queue_outbound_call(session, member, purpose=CallPurpose.SURVEY, at=utcnow())
    session.commit()
    return call


def _answers(session: Session) -> list[SurveyAnswer]:
    return list(fresh(session).scalars(select(SurveyAnswer).order_by(SurveyAnswer.question_id)))


def _recipient(session: Session) -> SurveyRecipient:
    return fresh(session).scalars(select(SurveyRecipient)).one()


def _options(*labels: str) -> list[str]:
    return [zh("survey_option", label=label, digit=i) for i, label in enumerate(labels, 1)]


def test_a_survey_call_asks_every_question_and_fills_the_card(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """2 (a choice), 2016 then # (a number), spoken (a text), 1 (a choice): four answers by
    keypad, the spoken one a recording of kind survey; the card learns from them."""
    call = _survey_call(session, member)
    phone = Phone(twilio)
    first = phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human")
    assert said(first) == [
        zh("survey_greeting", name="张伟", title="五个摸清", count=4),
        zh("survey_question", number=1),
        "您的就业形式？",
        *_options("受雇", "自己经营", "灵活就业"),
    ]
    assert action(first) == "/voice/survey/answer"
    second = phone.press("/voice/survey/answer", "2")
    assert said(second)[-2:] == ["您哪一年外出？", zh("survey_number")]
    gather = second.find("Gather")
    assert gather is not None and gather.get("finishOnKey") == "#"
    third = phone.press("/voice/survey/answer", "2016")
    assert action(third) == "/voice/survey/recorded" and third.find("Record") is not None
    fourth = phone.speak("/voice/survey/recorded", duration=9)
    assert said(fourth)[-3:] == ["您的单位有党组织吗？", *_options("有", "没有")]
    done = phone.press("/voice/survey/answer", "1")
    assert said(done) == [zh("survey_done")] and hung_up(done)

    answers = _answers(session)
    assert [(a.choice, a.number, a.text) for a in answers] == [
        (2, None, None),
        (None, 2016, None),
        (None, None, None),
        (1, None, None),
    ]
    assert {a.channel for a in answers} == {Channel.IVR}
    recording = session.get(Recording, answers[2].recording_id)
    assert recording is not None and recording.kind is RecordingKind.SURVEY
    assert (recording.member_id, recording.duration) == (member.id, 9)
    recipient = _recipient(session)
    assert recipient.completed_at is not None and recipient.position == 4
    card = session.get(Member, member.id)
    assert card is not None
    assert (card.work_form, card.workplace_party_org) == ("自己经营", "有")
    assert card.departure_date is not None and card.departure_date.year == 2016
    history = session.scalars(
        select(MemberChange).where(MemberChange.source == ChangeSource.SURVEY)
    ).all()
    assert history and {c.survey_id for c in history} == {recipient.survey_id}


def test_a_wrong_key_asks_once_more_then_moves_on(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """7 (no such option): the question again with the reason; 8: on to the next question,
    the first one passed without an answer. A number of letters is wrong too."""
    call = _survey_call(session, member)
    phone = Phone(twilio)
    phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human")
    again = phone.press("/voice/survey/answer", "7")
    assert said(again)[:3] == [zh("wrong_key"), zh("survey_question", number=1), "您的就业形式？"]
    moved = phone.press("/voice/survey/answer", "8")
    assert said(moved)[:3] == [zh("survey_next"), zh("survey_question", number=2), "您哪一年外出？"]
    assert _answers(session) == []
    assert _recipient(session).position == 1
    # The number question: no keys, then too many digits, moves on to the recording.
    silent = phone.post("/voice/survey/answer")
    assert said(silent)[0] == zh("no_input")
    recorded = phone.press("/voice/survey/answer", "1234567890")
    assert recorded.find("Record") is not None
    assert _answers(session) == [] and _recipient(session).position == 2


def test_a_call_that_ends_midway_resumes_on_the_next_call(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Hang up after the first answer; the member rings the hotline: the survey is offered
    first, 1 carries on from question 2."""
    call = _survey_call(session, member)
    phone = Phone(twilio)
    phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human")
    phone.press("/voice/survey/answer", "3")
    assert phone.status("completed", duration=30) == 204
    assert [a.choice for a in _answers(session)] == [3]
    assert _recipient(session).position == 1

    again = Phone(twilio)
    offer = again.post("/voice")
    assert said(offer) == [zh("greeting", name="张伟"), zh("survey_offer", title="五个摸清")]
    assert action(offer) == "/voice/survey/offer"
    resumed = again.press("/voice/survey/offer", "1")
    assert said(resumed)[:3] == [
        zh("survey_resume", number=2),
        zh("survey_question", number=2),
        "您哪一年外出？",
    ]
    again.press("/voice/survey/answer", "2019")
    assert [a.number for a in _answers(session) if a.number] == [2019]
    assert _recipient(session).position == 2


@pytest.mark.parametrize("digits", ["9", None])
def test_the_hotline_offer_declined_goes_to_the_menu(
    twilio: TwilioClient, session: Session, member: Member, digits: str | None
) -> None:
    """Any other key, or none, is the usual main menu; nothing is answered."""
    phone = Phone(twilio)
    phone.post("/voice")
    root = (
        phone.press("/voice/survey/offer", digits) if digits else phone.post("/voice/survey/offer")
    )
    assert zh("main_menu") in said(root) and action(root) == "/voice/menu/choose"
    assert _answers(session) == []


def test_no_offer_once_the_survey_is_closed_or_finished(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A closed survey is not offered: the hotline greets and gives the menu."""
    survey = fresh(session).scalars(select(Survey)).one()
    close_survey(session, survey, utcnow())
    session.commit()
    root = Phone(twilio).post("/voice")
    assert zh("survey_offer", title="五个摸清") not in said(root)
    assert zh("main_menu") in said(root)


def test_an_answer_given_by_sms_meanwhile_is_not_overwritten(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The call asked question 1; before the key comes, the member answered it by SMS: the
    key is not kept over it, and the call goes on."""
    from models.survey_ops import current_question, record_answer

    call = _survey_call(session, member)
    phone = Phone(twilio)
    phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human")
    recipient = _recipient(session)
    question = current_question(session, recipient)
    assert question is not None
    record_answer(session, recipient, question, channel=Channel.SMS, now=utcnow(), choice=1)
    session.commit()
    phone.press("/voice/survey/answer", "3")
    answers = _answers(session)
    assert [(a.choice, a.channel) for a in answers] == [(1, Channel.SMS)]
