"""Broadcast jobs end to end: resolution in parts, sending, Redis emptied halfway, progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Broadcast, BroadcastStatus, Member, Message, find_org, utcnow
from models.broadcast import PART_SIZE, broadcast_progress, create_broadcast
from tests.factories import make_member, make_tree
from tests.gateway.conftest import SandboxAPI
from tests.workers.conftest import run_jobs
from workers import broadcasts, sending
from workers.queues import BULK, get_queue


def _members(session: Session, count: int) -> list[Member]:
    _, east, west = make_tree(session)
    return [make_member(session, east if n % 2 else west) for n in range(count)]


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
    session.execute(update(Member).where(Member.id == members[2].id).values(id=PART_SIZE + 7))
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
        session.execute(
            update(Member).where(Member.id == member.id).values(id=member.id + PART_SIZE)
        )
    session.commit()
    broadcast = _broadcast(session)
    run_jobs(redis_client, queues=("default",))
    first_part = get_queue(BULK, redis_client).job_ids[0]
    Job.fetch(first_part, connection=redis_client).perform()  # one part goes out
    redis_client.flushall()  # Redis restarted with nothing
    assert sandbox.get("/_sandbox/count")["messages"] == 5
    sending.sweep_outbox()
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
    sending.sweep_outbox()
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
    sending.sweep_outbox()
    work()
    assert sandbox.get("/_sandbox/count")["messages"] == 0
    assert ScheduledJobRegistry("default", connection=redis_client).get_job_ids() == [
        f"broadcast-resolve-{later.id}"
    ]
    assert session.scalar(select(Message.id)) is None
