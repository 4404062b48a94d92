"""Domain operations of calls: reports by phone, recordings, listens, callbacks and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Call,
    CallbackReason,
    CallDirection,
    CallStatus,
    Channel,
    HelpCategory,
    Lesson,
    LessonCategory,
    LessonListen,
    RecordingKind,
    ReportRevision,
    open_help_request,
    record_report,
    voice,
)
from models.call import CallbackRequest, CallbackStatus
from models.cycle import member_rules, next_contact_time
from models.member import Member
from tests.factories import make_member, make_tree

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 20:00 in Shanghai: inside the default 19:00-21:30 window.
IN_WINDOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
# 10:00 in Shanghai: working hours.
MORNING = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)


def _call(session: Session, member_id: int | None, phone: str, at: datetime = IN_WINDOW) -> Call:
    call = Call(
        call_sid=f"CA{at.timestamp():.0f}{phone[-4:]}",
        direction=CallDirection.INBOUND,
        member_id=member_id,
        phone=phone,
        status=CallStatus.IN_PROGRESS,
        state={},
        created_at=at,
    )
    session.add(call)
    session.flush()
    return call


@pytest.mark.parametrize(
    ("local", "start", "end", "expected"),
    [
        ("20:00", "19:00", "21:30", "2025-03-05 20:00"),  # inside
        ("10:00", "19:00", "21:30", "2025-03-05 19:00"),  # before: tonight
        ("22:00", "19:00", "21:30", "2025-03-06 19:00"),  # after: tomorrow
        ("23:30", "22:00", "02:00", "2025-03-05 23:30"),  # a window over midnight, before it
        ("01:00", "22:00", "02:00", "2025-03-05 01:00"),  # ... and after midnight
        ("03:00", "22:00", "02:00", "2025-03-05 22:00"),  # ... and outside it
        ("23:00", "00:00", "00:00", "2025-03-05 23:00"),  # equal ends: the whole day
    ],
)
def test_a_callback_keeps_to_the_members_own_window(
    session: Session, local: str, start: str, end: str, expected: str
) -> None:
    """A time inside the member's own window is kept (their choice overrides quiet hours);
    outside it moves to the next window start."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    member.window_start, member.window_end = start, end
    hours, minutes = map(int, local.split(":"))
    at = datetime(2025, 3, 5, hours, minutes, tzinfo=SHANGHAI).astimezone(UTC)
    got = voice.next_contact_time(session, member, at)
    assert got.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") == expected
    assert got.tzinfo is not None


def test_a_callback_waits_out_quiet_hours(session: Session) -> None:
    """A branch window reaching into quiet hours: a missed call at 22:30 is called back the next
    evening, never at 22:30, the same answer as every other contact (models.cycle)."""
    township, branch, _ = make_tree(session)
    township.settings = {"contact_window": ["19:00", "23:00"], "quiet_hours": ["21:30", "08:00"]}
    member = make_member(session, branch)
    late = datetime(2025, 3, 5, 22, 30, tzinfo=SHANGHAI)
    callback = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, late)
    assert callback is not None
    assert callback.scheduled_for == datetime(2025, 3, 6, 19, 0, tzinfo=SHANGHAI)
    assert voice.next_contact_time(session, member, late) == rules_next(session, member, late)


def test_half_a_members_window_is_no_window(session: Session) -> None:
    """Only both ends make a member's own window; one end alone leaves the branch's window
    (the callback used to mix the member's start with the township's end)."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    member.window_start, member.window_end = "22:00", None
    at = datetime(2025, 3, 5, 22, 15, tzinfo=SHANGHAI)
    assert voice.next_contact_time(session, member, at) == datetime(
        2025, 3, 6, 19, 0, tzinfo=SHANGHAI
    )


def rules_next(session: Session, member: Member, at: datetime) -> datetime:
    return next_contact_time(member, member_rules(session, member), at)


def test_a_callback_is_scheduled_inside_the_contact_window(session: Session) -> None:
    """Asked in the morning, the call back waits for the evening window; asked in it, now."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    later = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, MORNING)
    assert later is not None
    assert later.scheduled_for == datetime(2025, 3, 5, 19, 0, tzinfo=SHANGHAI)
    member.window_start, member.window_end = "08:00", "12:00"
    lesson = Lesson(org_id=branch.id, title="课", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    now = voice.request_callback(session, member, lesson.id, CallbackReason.LESSON, MORNING)
    assert now is not None
    assert now.scheduled_for == MORNING
    assert now.status == CallbackStatus.PENDING


def test_callbacks_are_capped_per_member_per_day(session: Session) -> None:
    """Two a day by default; the third is refused; the next local day starts again."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    for minutes in (0, 10):
        callback = voice.request_callback(
            session,
            member,
            None,
            CallbackReason.MISSED_CALL,
            IN_WINDOW + timedelta(minutes=minutes),
        )
        assert callback is not None
        callback.status = CallbackStatus.PLACED.value  # called back already
    third = IN_WINDOW + timedelta(minutes=20)
    assert voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, third) is None
    assert voice.request_callback(
        session, member, None, CallbackReason.MISSED_CALL, third, per_day=3
    )
    # Midnight in Shanghai is 16:00 UTC.
    tomorrow = datetime(2025, 3, 5, 16, 5, tzinfo=UTC)
    assert (
        voice.request_callback(session, member, None, CallbackReason.LESSON, tomorrow) is not None
    )


def test_asking_again_while_a_callback_waits_does_not_count_twice(session: Session) -> None:
    """A second missed call before the first is placed returns the same request."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    first = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, MORNING)
    again = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, MORNING)
    assert first is not None and again is not None
    assert again.id == first.id
    count = session.scalar(select(func.count(CallbackRequest.id)))
    assert count == 1


def test_due_callbacks_are_claimed_once(session: Session) -> None:
    """Only due pending callbacks are listed, and only one claim of each succeeds."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    due = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, IN_WINDOW)
    other = make_member(session, branch, window_start="08:00", window_end="09:00")
    waiting = voice.request_callback(session, other, None, CallbackReason.MISSED_CALL, IN_WINDOW)
    assert due is not None and waiting is not None
    assert voice.due_callbacks(session, IN_WINDOW) == [due.id]
    assert voice.claim_callback(session, due.id, IN_WINDOW)
    assert not voice.claim_callback(session, due.id, IN_WINDOW)
    assert not voice.claim_callback(session, waiting.id, IN_WINDOW)


def test_answers_of_one_call_make_one_revision(session: Session) -> None:
    """The first answer records a revision; the call's later answers complete it."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    record_report(session, member, period="2025-03", studied=False, channel=Channel.SMS, at=MORNING)
    first = voice.save_call_report(
        session, member, studied=True, same_city=None, same_employer=None, amend=False, at=IN_WINDOW
    )
    report = voice.save_call_report(
        session, member, studied=True, same_city=True, same_employer=False, amend=True, at=IN_WINDOW
    )
    assert report.id == first.id
    assert (report.revision, report.channel, report.same_employer) == (2, Channel.IVR, False)
    session.flush()
    rows = session.scalars(
        select(ReportRevision)
        .where(ReportRevision.report_id == report.id)
        .order_by(ReportRevision.revision)
    ).all()
    assert [(r.revision, r.channel) for r in rows] == [(1, Channel.SMS), (2, Channel.IVR)]
    assert rows[1].data["same_city"] is True
    assert rows[1].data["same_employer"] is False


def test_recordings_attach_to_the_report_or_help_request_once(session: Session) -> None:
    """A thought report joins this month's report, help details join the call's request, and a
    RecordingSid seen before is not stored again."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    call = _call(session, member.id, member.phone)
    report = record_report(
        session, member, period="2025-03", studied=True, channel=Channel.IVR, at=IN_WINDOW
    )
    help_request = open_help_request(
        session,
        member,
        category=HelpCategory.WAGES,
        text="",
        channel=Channel.IVR,
        at=IN_WINDOW,
    )
    thought = voice.store_recording(
        session,
        call=call,
        member=member,
        kind=RecordingKind.THOUGHT_REPORT,
        url="http://x/1.wav",
        recording_sid="RE1",
        duration=95,
        attach="report",
        at=IN_WINDOW,
    )
    details = voice.store_recording(
        session,
        call=call,
        member=member,
        kind=RecordingKind.HELP,
        url="http://x/2.wav",
        recording_sid="RE2",
        duration=40,
        attach="help",
        at=IN_WINDOW,
    )
    again = voice.store_recording(
        session,
        call=call,
        member=member,
        kind=RecordingKind.THOUGHT_REPORT,
        url="http://x/1.wav",
        recording_sid="RE1",
        duration=95,
        attach="report",
        at=IN_WINDOW,
    )
    assert thought.report_id == report.id
    assert details.help_request_id == help_request.id
    assert again.id == thought.id
    assert (thought.duration, thought.phone, thought.call_id) == (95, member.phone, call.id)


def test_listens_are_credited_once_per_lesson_per_call(session: Session) -> None:
    """A second credit for the same lesson on the same call keeps the best, not a new row."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    call = _call(session, member.id, member.phone)
    lesson = Lesson(org_id=branch.id, title="课", category=LessonCategory.POLICY, duration=300)
    session.add(lesson)
    session.flush()
    voice.record_listen(
        session, member, lesson_id=lesson.id, seconds=200, completed=True, call=call, at=IN_WINDOW
    )
    voice.record_listen(
        session, member, lesson_id=lesson.id, seconds=90, completed=False, call=call, at=IN_WINDOW
    )
    listens = session.scalars(select(LessonListen)).all()
    assert [(li.seconds, li.completed) for li in listens] == [(200, True)]
    assert (
        voice.record_listen(
            session, member, lesson_id=999, seconds=5, completed=True, call=call, at=IN_WINDOW
        )
        is None
    )


def test_prompt_recordings_prefer_the_branch(session: Session) -> None:
    """The township's uploaded prompts apply to its branches; a branch's own win."""
    township, branch, _ = make_tree(session)
    township.settings = {
        "prompts": {"main_menu": "https://t/menu.wav", "goodbye": "https://t/bye.wav"}
    }
    branch.settings = {"prompts": {"main_menu": "https://b/menu.wav"}}
    member = make_member(session, branch)
    assert voice.prompt_recordings(session, member) == {
        "main_menu": "https://b/menu.wav",
        "goodbye": "https://t/bye.wav",
    }
    assert voice.prompt_recordings(session, None) == {}


def test_call_status_never_moves_back(session: Session) -> None:
    """Completed stays completed when a late ringing arrives; duration and end are kept."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    call = _call(session, member.id, member.phone)
    assert voice.update_call_status(session, call, CallStatus.COMPLETED, duration=75, at=IN_WINDOW)
    assert not voice.update_call_status(session, call, CallStatus.RINGING, at=IN_WINDOW)
    assert (call.status, call.duration, call.ended_at) == (CallStatus.COMPLETED, 75, IN_WINDOW)


def test_an_unanswered_callback_is_tried_once_more_then_given_up(session: Session) -> None:
    """No answer: pending again 30 minutes later inside the window; the second miss fails it."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    callback = voice.request_callback(session, member, None, CallbackReason.MISSED_CALL, IN_WINDOW)
    assert callback is not None
    callback.status = CallbackStatus.PLACED.value
    call = voice.start_callback_call(session, callback, member, IN_WINDOW)
    voice.mark_for_retry(session, call, IN_WINDOW)
    assert call.next_attempt_at == IN_WINDOW + voice.CALL_RETRY_AFTER
    assert callback.status == CallbackStatus.PENDING
    assert callback.scheduled_for == IN_WINDOW + voice.CALLBACK_RETRY_AFTER
    callback.status = CallbackStatus.PLACED.value
    second = voice.start_callback_call(session, callback, member, IN_WINDOW)
    assert second.attempt == 2
    voice.mark_for_retry(session, second, IN_WINDOW)
    assert callback.status == CallbackStatus.FAILED
