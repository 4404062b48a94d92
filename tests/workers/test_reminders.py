"""The reminder tick and period closing, run as jobs against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clients import redis
from models import (
    Call,
    CallStatus,
    Channel,
    ContactKind,
    ContactLog,
    Conversation,
    Message,
    MessageStatus,
    Role,
    User,
    opt_out,
    record_report,
)
from models.cycle import record_step
from models.reads.dashboard import reporting_trend
from models.report import NonReporter, ReportTally
from models.scope import scope_for
from models.tasks import tasks
from tests.factories import make_member, make_tree, make_user
from tests.gateway.sandbox_api import SandboxAPI
from tests.workers.jobs import sent_to
from workers import reminders

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, month: int = 11) -> datetime:
    """A moment in 2026, Shanghai time."""
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def test_the_first_reminder_is_sent_and_opens_the_report_question(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Day 1 in the evening: the reminder goes out and a bare 1 or 2 will answer it."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, name="王建国")
    session.commit()
    assert reminders.tick(at(1, 20).isoformat()) == {"reminder": 1}
    assert reminders.tick(at(1, 20).isoformat()) == {}  # the same tick again: nothing twice
    work()
    assert [m["body"] for m in sent_to(sandbox, member.phone)] == [
        "王建国您好,请汇报11月情况:本月学习了吗?回复1学了,2没学"
    ]
    session.expire_all()
    row = session.scalar(select(Message).where(Message.member_id == member.id))
    assert row is not None
    assert (row.template_key, row.params, row.status) == (
        "reminder",
        {"name": "王建国", "month": "11"},
        MessageStatus.SENT,
    )
    conversation = session.scalar(select(Conversation).where(Conversation.member_id == member.id))
    assert conversation is not None
    assert (conversation.topic, conversation.step) == ("report", "studied")
    assert conversation.expires_at == at(1, 20) + timedelta(hours=72)


def test_nothing_is_sent_outside_the_window_or_to_those_who_reported(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """At three in the afternoon nobody; in the evening only the member who has not reported."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    reported = make_member(session, branch)
    record_report(session, reported, period="2026-11", studied=True, channel=Channel.SMS)
    session.commit()
    assert reminders.tick(at(1, 15).isoformat()) == {}
    assert reminders.tick(at(1, 19).isoformat()) == {"reminder": 1}
    work()
    assert len(sent_to(sandbox, member.phone)) == 1
    assert sent_to(sandbox, reported.phone) == []


def test_day_ten_places_a_reminder_call(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """After two reminders, day 10 calls the member through the provider, paced as calls."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    record_step(session, member.id, "2026-11", "reminder", at(1, 20))
    record_step(session, member.id, "2026-11", "second_reminder", at(5, 20))
    session.commit()
    assert reminders.tick(at(10, 20).isoformat()) == {"ivr_call": 1}
    work()
    calls = sandbox.get("/_sandbox/calls", to=member.phone)
    assert len(calls) == 1
    session.expire_all()
    call = session.scalar(select(Call).where(Call.member_id == member.id))
    assert call is not None
    assert (call.purpose, call.call_sid, call.status) == (
        "reminder",
        calls[0]["sid"],
        CallStatus.INITIATED,
    )
    assert calls[0]["url"] == f"https://gateway.example.org/voice/outbound?call={call.id}"
    assert calls[0]["status_callback"] == f"https://gateway.example.org/voice/status?call={call.id}"
    assert calls[0]["machine_detection"] == "Enable"


def test_day_fifteen_gives_the_liaison_a_task(session: Session, work: Callable[[], int]) -> None:
    """The last step is a task for the member's liaison, whatever the hour."""
    _, branch, _ = make_tree(session)
    liaison = make_user(session, branch, Role.LIAISON)
    member = make_member(session, branch, liaison_id=liaison.id)
    for step, day in (("reminder", 1), ("second_reminder", 5), ("ivr_call", 10)):
        record_step(session, member.id, "2026-11", step, at(day, 20))
    session.commit()
    assert reminders.tick(at(15, 10).isoformat()) == {"liaison_task": 1}
    session.expire_all()
    task = session.scalar(select(ContactLog).where(ContactLog.member_id == member.id))
    assert task is not None
    assert (task.kind, task.user_id, task.done, task.period) == (
        ContactKind.LIAISON_TASK,
        liaison.id,
        False,
        "2026-11",
    )


def test_an_opted_out_member_is_called_and_tasked_but_not_texted(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """TD stops texts, not calls, not the branch's duties: no reminder on days 1 and 5, the
    call on day 10 is placed (not cancelled), the liaison's task on day 15."""
    _, branch, _ = make_tree(session)
    liaison = make_user(session, branch, Role.LIAISON)
    member = make_member(session, branch, liaison_id=liaison.id)
    opt_out(session, member)
    session.commit()
    assert reminders.tick(at(1, 20).isoformat()) == {}
    assert reminders.tick(at(5, 20).isoformat()) == {}
    assert reminders.tick(at(10, 20).isoformat()) == {"ivr_call": 1}
    work()
    assert len(sandbox.get("/_sandbox/calls", to=member.phone)) == 1
    session.expire_all()
    call = session.scalar(select(Call).where(Call.member_id == member.id))
    assert call is not None and call.status is CallStatus.INITIATED
    assert reminders.tick(at(15, 10).isoformat()) == {"liaison_task": 1}
    work()
    assert sent_to(sandbox, member.phone) == []
    session.expire_all()
    task = session.scalar(select(ContactLog).where(ContactLog.member_id == member.id))
    assert task is not None
    assert (task.kind, task.user_id, task.done) == (ContactKind.LIAISON_TASK, liaison.id, False)


def test_a_member_without_a_liaison_is_the_branchs_task(session: Session) -> None:
    """Day 15 for a member nobody looks after: the task is the branch's, on the branch users'
    (and the township's) task list, and not on any liaison's."""
    township, branch, other = make_tree(session)
    branch_user = make_user(session, branch, Role.BRANCH)
    liaison = make_user(session, branch, Role.LIAISON)
    other_user = make_user(session, other, Role.BRANCH)
    township_user = make_user(session, township, Role.TOWNSHIP)
    member = make_member(session, branch, name="孙立")
    for step, day in (("reminder", 1), ("second_reminder", 5), ("ivr_call", 10)):
        record_step(session, member.id, "2026-11", step, at(day, 20))
    session.commit()
    assert reminders.tick(at(15, 10).isoformat()) == {"liaison_task": 1}
    session.expire_all()

    def listed(user: User) -> list[tuple[str, int | None]]:
        page = tasks(session, scope_for(session, user))
        return [(row.member.name, row.liaison_id) for row in page.items]

    assert listed(branch_user) == [("孙立", None)]
    assert listed(township_user) == [("孙立", None)]
    assert listed(liaison) == []
    assert listed(other_user) == []


def test_close_periods_fixes_last_months_non_reporters_early_in_the_month(
    session: Session,
) -> None:
    """On day 2 last month is closed; on day 20 nothing is closed."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, created_at=at(1, 9, month=9))
    session.commit()
    assert reminders.close_periods(at(20, 12).isoformat()) == {}
    assert reminders.close_periods(at(2, 1).isoformat()) == {"青山镇": 1}
    session.expire_all()
    assert session.scalars(select(NonReporter.member_id)).all() == [member.id]
    assert session.scalars(select(NonReporter.period)).all() == ["2026-10"]


def test_close_periods_tallies_a_period_once_it_has_settled(session: Session) -> None:
    """October is counted live while it settles; the hourly job that closes periods tallies
    it once a week has passed (and the earlier months it never tallied), and the trend then
    shows the figures the live count showed."""
    township, east, west = make_tree(session)
    studied = make_member(session, east, created_at=at(1, 9, month=9))
    make_member(session, east, created_at=at(1, 9, month=9))
    make_member(session, west, created_at=at(1, 9, month=9))
    record_report(session, studied, period="2026-10", studied=True, channel=Channel.SMS)
    scope = scope_for(session, make_user(session, township, Role.TOWNSHIP))
    session.commit()
    months = ["2026-09", "2026-10"]

    def figures(now: datetime) -> list[tuple[str, int, int, int]]:
        trend = reporting_trend(session, scope, months, now=now)
        return [(p.period, p.members, p.reported, p.studied) for p in trend]

    def tallied() -> set[str]:
        session.expire_all()
        return set(
            session.scalars(select(ReportTally.period).where(ReportTally.period.in_(months)))
        )

    live = figures(at(8, 1))
    assert live == [("2026-09", 3, 0, 0), ("2026-10", 3, 1, 1)]
    assert reminders.close_periods(at(2, 1).isoformat()) == {"青山镇": 2}
    assert tallied() == {"2026-09"}  # October ended on 1 November: not settled yet
    assert reminders.close_periods(at(7, 23).isoformat()) == {}
    assert tallied() == {"2026-09"}
    assert reminders.close_periods(at(8, 1).isoformat()) == {}
    assert tallied() == set(months)
    rows = session.execute(
        select(ReportTally.branch_id, ReportTally.members, ReportTally.reported).where(
            ReportTally.period == "2026-10"
        )
    ).all()
    assert sorted(rows) == sorted([(east.id, 2, 1), (west.id, 1, 0)])
    assert figures(at(8, 1)) == live


def test_a_tick_leaves_a_township_another_tick_is_working_on(
    session: Session, app: Flask, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Two workers may run two ticks at once (the scheduler queues one whether or not the last
    finished): the second finds the township's lock held and takes no step of its own; once the
    first is done, the township is ticked again as usual."""
    township, branch, _ = make_tree(session)
    member = make_member(session, branch)
    session.commit()
    with app.app_context():
        held = redis().lock(f"lock:reminders.tick:{township.id}", timeout=60)
        assert held.acquire(blocking=False)
    try:
        assert reminders.tick(at(1, 20).isoformat()) == {"busy": 1}
    finally:
        held.release()
    assert reminders.tick(at(1, 20).isoformat()) == {"reminder": 1}
    work()
    assert len(sent_to(sandbox, member.phone)) == 1
