"""Broadcast jobs end to end: resolution in parts, sending, Redis emptied halfway, progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import Broadcast, BroadcastStatus, Member, Message, Role, find_org, utcnow
from models.audit import AuditLog
from models.broadcast import PART_SIZE, BroadcastError, broadcast_progress, create_broadcast
from models.caps import HoldReason
from models.notice import NoticeChannel, PrivacyNotice, record_notice
from tests.factories import make_member, make_tree, make_user, open_window_now
from tests.gateway.sandbox_api import SandboxAPI
from tests.workers.jobs import run_jobs
from workers import broadcasts, outbox
from workers.queues import BULK, get_queue

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _members(session: Session, count: int) -> list[Member]:
    township, east, west = make_tree(session)
    open_window_now(township)
    return [make_member(session, east if n % 2 else west) for n in range(count)]


def _renumber(session: Session, member_id: int, new_id: int) -> None:
    """Give a member another id (to put them in another part); their record of being told
    what is kept follows them."""
    session.execute(delete(PrivacyNotice).where(PrivacyNotice.member_id == member_id))
    session.execute(update(Member).where(Member.id == member_id).values(id=new_id))
    record_notice(session, new_id, NoticeChannel.REGISTER, utcnow())


def _broadcast(session: Session, text: str = "请于本月底前交党费") -> Broadcast:
    org = find_org(session, "青山镇")
    assert org is not None
    broadcast = create_broadcast(
        session, org=org, author_id=None, text=text, target={}, scheduled_at=None, now=utcnow()
    )
    broadcasts.start_broadcast(session, broadcast)
    session.commit()
    return broadcast


def _per_number(sandbox: SandboxAPI) -> Counter[str]:
    return Counter(m["to"] for m in sandbox.get("/_sandbox/messages"))


def test_a_broadcast_reaches_every_member_once_and_finishes(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Create, resolve in parts, send: each member one message, the broadcast done."""
    members = _members(session, 12)
    broadcast = _broadcast(session)
    work()
    assert _per_number(sandbox) == Counter({m.phone: 1 for m in members})
    session.expire_all()
    done = session.get(Broadcast, broadcast.id)
    assert done is not None and done.status is BroadcastStatus.DONE
    progress = broadcast_progress(session, broadcast.id)
    assert (progress["recipients"], progress["sent"], progress["queued"]) == (12, 12, 0)


def test_parts_follow_member_ids(
    session: Session, sandbox: SandboxAPI, redis_client: Redis, work: Callable[[], int]
) -> None:
    """Members in two id ranges make two part jobs with deterministic ids on the bulk queue."""
    members = _members(session, 3)
    # Move one member into the next part of PART_SIZE ids.
    _renumber(session, members[2].id, PART_SIZE + 7)
    session.commit()
    broadcast = _broadcast(session)
    run_jobs(redis_client, queues=("default",))  # resolution only
    job_ids = sorted(get_queue(BULK, redis_client).job_ids)
    assert job_ids == [f"send-broadcast-{broadcast.id}-0", f"send-broadcast-{broadcast.id}-1"]
    work()
    assert sum(_per_number(sandbox).values()) == 3


def test_redis_emptied_mid_broadcast_rest_goes_out_from_the_database(
    session: Session, sandbox: SandboxAPI, redis_client: Redis, work: Callable[[], int]
) -> None:
    """Redis restarted empty after the resolution: the sweep sends the rest, none lost or twice."""
    members = _members(session, 10)
    # Make two parts, so that one can be sent before Redis is lost.
    for member in members[5:]:
        _renumber(session, member.id, member.id + PART_SIZE)
    session.commit()
    broadcast = _broadcast(session)
    run_jobs(redis_client, queues=("default",))
    first_part = get_queue(BULK, redis_client).job_ids[0]
    Job.fetch(first_part, connection=redis_client).perform()  # one part goes out
    redis_client.flushall()  # Redis restarted with nothing
    assert sandbox.get("/_sandbox/count")["messages"] == 5
    outbox.sweep_outbox()
    work()
    session.expire_all()
    numbers = [m.phone for m in session.scalars(select(Member))]
    assert _per_number(sandbox) == Counter(dict.fromkeys(numbers, 1))
    assert broadcast_progress(session, broadcast.id)["sent"] == 10


def test_redis_emptied_during_resolution_resumes_it(
    session: Session, sandbox: SandboxAPI, redis_client: Redis, work: Callable[[], int]
) -> None:
    """A broadcast left resolving (its job lost) is resolved again by the sweep, once."""
    members = _members(session, 4)
    broadcast = _broadcast(session)
    redis_client.flushall()  # the resolve job is gone before it ran
    session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id)
        .values(status=BroadcastStatus.RESOLVING)
    )
    session.commit()
    outbox.sweep_outbox()
    work()
    assert _per_number(sandbox) == Counter({m.phone: 1 for m in members})


def test_a_scheduled_broadcast_waits_for_its_time(
    session: Session, sandbox: SandboxAPI, redis_client: Redis, work: Callable[[], int]
) -> None:
    """A broadcast for later is scheduled in RQ, not sent now; the sweep leaves it alone too."""
    _members(session, 2)
    org = find_org(session, "青山镇")
    assert org is not None
    later = create_broadcast(
        session,
        org=org,
        author_id=None,
        text="明天开会",
        target={},
        scheduled_at=utcnow() + timedelta(hours=2),
        now=utcnow(),
    )
    broadcasts.start_broadcast(session, later)
    session.commit()
    outbox.sweep_outbox()
    work()
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    assert ScheduledJobRegistry("default", connection=redis_client).get_job_ids() == [
        f"broadcast-resolve-{later.id}"
    ]
    assert session.scalar(select(Message.id)) is None


def _tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """Tomorrow at this Shanghai time: after the real clock, so nothing runs it by itself."""
    day = utcnow().astimezone(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def _sweep(at: datetime, work: Callable[[], int]) -> None:
    """The cron sweep as of `at`, and the jobs it hands on."""
    outbox.sweep_outbox(at.isoformat())
    work()


def _night_broadcast(session: Session, night: datetime, **kwargs: Any) -> Broadcast:
    org = find_org(session, "青山镇")
    assert org is not None
    broadcast = create_broadcast(
        session,
        org=org,
        author_id=kwargs.pop("author_id", None),
        text="请于本月底前交党费",
        target={},
        scheduled_at=None,
        now=night,
        **kwargs,
    )
    broadcasts.start_broadcast(session, broadcast)  # for 03:20 tomorrow: the scheduler's
    session.commit()
    return broadcast


def test_a_notice_made_at_night_waits_for_each_members_window(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Made at 03:20: nothing goes out; a member with their own 06:00 window gets it at 06:00
    (their window overrides the quiet hours), the others at the township's 19:00."""
    _, east, west = make_tree(session)
    evening = [make_member(session, east), make_member(session, west)]
    early = make_member(session, east, window_start="06:00", window_end="07:00")
    night = _tomorrow_at(3, 20)
    broadcast = _night_broadcast(session, night)
    broadcasts.resolve_broadcast(broadcast.id, night.isoformat())
    work()
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    waits = dict(
        session.execute(
            select(Message.member_id, Message.next_attempt_at).where(
                Message.broadcast_id == broadcast.id
            )
        ).all()
    )
    assert waits == {
        early.id: _tomorrow_at(6),
        evening[0].id: _tomorrow_at(19),
        evening[1].id: _tomorrow_at(19),
    }
    assert broadcast_progress(session, broadcast.id)["queued"] == 3

    _sweep(_tomorrow_at(5, 59), work)
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    _sweep(_tomorrow_at(6), work)
    assert _per_number(sandbox) == Counter({early.phone: 1})
    _sweep(_tomorrow_at(18, 59), work)
    assert sum(_per_number(sandbox).values()) == 1
    _sweep(_tomorrow_at(19), work)
    assert _per_number(sandbox) == Counter({m.phone: 1 for m in [early, *evening]})
    done = session.get(Broadcast, broadcast.id)
    assert done is not None and done.status is BroadcastStatus.DONE


def test_a_branch_with_its_own_window_gets_the_notice_in_it(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """The west branch's own 20:00-21:00 window, not the township's 19:00, holds its members;
    a row held at sending time says it waits for the window."""
    _, east, west = make_tree(session)
    west.settings = {"contact_window": ["20:00", "21:00"]}
    east_member, west_member = make_member(session, east), make_member(session, west)
    night = _tomorrow_at(3, 20)
    broadcast = _night_broadcast(session, night)
    broadcasts.resolve_broadcast(broadcast.id, night.isoformat())
    work()
    waits = dict(
        session.execute(
            select(Message.member_id, Message.next_attempt_at).where(
                Message.broadcast_id == broadcast.id
            )
        ).all()
    )
    assert waits == {east_member.id: _tomorrow_at(19), west_member.id: _tomorrow_at(20)}
    # Both rows reached only at 21:05: inside the township's window, past the branch's.
    counts = broadcasts.send_broadcast_part(broadcast.id, 0, _tomorrow_at(21, 5).isoformat())
    assert (counts["sent"], counts["held"]) == (1, 1)
    session.expire_all()
    held = session.execute(
        select(Message.next_attempt_at, Message.hold_reason).where(
            Message.member_id == west_member.id
        )
    ).one()
    assert tuple(held) == (_tomorrow_at(20) + timedelta(days=1), HoldReason.WINDOW)
    assert _per_number(sandbox) == Counter({east_member.phone: 1})


def test_a_window_that_closes_while_sending_holds_the_rest_until_the_next(
    session: Session, sandbox: SandboxAPI, redis_client: Redis, work: Callable[[], int]
) -> None:
    """Rows due at 19:00 but reached only at 21:31 (quiet hours) are held for 19:00 next day."""
    _, east, _ = make_tree(session)
    members = [make_member(session, east) for _ in range(2)]
    evening = _tomorrow_at(19)
    broadcast = _night_broadcast(session, evening)
    broadcasts.resolve_broadcast(broadcast.id, evening.isoformat())
    redis_client.flushall()  # the part job is lost: nothing sent at 19:00
    late = _tomorrow_at(21, 31)
    counts = broadcasts.send_broadcast_part(broadcast.id, 0, late.isoformat())
    assert (counts["sent"], counts["held"]) == (0, 2)
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    session.expire_all()
    assert set(
        session.scalars(select(Message.next_attempt_at).where(Message.broadcast_id == broadcast.id))
    ) == {evening + timedelta(days=1)}
    _sweep(evening + timedelta(days=1), work)
    assert _per_number(sandbox) == Counter({m.phone: 1 for m in members})


def test_an_urgent_notice_goes_out_at_once_and_is_audited(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A township's urgent notice at 03:20 goes to everyone then; the choice is in the log."""
    township, east, west = make_tree(session)
    members = [make_member(session, east), make_member(session, west)]
    officer = make_user(session, township, Role.TOWNSHIP)
    night = _tomorrow_at(3, 20)
    broadcast = _night_broadcast(session, night, urgent=True, author_id=officer.id)
    broadcasts.resolve_broadcast(broadcast.id, night.isoformat())
    work()
    assert _per_number(sandbox) == Counter({m.phone: 1 for m in members})
    entry = session.scalar(select(AuditLog).where(AuditLog.target == f"broadcast:{broadcast.id}"))
    assert entry is not None and entry.user_id == officer.id
    assert entry.action == "send" and entry.detail == {"recipients": 2, "urgent": True}


def test_a_branch_cannot_send_an_urgent_notice(session: Session) -> None:
    """Urgent is the township's choice: a branch asking for it is refused, nothing stored."""
    _, east, _ = make_tree(session)
    make_member(session, east)
    with pytest.raises(BroadcastError, match="Only a township may send an urgent notice"):
        create_broadcast(
            session,
            org=east,
            author_id=None,
            text="紧急通知",
            target={},
            scheduled_at=None,
            now=utcnow(),
            urgent=True,
        )
    assert session.scalar(select(Broadcast.id)) is None
