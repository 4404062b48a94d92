"""The voice webhooks end to end: signed requests, call state in the database, effects stored."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr_flows.prompts import text
from ivr_flows.state import CallState
from models import (
    Call,
    CallbackReason,
    CallStatus,
    Channel,
    HelpCategory,
    HelpRequest,
    Language,
    Lesson,
    LessonCategory,
    LessonListen,
    Member,
    Recording,
    RecordingKind,
    Report,
    ReportRevision,
    period_of,
    record_report,
    utcnow,
    voice,
)
from models.call import CallbackRequest, CallbackStatus
from models.cycle import member_rules
from tests.factories import make_member, make_tree
from tests.support import TwilioClient

PHONE = "+8613800000001"
STRANGER = "+8613999999999"
HOTLINE = "+8610690000"


def zh(key: str, **params: Any) -> str:
    """A prompt's Chinese text."""
    return text(key, "zh_CN", **params)


def new_sid() -> str:
    """A fresh CallSid."""
    return "CA" + uuid.uuid4().hex


class Phone:
    """One caller's call: posts signed voice webhooks with the same CallSid."""

    def __init__(self, twilio: TwilioClient, phone: str = PHONE, sid: str | None = None) -> None:
        self.twilio = twilio
        self.phone = phone
        self.sid = sid or new_sid()

    def post(self, path: str, **params: str) -> ET.Element:
        """POST a voice webhook; return the TwiML answer, parsed."""
        form = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.phone,
            "To": HOTLINE,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            **params,
        }
        response = self.twilio.post(path, form)
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
        assert root.tag == "Response"
        return root

    def press(self, path: str, digits: str) -> ET.Element:
        """Answer a question with keys."""
        return self.post(path, Digits=digits)

    def speak(self, path: str, duration: int = 12) -> ET.Element:
        """Answer a <Record> with a recording."""
        sid = "RE" + uuid.uuid4().hex
        return self.post(
            path,
            RecordingUrl=f"http://127.0.0.1:9/_sandbox/recordings/{sid}.wav",
            RecordingSid=sid,
            RecordingDuration=str(duration),
            Digits="#",
        )

    def status(self, status: str, duration: int = 0) -> int:
        """Post a call status callback; return the HTTP status."""
        form = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.phone,
            "To": HOTLINE,
            "CallStatus": status,
            "CallDuration": str(duration),
        }
        return self.twilio.post("/voice/status", form).status_code


def said(root: ET.Element) -> list[str]:
    """Every <Say> text."""
    return [node.text or "" for node in root.iter("Say")]


def action(root: ET.Element) -> str:
    """The action of the Gather or Record that asks the next question."""
    node = root.find("Gather")
    if node is None:
        node = root.find("Record")
    assert node is not None, ET.tostring(root, encoding="unicode")
    return node.get("action", "")


def hung_up(root: ET.Element) -> bool:
    """Whether the document ends the call."""
    return root.find("Hangup") is not None


@pytest.fixture
def member(session: Session) -> Member:
    """A registered member of 东村党支部 in Guangzhou, with a lesson of the township on file."""
    township, branch, _ = make_tree(session)
    found = make_member(session, branch, phone=PHONE, name="张伟")
    session.add(
        Lesson(
            org_id=township.id,
            title="劳动合同法要点",
            category=LessonCategory.POLICY,
            transcript="劳动合同要写清工资。",
            duration=300,
        )
    )
    session.commit()
    return found


def fresh(session: Session) -> Session:
    """The test's session with a new transaction, seeing what the requests committed."""
    session.rollback()
    # Sessions keep objects after a commit (expire_on_commit=False): reload them.
    session.expire_all()
    return session


def the_call(session: Session, sid: str) -> Call:
    """The stored call with this CallSid."""
    call = voice.find_call(fresh(session), sid)
    assert call is not None
    return call


@pytest.mark.parametrize(
    "path",
    ["/voice", "/voice/menu/choose", "/voice/status", "/voice/callback", "/voice/outbound?call=1"],
)
def test_a_forged_signature_is_refused(twilio: TwilioClient, session: Session, path: str) -> None:
    """Every voice webhook answers 403 to an unsigned request and stores nothing."""
    response = twilio.post(path, {"CallSid": new_sid(), "From": PHONE, "Digits": "1"}, sign=False)
    assert response.status_code == 403
    assert fresh(session).scalar(select(func.count(Call.id))) == 0


def test_a_member_is_greeted_by_name_and_the_call_is_kept(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """POST /voice: the greeting and menu in Mandarin; the call row holds where it waits."""
    phone = Phone(twilio)
    root = phone.post("/voice", CallStatus="ringing")
    assert said(root) == [zh("greeting", name="张伟"), zh("main_menu")]
    assert {node.get("language") for node in root.iter("Say")} == {"cmn-CN"}
    assert action(root) == "/voice/menu/choose"
    call = the_call(session, phone.sid)
    assert (call.member_id, call.direction, call.status) == (
        member.id,
        "inbound",
        CallStatus.IN_PROGRESS,
    )
    assert (call.flow, call.step) == ("menu", "choose")


def test_an_unknown_caller_leaves_name_and_village(twilio: TwilioClient, session: Session) -> None:
    """A number nobody registered: the explanation, then a recording the branch can match."""
    phone = Phone(twilio, STRANGER)
    root = phone.post("/voice")
    assert said(root) == [zh("unknown_intro")]
    assert action(root) == "/voice/unknown/recorded"
    done = phone.speak("/voice/unknown/recorded", duration=9)
    assert said(done) == [zh("unknown_done")]
    recording = fresh(session).scalars(select(Recording)).one()
    assert (recording.kind, recording.member_id, recording.phone, recording.duration) == (
        RecordingKind.UNKNOWN_CALLER,
        None,
        STRANGER,
        9,
    )


def test_an_unknown_caller_cannot_reach_the_menu_steps(
    twilio: TwilioClient, session: Session
) -> None:
    """A stranger posting a member's step is sent to the unknown-caller flow."""
    root = Phone(twilio, STRANGER).press("/voice/menu/choose", "1")
    assert action(root) == "/voice/unknown/recorded"
    assert fresh(session).scalar(select(func.count(Report.id))) == 0


def test_a_request_without_a_call_sid_says_goodbye(twilio: TwilioClient, session: Session) -> None:
    """No CallSid: a goodbye, never a 500, and nothing stored."""
    for path in ("/voice", "/voice/menu/choose"):
        response = twilio.post(path, {"From": PHONE, "Digits": "1"})
        assert response.status_code == 200
        root = ET.fromstring(response.data)
        assert hung_up(root)
    assert fresh(session).scalar(select(func.count(Call.id))) == 0


def test_the_monthly_report_by_four_keys(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """1 report, 1 studied, 1 same city, 1 same employer: an ivr report, then the receipt."""
    phone = Phone(twilio)
    phone.post("/voice")
    assert action(phone.press("/voice/menu/choose", "1")) == "/voice/report/studied"
    assert said(phone.press("/voice/report/studied", "1")) == [zh("ask_same_city", city="广州")]
    assert said(phone.press("/voice/report/same_city", "1")) == [
        zh("ask_same_employer", employer="电子厂")
    ]
    assert action(phone.press("/voice/report/same_employer", "1")) == "/voice/report/thought"
    report = fresh(session).scalars(select(Report)).one()
    assert (report.member_id, report.channel, report.period) == (
        member.id,
        Channel.IVR,
        period_of(utcnow()),
    )
    assert (report.studied, report.same_city, report.same_employer) == (True, True, True)
    assert session.scalar(select(func.count(ReportRevision.id))) == 1
    done = phone.press("/voice/report/thought", "2")
    assert said(done) == [zh("report_done", receipt=" ".join(report.receipt))]
    assert hung_up(done)


def test_a_hang_up_mid_report_keeps_the_answers_given(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Hung up after "not studied": the report holds that answer; the call is completed."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "1")
    phone.press("/voice/report/studied", "2")
    assert phone.status("completed", duration=25) == 204
    report = fresh(session).scalars(select(Report)).one()
    assert (report.studied, report.same_city, report.same_employer) == (False, None, None)
    call = the_call(session, phone.sid)
    assert (call.status, call.duration) == (CallStatus.COMPLETED, 25)
    assert call.ended_at is not None


def test_a_second_call_the_same_month_reports_again_as_a_new_revision(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Already reported by SMS: the receipt is read out; 1 reports again (revision 2, ivr)."""
    first = record_report(
        session, member, period=period_of(utcnow()), studied=False, channel=Channel.SMS
    )
    receipt = first.receipt
    session.commit()
    phone = Phone(twilio)
    phone.post("/voice")
    root = phone.press("/voice/menu/choose", "1")
    assert said(root) == [zh("report_again", receipt=" ".join(receipt))]
    phone.press("/voice/report/again", "1")
    phone.press("/voice/report/studied", "1")
    phone.press("/voice/report/same_city", "1")
    phone.press("/voice/report/same_employer", "1")
    report = fresh(session).scalars(select(Report)).one()
    assert (report.revision, report.channel, report.studied, report.receipt) == (
        2,
        Channel.IVR,
        True,
        receipt,
    )
    revisions = session.scalars(
        select(ReportRevision.channel).order_by(ReportRevision.revision)
    ).all()
    assert revisions == [Channel.SMS, Channel.IVR]


def test_a_moved_member_records_the_new_city_and_a_thought_report(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """2 (moved): the spoken city and the thought report are stored with the report."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "1")
    phone.press("/voice/report/studied", "1")
    assert action(phone.press("/voice/report/same_city", "2")) == "/voice/report/city"
    phone.speak("/voice/report/city", duration=4)
    phone.press("/voice/report/same_employer", "1")
    phone.press("/voice/report/thought", "1")
    done = phone.speak("/voice/report/thought_recorded", duration=95)
    assert hung_up(done)
    report = fresh(session).scalars(select(Report)).one()
    assert report.same_city is False
    recordings = session.scalars(select(Recording).order_by(Recording.id)).all()
    assert [(r.kind, r.report_id, r.duration) for r in recordings] == [
        (RecordingKind.NEW_CITY, report.id, 4),
        (RecordingKind.THOUGHT_REPORT, report.id, 95),
    ]
    assert all(
        r.recording_sid and r.url.endswith(".wav") and r.member_id == member.id for r in recordings
    )


def test_the_same_recording_posted_twice_is_stored_once(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A repeated RecordingSid (a retried webhook) adds no second recording."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "0")
    params = {
        "RecordingUrl": "http://127.0.0.1:9/_sandbox/recordings/REx.wav",
        "RecordingSid": "RE" + "7" * 32,
        "RecordingDuration": "30",
    }
    phone.post("/voice/message/recorded", **params)
    phone.post("/voice/message/recorded", **params)
    recording = fresh(session).scalars(select(Recording)).one()
    assert (recording.kind, recording.member_id) == (RecordingKind.MESSAGE, member.id)


def test_a_recording_posted_after_the_hang_up_is_kept(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Twilio posts a Record action after the caller hangs up: stored, answered with goodbye."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "0")
    phone.status("completed", duration=40)
    late = phone.speak("/voice/message/recorded")
    assert said(late) == [zh("call_ended")]
    assert hung_up(late)
    assert fresh(session).scalars(select(Recording.kind)).all() == [RecordingKind.MESSAGE]


def test_a_late_request_for_an_ended_call_changes_nothing(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """Keys for a call that has ended: goodbye, no report written."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "1")
    phone.status("completed", duration=10)
    late = phone.press("/voice/report/studied", "1")
    assert said(late) == [zh("call_ended")]
    assert fresh(session).scalar(select(func.count(Report.id))) == 0


def test_an_unknown_flow_or_step_recovers(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """An unknown flow or step is answered with an apology and the menu, not a 500."""
    phone = Phone(twilio)
    phone.post("/voice")
    for path in ("/voice/nothing/here", "/voice/report/nope"):
        root = phone.press(path, "1")
        assert said(root) == [zh("sorry"), zh("main_menu")]
        assert action(root) == "/voice/menu/choose"


def test_digits_outside_the_menu_ask_again_then_goodbye(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """8, silence, 9: asked again twice with the reason, then the call-back goodbye."""
    phone = Phone(twilio)
    phone.post("/voice")
    assert said(phone.press("/voice/menu/choose", "8"))[0] == zh("wrong_key")
    assert said(phone.post("/voice/menu/choose"))[0] == zh("no_input")
    last = phone.press("/voice/menu/choose", "9")
    assert said(last) == [zh("goodbye_retry")]
    assert hung_up(last)


def test_help_by_phone_opens_a_request_with_the_recording(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """4, 1 (wages): a help request by ivr, and the spoken details attached to it."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "4")
    phone.press("/voice/help/category", "1")
    opened = fresh(session).scalars(select(HelpRequest)).one()
    assert (opened.category, opened.channel, opened.member_id) == (
        HelpCategory.WAGES,
        "ivr",
        member.id,
    )
    phone.speak("/voice/help/recorded", duration=60)
    recording = fresh(session).scalars(select(Recording)).one()
    assert (recording.kind, recording.help_request_id, recording.duration) == (
        RecordingKind.HELP,
        opened.id,
        60,
    )


def test_the_caller_hears_the_help_reference_and_gets_it_by_sms(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The keypad request ends with its reference read out (QZ and the number, letter by
    letter), the same reference is texted to the caller, even after TD, and a text that
    follows joins the request."""
    from models import Message

    member.opted_out_at = utcnow()
    session.commit()
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "4")
    phone.press("/voice/help/category", "2")
    opened = fresh(session).scalars(select(HelpRequest)).one()
    ref = f"QZ{opened.id}"
    goodbye = phone.speak("/voice/help/recorded", duration=30)
    assert said(goodbye) == [zh("help_done_ref", ref=" ".join(ref))]
    assert hung_up(goodbye)
    sms = fresh(session).scalars(select(Message).where(Message.template_key == "help_done")).one()
    assert sms.member_id == member.id and sms.essential
    assert sms.body == f"求助已收到(住房),编号{ref},支部会尽快联系您。"
    assert sms.status.value == "queued"
    follow_up = twilio.post(
        "/sms",
        {"MessageSid": "SM" + uuid.uuid4().hex, "From": PHONE, "To": HOTLINE, "Body": "房东要涨租"},
    )
    assert follow_up.status_code == 200 and ref in follow_up.get_data(as_text=True)
    assert fresh(session).get(HelpRequest, opened.id).text == "房东要涨租"  # type: ignore[union-attr]


def test_a_caller_who_says_nothing_still_hears_the_reference(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The request is open from the key; silence at every tone still ends with its reference."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "4")
    phone.press("/voice/help/category", "7")
    ref = f"QZ{fresh(session).scalars(select(HelpRequest)).one().id}"
    for _ in range(2):
        again = phone.post("/voice/help/recorded")
        assert said(again)[0] == zh("no_recording")
    last = phone.post("/voice/help/recorded")
    assert said(last) == [zh("help_done_ref", ref=" ".join(ref))] and hung_up(last)


def test_a_status_update_by_phone_keeps_the_spoken_city(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """3, 2 (new city): the recording is kept for the branch, not attached to a report."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "3")
    phone.press("/voice/status/choose", "2")
    phone.speak("/voice/status/city")
    done = phone.press("/voice/status/employer_too", "2")
    assert said(done) == [zh("status_done")]
    recording = fresh(session).scalars(select(Recording)).one()
    assert (recording.kind, recording.report_id, recording.member_id) == (
        RecordingKind.NEW_CITY,
        None,
        member.id,
    )


def test_a_lesson_heard_to_the_end_is_credited(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """2, 1 (政策法规), 1 (first lesson), 1 (finished): a completed LessonListen for the call."""
    lesson = fresh(session).scalars(select(Lesson)).one()
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "2")
    listing = phone.press("/voice/lessons/category", "1")
    assert said(listing)[0] == zh("lesson_item", position=1, number=lesson.id, title=lesson.title)
    playing = phone.press("/voice/lessons/pick", "1")
    assert "劳动合同要写清工资。" in said(playing)
    assert action(playing) == "/voice/lessons/played"
    phone.press("/voice/lessons/played", "1")
    listen = fresh(session).scalars(select(LessonListen)).one()
    call = the_call(session, phone.sid)
    assert (listen.lesson_id, listen.member_id, listen.completed, listen.call_id) == (
        lesson.id,
        member.id,
        True,
        call.id,
    )
    assert 0 <= listen.seconds <= 300


def test_a_hang_up_during_a_lesson_credits_what_was_heard(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The call ends while the lesson plays: the status callback credits it, not completed."""
    lesson = fresh(session).scalars(select(Lesson)).one()
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "2")
    phone.press("/voice/lessons/category", "9")
    phone.press("/voice/lessons/number", str(lesson.id))
    phone.status("completed", duration=200)
    listen = fresh(session).scalars(select(LessonListen)).one()
    assert (listen.lesson_id, listen.completed) == (lesson.id, False)


def test_an_uploaded_prompt_is_played_instead_of_spoken(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The township's recording of the main menu is played with <Play>."""
    township = fresh(session).get(Member, member.id)
    assert township is not None
    from models import Organization

    branch = session.get(Organization, member.branch_id)
    assert branch is not None and branch.parent_id is not None
    parent = session.get(Organization, branch.parent_id)
    assert parent is not None
    parent.settings = {"prompts": {"main_menu": "https://cdn.example.org/menu.wav"}}
    session.commit()
    root = Phone(twilio).post("/voice")
    assert [node.text for node in root.iter("Play")] == ["https://cdn.example.org/menu.wav"]
    assert said(root) == [zh("greeting", name="张伟")]


def test_an_english_speaking_member_hears_english(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """language=en: Say in en-US with the English prompts."""
    fresh(session).get(Member, member.id).language = Language.EN  # type: ignore[union-attr]
    session.commit()
    root = Phone(twilio).post("/voice")
    assert {node.get("language") for node in root.iter("Say")} == {"en-US"}
    assert said(root)[-1] == text("main_menu", "en")


def test_status_callbacks_never_move_a_call_back(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """completed with a duration is kept when a late ringing arrives; unknown calls are ignored."""
    phone = Phone(twilio)
    phone.post("/voice")
    assert phone.status("completed", duration=42) == 204
    assert phone.status("ringing") == 204
    call = the_call(session, phone.sid)
    assert (call.status, call.duration) == (CallStatus.COMPLETED, 42)
    assert Phone(twilio).status("completed") == 204
    assert Phone(twilio).status("nonsense") == 204


def _outbound_call(
    session: Session, member: Member, lesson_id: int | None
) -> tuple[Call, CallbackRequest]:
    callback = voice.request_callback(
        session, member, lesson_id, CallbackReason.LESSON, utcnow(), per_day=10
    )
    assert callback is not None
    callback.status = CallbackStatus.PLACED.value
    call = voice.start_callback_call(session, callback, member, utcnow())
    session.commit()
    return call, callback


def test_an_outbound_lesson_call_greets_and_plays_the_lesson(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A person answers: greeting by name, the lesson, press 1; the CallSid is kept."""
    lesson = fresh(session).scalars(select(Lesson)).one()
    call, _ = _outbound_call(session, member, lesson.id)
    phone = Phone(twilio)
    root = phone.post(
        f"/voice/outbound?call={call.id}", AnsweredBy="human", Direction="outbound-api"
    )
    assert said(root)[:2] == [
        zh("outbound_greeting", name="张伟"),
        zh("lesson_intro", number=lesson.id, title=lesson.title),
    ]
    assert action(root) == "/voice/lessons/played"
    stored = the_call(session, phone.sid)
    assert (stored.id, stored.status, stored.answered_by) == (
        call.id,
        CallStatus.IN_PROGRESS,
        "human",
    )
    done = phone.press("/voice/lessons/played", "1")
    assert said(done) == [zh("lesson_goodbye")]
    assert fresh(session).scalars(select(LessonListen.completed)).all() == [True]


def test_an_answering_machine_is_hung_up_on_and_marked_for_retry(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """AnsweredBy=machine_start: hang up; the call gets a next attempt, the callback waits again."""
    lesson = fresh(session).scalars(select(Lesson)).one()
    call, callback = _outbound_call(session, member, lesson.id)
    root = Phone(twilio).post(f"/voice/outbound?call={call.id}", AnsweredBy="machine_start")
    assert [node.tag for node in root] == ["Hangup"]
    stored = fresh(session).get(Call, call.id)
    assert stored is not None and stored.next_attempt_at is not None
    assert stored.answered_by == "machine_start"
    waiting = session.get(CallbackRequest, callback.id)
    assert waiting is not None and waiting.status == CallbackStatus.PENDING


def test_an_unanswered_outbound_call_is_marked_for_retry(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A no-answer status callback stores the status and schedules another attempt."""
    call, callback = _outbound_call(session, member, None)
    call.call_sid = new_sid()
    session.commit()
    assert Phone(twilio, sid=call.call_sid).status("no-answer") == 204
    stored = fresh(session).get(Call, call.id)
    assert stored is not None
    assert (stored.status, stored.duration) == (CallStatus.NO_ANSWER, 0)
    assert stored.next_attempt_at is not None
    waiting = session.get(CallbackRequest, callback.id)
    assert waiting is not None and waiting.status == CallbackStatus.PENDING


def _status_before_the_sid(twilio: TwilioClient, call: Call, status: str, to: str) -> int:
    """A status callback for a call we placed, arriving before the worker stored its sid."""
    form = {
        "CallSid": new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": HOTLINE,
        "To": to,
        "CallStatus": status,
        "CallDuration": "0",
        "Direction": "outbound-api",
    }
    return twilio.post(f"/voice/status?call={call.id}", form).status_code


def test_a_busy_call_is_found_by_its_id_before_its_sid_is_stored(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """busy to /voice/status?call=<id> before the placing job stored the CallSid: the call
    takes the sid, ends busy and is marked for retry; its callback waits again."""
    call, callback = _outbound_call(session, member, None)
    voice.update_call_status(session, call, CallStatus.INITIATED, at=utcnow())
    session.commit()
    assert _status_before_the_sid(twilio, call, "busy", PHONE) == 204
    stored = fresh(session).get(Call, call.id)
    assert stored is not None and stored.call_sid is not None
    assert (stored.status, stored.duration) == (CallStatus.BUSY, 0)
    assert stored.ended_at is not None and stored.next_attempt_at is not None
    waiting = session.get(CallbackRequest, callback.id)
    assert waiting is not None and waiting.status == CallbackStatus.PENDING


def test_a_status_for_another_number_or_a_call_with_a_sid_is_ignored(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The call id in the URL is believed only for the number it was placed to, and only
    while the call has no sid of its own."""
    call, _ = _outbound_call(session, member, None)
    assert _status_before_the_sid(twilio, call, "busy", STRANGER) == 204
    assert fresh(session).get(Call, call.id).status is CallStatus.QUEUED  # type: ignore[union-attr]
    own_sid = new_sid()
    call = fresh(session).get(Call, call.id)  # type: ignore[assignment]
    call.call_sid = own_sid
    session.commit()
    assert _status_before_the_sid(twilio, call, "busy", PHONE) == 204
    stored = fresh(session).get(Call, call.id)
    assert stored is not None and (stored.status, stored.call_sid) == (CallStatus.QUEUED, own_sid)


def test_a_callback_without_a_lesson_offers_the_menu_and_late_fetches_end(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A missed-call callback answered by a person hears the menu; once ended, only goodbye."""
    call, _ = _outbound_call(session, member, None)
    phone = Phone(twilio)
    root = phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human")
    assert action(root) == "/voice/menu/choose"
    phone.status("completed", duration=30)
    assert hung_up(phone.post(f"/voice/outbound?call={call.id}", AnsweredBy="human"))
    assert hung_up(phone.post("/voice/outbound?call=999999"))


def _ring_callback_line(twilio: TwilioClient, phone: str = PHONE) -> ET.Element:
    return Phone(twilio, phone).post("/voice/callback", CallStatus="ringing")


def test_a_missed_call_is_rejected_busy_and_a_callback_queued_now(
    twilio: TwilioClient, session: Session, member: Member, redis_client: Redis
) -> None:
    """Inside the window: <Reject reason="busy"/>, a pending callback, and its job enqueued."""
    fresh(session).get(Member, member.id).window_start = "00:00"  # type: ignore[union-attr]
    session.get(Member, member.id).window_end = "00:00"  # type: ignore[union-attr]  # all day
    session.commit()
    root = _ring_callback_line(twilio)
    assert [(node.tag, node.get("reason")) for node in root] == [("Reject", "busy")]
    callback = fresh(session).scalars(select(CallbackRequest)).one()
    assert (callback.member_id, callback.reason, callback.status, callback.lesson_id) == (
        member.id,
        "missed_call",
        CallbackStatus.PENDING,
        None,
    )
    missed = session.scalars(select(Call)).one()
    assert (missed.purpose, missed.status) == ("missed_call", CallStatus.BUSY)
    assert Queue("calls", connection=redis_client).job_ids == [f"callback-{callback.id}"]


def test_a_missed_call_outside_the_window_is_scheduled_for_its_start(
    twilio: TwilioClient, session: Session, member: Member, redis_client: Redis
) -> None:
    """Outside the window the callback waits for the window's start (a scheduled job)."""
    now_local = utcnow().astimezone(member_rules(fresh(session), member).timezone)
    stored = session.get(Member, member.id)
    assert stored is not None
    stored.window_start = (now_local + timedelta(hours=2)).strftime("%H:%M")
    stored.window_end = (now_local + timedelta(hours=3)).strftime("%H:%M")
    session.commit()
    _ring_callback_line(twilio)
    callback = fresh(session).scalars(select(CallbackRequest)).one()
    assert callback.scheduled_for is not None
    assert timedelta(hours=1) < callback.scheduled_for - utcnow() <= timedelta(hours=2)
    queue = Queue("calls", connection=redis_client)
    assert queue.job_ids == []
    assert queue.scheduled_job_registry.get_job_ids() == [f"callback-{callback.id}"]


def test_missed_calls_are_capped_per_day(
    twilio: TwilioClient, session: Session, member: Member, redis_client: Redis
) -> None:
    """Two callbacks a day: the third missed call is still rejected but queues nothing."""
    for _ in range(3):
        _ring_callback_line(twilio)
        for callback in fresh(session).scalars(select(CallbackRequest)):
            callback.status = CallbackStatus.PLACED.value  # called back in between
        session.commit()
    assert fresh(session).scalar(select(func.count(CallbackRequest.id))) == 2
    assert fresh(session).scalar(select(func.count(Call.id))) == 3
    assert [(node.tag, node.get("reason")) for node in _ring_callback_line(twilio)] == [
        ("Reject", "busy")
    ]


def test_the_same_missed_call_twice_queues_one_callback(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A repeated CallSid on the callback line is answered again without a second request."""
    phone = Phone(twilio)
    phone.post("/voice/callback")
    phone.post("/voice/callback")
    assert fresh(session).scalar(select(func.count(CallbackRequest.id))) == 1


def test_a_stranger_on_the_callback_line_is_rejected_without_a_callback(
    twilio: TwilioClient, session: Session
) -> None:
    """An unregistered number rings: rejected busy, nothing queued."""
    root = _ring_callback_line(twilio, STRANGER)
    assert [node.tag for node in root] == ["Reject"]
    assert fresh(session).scalar(select(func.count(CallbackRequest.id))) == 0


HUGE = "99999999999999999999"


def test_huge_numbers_in_voice_webhooks_are_no_call_and_no_lesson(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """A lesson number of 20 digits is an unknown lesson (asked again); `?call=` of 20 digits
    names no call; a duration of 20 digits is no duration. None of them is a 500."""
    phone = Phone(twilio)
    phone.post("/voice")
    phone.press("/voice/menu/choose", "2")
    phone.press("/voice/lessons/category", "9")
    again = phone.press("/voice/lessons/number", HUGE + "#")
    assert zh("lesson_unknown") in said(again)[0]
    assert Phone(twilio).post(f"/voice/outbound?call={HUGE}", AnsweredBy="human") is not None
    form = {
        "CallSid": new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": HOTLINE,
        "To": PHONE,
        "CallStatus": "completed",
        "CallDuration": HUGE,
        "Direction": "outbound-api",
    }
    assert twilio.post(f"/voice/status?call={HUGE}", form).status_code == 204
    assert phone.status("completed", duration=int(HUGE)) == 204
    assert the_call(session, phone.sid).duration is None


def _store_state(session: Session, sid: str, raw: Any) -> None:
    """Write a call row's IVR state as an older release, or a hand edit, may have left it."""
    call = the_call(session, sid)
    call.state = raw
    session.commit()


@pytest.mark.parametrize(
    ("raw", "path", "digits", "next_prompt", "next_action"),
    [
        pytest.param(
            {"tries": 0, "colour": "red", "report": {"studied": True, "saved": True, "mood": 1}},
            "/voice/report/same_city",
            "1",
            zh("ask_same_employer", employer="电子厂"),
            "/voice/report/same_employer",
            id="unknown keys",
        ),
        pytest.param(
            {"tries": "two"},
            "/voice/menu/choose",
            "7",
            zh("wrong_key"),
            "/voice/menu/choose",
            id="tries not a number",
        ),
        pytest.param(
            {"report": "yes"},
            "/voice/report/same_city",
            "1",
            zh("ask_same_employer", employer="电子厂"),
            "/voice/report/same_employer",
            id="report not an object",
        ),
        pytest.param(
            {"playing": {"number": "twelve", "started": 1.5}, "list": "12"},
            "/voice/lessons/played",
            "1",
            zh("lesson_categories"),
            "/voice/lessons/category",
            id="lesson number not a number",
        ),
        pytest.param(
            {"playing": {"started": 5.0}, "queue": [1]},
            "/voice/lessons/played",
            "#",
            zh("lesson_categories"),
            "/voice/lessons/category",
            id="lesson number missing",
        ),
        pytest.param(
            {},
            "/voice/lessons/pick",
            "1",
            zh("lesson_categories"),
            "/voice/lessons/category",
            id="lesson list missing",
        ),
        pytest.param(
            ["menu", 1],
            "/voice/menu/choose",
            "3",
            zh("status_menu"),
            "/voice/status/choose",
            id="not an object",
        ),
    ],
)
def test_an_unreadable_stored_state_does_not_end_the_call(
    twilio: TwilioClient,
    session: Session,
    member: Member,
    raw: Any,
    path: str,
    digits: str,
    next_prompt: str,
    next_action: str,
) -> None:
    """Unknown keys, values of the wrong type and missing keys in the stored state: the call
    goes on with the next question (never Twilio's error tone nor the call-back goodbye), and
    the state stored after the step is one that reads back unchanged."""
    phone = Phone(twilio)
    phone.post("/voice")
    _store_state(session, phone.sid, raw)
    root = phone.press(path, digits)
    assert said(root)[0] == next_prompt
    assert action(root) == next_action
    stored = the_call(session, phone.sid).state
    assert CallState.from_json(stored).to_json() == stored


def test_a_hang_up_with_an_unreadable_lesson_in_the_state_is_still_stored(
    twilio: TwilioClient, session: Session, member: Member
) -> None:
    """The call-ended callback reads the state too: an unreadable lesson credits nothing and
    the status is stored (204, not 500); a lesson stored with whole seconds is credited."""
    lesson = fresh(session).scalars(select(Lesson)).one()
    broken = Phone(twilio)
    broken.post("/voice")
    _store_state(session, broken.sid, {"playing": {"number": str(lesson.id), "started": "x"}})
    assert broken.status("completed", duration=20) == 204
    assert the_call(session, broken.sid).status == CallStatus.COMPLETED
    assert fresh(session).scalar(select(func.count(LessonListen.id))) == 0
    whole = Phone(twilio)
    whole.post("/voice")
    started = int(utcnow().timestamp()) - 30
    _store_state(session, whole.sid, {"playing": {"number": lesson.id, "started": started}})
    assert whole.status("completed", duration=31) == 204
    listen = fresh(session).scalars(select(LessonListen)).one()
    assert (listen.lesson_id, listen.completed) == (lesson.id, False)
    assert 30 <= listen.seconds <= 60
