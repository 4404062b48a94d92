"""Texts that fail become calls: once per text, in the member's next window, never in quiet
hours, never after TD unless the notice is essential; the notice page counts the reach."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Broadcast,
    BroadcastStatus,
    Call,
    CallPurpose,
    CallStatus,
    Member,
    Message,
    MessageStatus,
    opt_out,
)
from models.clock import set_clock_file
from models.fallback import notice_reach
from models.outbox import queue_sms
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.support import TwilioClient
from workers import callbacks

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Shanghai time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The worker tests' app, reading a clock file the test moves (place_call reads it)."""
    app_config["CLOCK_FILE"] = str(tmp_path / "clock")
    return app_config


@pytest.fixture
def clock(app_config: dict[str, Any]) -> Callable[[datetime], None]:
    """Move every reader of the shared clock to a moment."""
    return lambda now: set_clock_file(app_config["CLOCK_FILE"], now)


def failed_text(
    session: Session, member: Member, when: datetime, *, template: str = "reminder", **row: Any
) -> Message:
    """A text to the member that the provider reported undelivered at `when`."""
    params = {"name": member.name, "month": "11"} if template == "reminder" else {"text": "开会"}
    message = queue_sms(session, template_key=template, params=params, member=member, at=when)
    for key, value in row.items():
        setattr(message, key, value)
    message.status = MessageStatus.UNDELIVERED
    message.status_at = when
    session.flush()
    return message


def essential_notice(session: Session, org_id: int, *, essential: bool = True) -> Broadcast:
    """A notice already sent."""
    notice = Broadcast(
        org_id=org_id,
        text="明天上午九点在村委会开会,请准时参加",
        essential=essential,
        status=BroadcastStatus.DONE,
        recipients=1,
    )
    session.add(notice)
    session.flush()
    return notice


def tick(clock: Callable[[datetime], None], now: datetime) -> None:
    """The calls sweep at `now`, with every process's clock there."""
    clock(now)
    callbacks.due_callbacks_tick(now.isoformat())


def calls_of(session: Session, member: Member) -> list[Call]:
    """The member's outbound calls, oldest first."""
    session.expire_all()
    return list(session.scalars(select(Call).where(Call.member_id == member.id).order_by(Call.id)))


def test_a_failed_reminder_is_followed_by_one_call_in_the_window(
    session: Session,
    sandbox: SandboxAPI,
    work: Callable[[], int],
    clock: Callable[[datetime], None],
) -> None:
    """Undelivered at 20:00: the call is placed at once (the window is open), asks for the
    report (a reminder call), and a second sweep places nothing more."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    message = failed_text(session, member, at(1, 20))
    session.commit()
    tick(clock, at(1, 20, 5))
    work()
    tick(clock, at(1, 20, 10))
    work()
    calls = calls_of(session, member)
    assert [(c.purpose, c.message_id, c.status) for c in calls] == [
        (CallPurpose.REMINDER, message.id, CallStatus.INITIATED)
    ]
    assert len(sandbox.get("/_sandbox/calls", to=member.phone)) == 1


def test_a_text_failed_in_quiet_hours_is_called_in_the_next_window(
    session: Session,
    sandbox: SandboxAPI,
    work: Callable[[], int],
    clock: Callable[[datetime], None],
) -> None:
    """Failed at 23:00 (quiet hours until 08:00, window 19:00-21:30): nothing that night or
    the next morning; the call goes at 19:00 the next day."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    failed_text(session, member, at(1, 23))
    session.commit()
    tick(clock, at(1, 23, 5))
    work()
    [call] = calls_of(session, member)
    assert call.status is CallStatus.QUEUED
    assert call.next_attempt_at == at(2, 19)
    tick(clock, at(2, 9))
    work()
    assert calls_of(session, member)[0].status is CallStatus.QUEUED
    assert sandbox.get("/_sandbox/calls", to=member.phone) == []
    tick(clock, at(2, 19, 1))
    work()
    assert calls_of(session, member)[0].status is CallStatus.INITIATED
    assert len(sandbox.get("/_sandbox/calls", to=member.phone)) == 1


def test_opted_out_members_are_called_only_for_an_essential_notice(
    session: Session,
    sandbox: SandboxAPI,
    work: Callable[[], int],
    clock: Callable[[datetime], None],
) -> None:
    """A reminder that failed to a member who then sent TD: no call. An essential notice to
    another member who sent TD: a call that speaks it. A notice not essential: no call."""
    _, branch, _ = make_tree(session)
    reminded, told, ordinary = (make_member(session, branch) for _ in range(3))
    failed_text(session, reminded, at(1, 20))
    essential = essential_notice(session, branch.id)
    plain = essential_notice(session, branch.id, essential=False)
    failed_text(session, told, at(1, 20), template="broadcast", broadcast_id=essential.id)
    failed_text(session, ordinary, at(1, 20), template="broadcast", broadcast_id=plain.id)
    opt_out(session, reminded)
    opt_out(session, told)
    session.commit()
    tick(clock, at(1, 20, 5))
    work()
    assert calls_of(session, reminded) == []
    assert calls_of(session, ordinary) == []
    [call] = calls_of(session, told)
    assert (call.purpose, call.status) == (CallPurpose.NOTICE, CallStatus.INITIATED)


def test_a_member_who_opts_out_before_the_window_is_not_called(
    session: Session,
    sandbox: SandboxAPI,
    work: Callable[[], int],
    clock: Callable[[datetime], None],
) -> None:
    """A reminder's call queued at night is cancelled if the member sends TD before it goes;
    an invalid number is never called."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    invalid = make_member(session, branch, phone_invalid_at=at(1, 0))
    failed_text(session, member, at(1, 23))
    failed_text(session, invalid, at(1, 23))
    session.commit()
    tick(clock, at(1, 23, 5))
    assert calls_of(session, invalid) == []
    member = session.get(Member, member.id) or member
    opt_out(session, member)
    session.commit()
    tick(clock, at(2, 19, 1))
    work()
    [call] = calls_of(session, member)
    assert call.status is CallStatus.CANCELED
    assert sandbox.get("/_sandbox/calls", to=member.phone) == []


def test_the_notice_call_speaks_the_notice_twice(
    session: Session,
    sandbox: SandboxAPI,
    work: Callable[[], int],
    clock: Callable[[datetime], None],
    twilio: TwilioClient,
) -> None:
    """Answered by a person: the notice's words, twice, then goodbye; no key is asked."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, name="王建国")
    notice = essential_notice(session, branch.id)
    failed_text(session, member, at(1, 20), template="broadcast", broadcast_id=notice.id)
    session.commit()
    tick(clock, at(1, 20, 5))
    work()
    [call] = calls_of(session, member)
    response = twilio.post(
        f"/voice/outbound?call={call.id}",
        {
            "CallSid": call.call_sid or "CA1",
            "From": "+10000000000",
            "To": member.phone,
            "AnsweredBy": "human",
            "CallStatus": "in-progress",
        },
    )
    root = ET.fromstring(response.get_data(as_text=True))
    said = [node.text or "" for node in root.iter("Say")]
    assert said[0].startswith("王建国您好")
    assert said.count(notice.text) == 2
    assert root.find("Gather") is None and root.find("Hangup") is not None


def test_the_notice_page_counts_texts_delivered_calls_answered_and_not_reached(
    session: Session, sandbox: SandboxAPI
) -> None:
    """Four members: one text delivered, one failed and its call answered, one failed and
    its call unanswered, one skipped (TD): 1 delivered, 1 answered, 2 not reached."""
    _, branch, _ = make_tree(session)
    notice = essential_notice(session, branch.id)
    members = [make_member(session, branch) for _ in range(4)]
    rows = [
        failed_text(session, m, at(1, 20), template="broadcast", broadcast_id=notice.id)
        for m in members
    ]
    rows[0].status = MessageStatus.DELIVERED
    rows[3].status = MessageStatus.SKIPPED
    for row, status in ((rows[1], CallStatus.COMPLETED), (rows[2], CallStatus.NO_ANSWER)):
        session.add(
            Call(
                direction="outbound",
                member_id=row.member_id,
                phone=row.phone,
                purpose=CallPurpose.NOTICE,
                status=status,
                message_id=row.id,
                answered_by="human",
                created_at=at(1, 20) + timedelta(minutes=5),
            )
        )
    session.commit()
    reach = notice_reach(session, [notice.id])[notice.id]
    assert (reach.delivered, reach.answered, reach.not_reached) == (1, 1, 2)
