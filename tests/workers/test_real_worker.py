"""Jobs run by a real `rq worker -w workers.worker.AppWorker` process, as in production."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from devtools.servers import free_port
from infra import clients
from models import (
    Call,
    CallDirection,
    CallPurpose,
    CallStatus,
    Lesson,
    LessonCampaign,
    LessonCategory,
    Member,
    Message,
    MessageStatus,
    Organization,
    utcnow,
    voice,
)
from models.broadcast import create_broadcast
from models.lesson import (
    CampaignMember,
    CampaignMemberStatus,
    add_campaign_members,
    create_campaign,
)
from models.outbox import queue_sms
from tests.factories import make_member, make_tree
from tests.gateway.sandbox_api import SandboxAPI
from tests.live_server import serve
from tests.rq_worker import run_worker, running_cron, running_worker
from tests.support import wait_until
from tests.workers import worker_jobs
from workers import broadcasts, campaigns, outbox, reconcile, reminders, sending
from workers.callbacks import due_callbacks_tick, place_callback
from workers.calls import place_call
from workers.queues import CALLS, DEFAULT, HIGH, enqueue

SHANGHAI = ZoneInfo("Asia/Shanghai")


def open_window(session: Session, count: int) -> list[Member]:
    """Members of one branch whose own window is open now (an hour ago to two hours on)."""
    _, branch, _ = make_tree(session)
    local = utcnow().astimezone(SHANGHAI)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    return [make_member(session, branch, window_start=start, window_end=end) for _ in range(count)]


def start_lesson_campaign(session: Session, members: list[Member]) -> LessonCampaign:
    """A lesson campaign to the members' township, started as the admin and the CLI start it."""
    branch = members[0].branch
    assert branch.parent_id is not None
    township = session.get(type(branch), branch.parent_id)
    assert township is not None
    lesson = Lesson(org_id=township.id, title="党章学习", category=LessonCategory.POLICY)
    session.add(lesson)
    session.flush()
    campaign = create_campaign(
        session, lesson_id=lesson.id, org=township, author_id=None, target={}, now=utcnow()
    )
    campaigns.start_campaign(session, campaign)
    session.commit()
    return campaign


def entries(session: Session, campaign: LessonCampaign) -> list[CampaignMember]:
    """The campaign's members as the database has them now."""
    session.rollback()
    session.expire_all()
    return list(
        session.scalars(
            select(CampaignMember)
            .where(CampaignMember.campaign_id == campaign.id)
            .order_by(CampaignMember.member_id)
        )
    )


def test_a_campaign_opened_by_the_worker_calls_at_once(
    session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """The campaign's open job runs in the worker and its tick places every call right away,
    without waiting for the cron's next tick."""
    members = open_window(session, 3)
    campaign = start_lesson_campaign(session, members)
    run = run_worker(app_config, ("calls",))
    assert run.ran("workers.campaigns.open_campaign") == 1
    assert run.ran("workers.campaigns.campaign_tick") == 1
    assert run.ran("workers.calls.place_call") == 3
    assert sorted(c["to"] for c in sandbox.get("/_sandbox/calls")) == sorted(
        m.phone for m in members
    )
    placed = entries(session, campaign)
    assert [e.status for e in placed] == [CampaignMemberStatus.CALLING] * 3
    calls = session.scalars(select(Call).order_by(Call.id)).all()
    assert [c.status for c in calls] == [CallStatus.INITIATED] * 3
    assert all(c.call_sid is not None and c.call_sid.startswith("CA") for c in calls)


@pytest.fixture
def app_port() -> int:
    """The port the live app will listen on (known before the app is built)."""
    return free_port()


@pytest.fixture
def app_config(app_config: dict[str, Any], app_port: int) -> dict[str, Any]:
    """The app (and the worker) give the sandbox a live URL to call back."""
    app_config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{app_port}"
    return app_config


@pytest.fixture
def live_sandbox(worker_sandbox_url: str) -> Iterator[SandboxAPI]:
    """The worker tests' sandbox, emptied, with its status callbacks on."""
    api = SandboxAPI(worker_sandbox_url)
    api.reset()
    yield api
    api.reset()
    api.http.close()


@pytest.mark.parametrize("outcome", [CallStatus.BUSY, CallStatus.NO_ANSWER])
def test_a_call_nobody_answered_moves_on_and_is_tried_again(
    outcome: CallStatus,
    app: Flask,
    session: Session,
    live_sandbox: SandboxAPI,
    app_config: dict[str, Any],
    app_port: int,
) -> None:
    """The sandbox reports the call busy (or unanswered) as soon as it is placed: the call
    ends with that status, and its campaign member goes back to pending with the retry set
    half an hour later, without waiting for the cron's tick."""
    (member,) = open_window(session, 1)
    live_sandbox.fault(resource="calls", call_status=outcome.value)
    campaign = start_lesson_campaign(session, [member])
    with serve(app, port=app_port), running_worker(app_config, ("calls",)) as worker:

        def moved_on() -> bool:
            found = [(e.status, e.attempts) for e in entries(session, campaign)]
            return found == [(CampaignMemberStatus.PENDING, 1)]

        wait_until(moved_on)
    assert worker.ran("workers.campaigns.follow_up_call") == 1
    assert worker.ran("workers.campaigns.campaign_tick") == 1  # opened the campaign
    call = session.scalars(select(Call)).one()
    assert call.ended_at is not None and call.call_sid is not None
    (entry,) = entries(session, campaign)
    assert (entry.status, entry.attempts, entry.call_id) == (
        CampaignMemberStatus.PENDING,
        1,
        call.id,
    )
    assert entry.next_attempt_at == call.ended_at + timedelta(minutes=30)
    assert len(live_sandbox.get("/_sandbox/calls", to=member.phone)) == 1


# Every kind of job the code enqueues, each set up so that it does its real work (and
# enqueues what it enqueues), run by the real worker.


@dataclass(frozen=True)
class JobCase:
    """A job to enqueue, and what a clean run of it must have done."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    queue: str
    also_ran: tuple[str, ...] = ()  # jobs it hands work to (dotted names)
    calls: int = 0  # calls the sandbox must have been asked to place
    texts: int = 0  # messages the sandbox must have been asked to send


def _job_name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__name__}"


def _opened_campaign(session: Session, members: list[Member]) -> LessonCampaign:
    campaign = start_lesson_campaign(session, members)
    add_campaign_members(session, campaign, utcnow())
    session.commit()
    redis = clients.redis()
    redis.flushdb()  # forget the open job start_lesson_campaign enqueued
    return campaign


def _queued_texts(session: Session, members: list[Member], **extra: Any) -> list[int]:
    ids = []
    for member in members:
        message = queue_sms(
            session,
            template_key="reminder",
            params={"name": member.name, "month": "1"},
            member=member,
            at=utcnow(),
        )
        for key, value in extra.items():
            setattr(message, key, value)
        ids.append(message.id)
    session.commit()
    return ids


def _case_open_campaign(session: Session) -> JobCase:
    members = open_window(session, 2)
    campaign = start_lesson_campaign(session, members)
    clients.redis().flushdb()
    return JobCase(
        campaigns.open_campaign,
        (campaign.id,),
        CALLS,
        also_ran=("workers.campaigns.campaign_tick", "workers.calls.place_call"),
        calls=2,
    )


def _case_campaign_tick(session: Session) -> JobCase:
    _opened_campaign(session, open_window(session, 2))
    return JobCase(
        campaigns.campaign_tick, (), CALLS, also_ran=("workers.calls.place_call",), calls=2
    )


def _case_follow_up_call(session: Session) -> JobCase:
    campaign = _opened_campaign(session, open_window(session, 1))
    (entry,) = entries(session, campaign)
    now = utcnow()
    call = Call(
        direction=CallDirection.OUTBOUND,
        member_id=entry.member_id,
        phone=session.get(Member, entry.member_id).phone,  # type: ignore[union-attr]
        purpose=CallPurpose.LESSON,
        campaign_id=campaign.id,
        status=CallStatus.BUSY,
        attempt=1,
        state={},
        created_at=now,
        ended_at=now,
        call_sid="CA" + "1" * 32,
    )
    session.add(call)
    session.flush()
    entry.status, entry.attempts, entry.call_id = CampaignMemberStatus.CALLING, 1, call.id
    session.commit()
    return JobCase(campaigns.follow_up_call, (call.id,), CALLS)


def _case_place_call(session: Session) -> JobCase:
    (member,) = open_window(session, 1)
    call = Call(
        direction=CallDirection.OUTBOUND,
        member_id=member.id,
        phone=member.phone,
        purpose=CallPurpose.REMINDER,
        status=CallStatus.QUEUED,
        attempt=1,
        state={},
        created_at=utcnow(),
    )
    session.add(call)
    session.commit()
    return JobCase(place_call, (call.id,), CALLS, calls=1)


def _due_callback(session: Session) -> int:
    (member,) = open_window(session, 1)
    callback = voice.request_callback(session, member, None, "missed_call", utcnow())
    assert callback is not None
    session.commit()
    return callback.id


def _case_place_callback(session: Session) -> JobCase:
    return JobCase(place_callback, (_due_callback(session),), CALLS, calls=1)


def _case_due_callbacks_tick(session: Session) -> JobCase:
    _due_callback(session)
    return JobCase(
        due_callbacks_tick, (), CALLS, also_ran=("workers.callbacks.place_callback",), calls=1
    )


def _case_send_message(session: Session) -> JobCase:
    (message_id,) = _queued_texts(session, open_window(session, 1))
    return JobCase(sending.send_message, (message_id,), HIGH, texts=1)


def _case_send_batch(session: Session) -> JobCase:
    ids = _queued_texts(session, open_window(session, 2))
    return JobCase(sending.send_batch, (ids,), DEFAULT, texts=2)


def _case_send_range(session: Session) -> JobCase:
    ids = _queued_texts(session, open_window(session, 2))
    first = ids[0] // sending.RANGE_SIZE * sending.RANGE_SIZE
    return JobCase(sending.send_range, (first,), DEFAULT, texts=2)


def _case_sweep_outbox(session: Session) -> JobCase:
    old = utcnow() - timedelta(minutes=5)
    _queued_texts(session, open_window(session, 2), created_at=old)
    return JobCase(outbox.sweep_outbox, (), HIGH, also_ran=("workers.sending.send_range",), texts=2)


def _case_reconcile_stuck(session: Session) -> JobCase:
    claimed = utcnow() - timedelta(minutes=10)
    _queued_texts(
        session, open_window(session, 1), status=MessageStatus.SENDING, claimed_at=claimed
    )
    return JobCase(
        reconcile.reconcile_stuck, (), HIGH, also_ran=("workers.sending.send_message",), texts=1
    )


def _case_reminders_tick(session: Session) -> JobCase:
    open_window(session, 2)
    session.commit()
    return JobCase(reminders.tick, (), DEFAULT, also_ran=("workers.sending.send_range",), texts=2)


def _case_close_periods(session: Session) -> JobCase:
    (member,) = open_window(session, 1)
    member.created_at = utcnow() - timedelta(days=70)
    session.commit()
    second = utcnow().astimezone(SHANGHAI).replace(day=2, hour=12, minute=0)
    return JobCase(reminders.close_periods, (second.isoformat(),), DEFAULT)


def _case_resolve_broadcast(session: Session) -> JobCase:
    members = open_window(session, 2)
    township = session.get(Organization, members[0].branch.parent_id)
    assert township is not None
    broadcast = create_broadcast(
        session,
        org=township,
        author_id=None,
        text="本月25日前请回复HB汇报",
        target={},
        scheduled_at=None,
        now=utcnow(),
    )
    session.commit()
    return JobCase(
        broadcasts.resolve_broadcast,
        (broadcast.id,),
        DEFAULT,
        also_ran=("workers.broadcasts.send_broadcast_part",),
        texts=2,
    )


JOB_CASES = {
    "open_campaign": _case_open_campaign,
    "campaign_tick": _case_campaign_tick,
    "follow_up_call": _case_follow_up_call,
    "place_call": _case_place_call,
    "place_callback": _case_place_callback,
    "due_callbacks_tick": _case_due_callbacks_tick,
    "send_message": _case_send_message,
    "send_batch": _case_send_batch,
    "send_range": _case_send_range,
    "sweep_outbox": _case_sweep_outbox,
    "reconcile_stuck": _case_reconcile_stuck,
    "reminders_tick": _case_reminders_tick,
    "close_periods": _case_close_periods,
    "resolve_broadcast": _case_resolve_broadcast,
}


@pytest.mark.parametrize("name", sorted(JOB_CASES))
def test_every_kind_of_job_runs_in_a_real_worker(
    name: str, session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """Each job function, enqueued as the code enqueues it, runs cleanly in AppWorker (no app of
    the test's around it) together with the jobs it hands work to."""
    case = JOB_CASES[name](session)
    enqueue(case.func, *case.args, queue=case.queue)
    run = run_worker(app_config)
    for job in (_job_name(case.func), *case.also_ran):
        assert run.ran(job) >= 1, f"{job} did not run:\n{run.output}"
    counts = sandbox.get("/_sandbox/count")
    assert (counts["calls"], counts["messages"]) == (case.calls, case.texts)


def test_the_cron_and_a_worker_run_every_periodic_job(
    session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """`rq cron workers/cron.py` enqueues each periodic job when it starts; the worker runs
    every one of them cleanly (the reminder tick texts a member whose window is open)."""
    (member,) = open_window(session, 1)
    session.commit()
    periodic = [
        "workers.reminders.tick",
        "workers.reminders.close_periods",
        "workers.outbox.sweep_outbox",
        "workers.reconcile.reconcile_stuck",
        "workers.campaigns.campaign_tick",
        "workers.callbacks.due_callbacks_tick",
    ]
    with running_worker(app_config) as worker, running_cron(app_config):
        wait_until(lambda: all(worker.ran(job) for job in periodic), timeout=60)
        worker.wait_idle()
    assert [m["to"] for m in sandbox.get("/_sandbox/messages")] == [member.phone]


def test_a_failed_job_leaves_nothing_for_the_next_job_in_the_same_worker(
    session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """AppWorker runs jobs one after another in one process: a job that fails halfway keeps
    nothing it did not commit, and the next job (a text to send) runs in a clean session."""
    member = make_member(session)
    name = member.name
    [message_id] = _queued_texts(session, [member])
    enqueue(worker_jobs.rename_then_fail, member.id, "不该留下", queue=HIGH)
    enqueue(sending.send_message, message_id, queue=HIGH)

    run = run_worker(app_config, check=False)

    assert run.ran(_job_name(worker_jobs.rename_then_fail)) == 1
    assert len(run.failed_jobs) == 1 and "this job fails before it commits" in run.failed_jobs[0]
    assert run.ran(_job_name(sending.send_message)) == 1
    session.expire_all()
    assert session.get(Member, member.id).name == name
    assert session.get(Message, message_id).status is MessageStatus.SENT
    assert [m["to"] for m in sandbox.get("/_sandbox/messages", to=member.phone)] == [member.phone]


def test_a_job_past_its_timeout_is_stopped_and_the_worker_goes_on(
    session: Session, sandbox: SandboxAPI, app_config: dict[str, Any]
) -> None:
    """Without a horse to kill, RQ stops a job past its timeout inside the worker; the job
    fails with the timeout and the next job runs."""
    member = make_member(session)
    [message_id] = _queued_texts(session, [member])
    enqueue(worker_jobs.hang, queue=HIGH, timeout=1)
    enqueue(sending.send_message, message_id, queue=HIGH)

    run = run_worker(app_config, check=False, timeout=60)

    assert len(run.failed_jobs) == 1 and "JobTimeoutException" in run.failed_jobs[0]
    session.expire_all()
    assert session.get(Message, message_id).status is MessageStatus.SENT
