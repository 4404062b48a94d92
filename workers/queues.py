"""The RQ queues, and enqueueing that waits for the database commit and never runs a job twice."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis import Redis, RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session

from infra import clients
from models.clock import utcnow, wall_time

log = logging.getLogger(__name__)

HIGH = "high"  # one message a member is waiting for (a code, a reply sent later)
DEFAULT = "default"  # reminders, ticks, broadcast resolution
BULK = "bulk"  # broadcast sends
CALLS = "calls"  # outbound calls: lessons, reminder calls
QUEUE_NAMES = (HIGH, DEFAULT, BULK, CALLS)

# Statuses of a job that will still run (or is running): a second enqueue would repeat it.
PENDING_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED}
)
# A job that works holds this key (see `hold_lease`); a started job without it died.
LEASE_PREFIX = "gateway:lease:"
LEASE_SECONDS = 60
# A worker moves a job off its queue and marks it started a moment later; a queued job found
# off its queue (in RQ's intermediate list) this long after we first saw it there was taken by
# a worker that died before starting it.
TAKEN_PREFIX = "gateway:taken:"
TAKEN_GRACE_SECONDS = 20

_PENDING_KEY = "gateway_pending_jobs"
_HOOKED_KEY = "gateway_pending_jobs_hooked"


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """One of the four queues, on the app's Redis unless a connection is given."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; one of {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection or clients.redis())


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    queue: str = DEFAULT,
    job_id: str | None = None,
    at: datetime | None = None,
    connection: Redis | None = None,
    **options: Any,
) -> Job | None:
    """Enqueue a job now or at `at`; with a job id, do nothing if that job is still pending.

    A job with the same id that finished, failed, or died with its worker (a started job whose
    lease is gone) is replaced, so a sweep can always hand work on again.
    """
    rq_queue = get_queue(queue, connection)
    options.setdefault("result_ttl", 0)
    if at is not None and at <= utcnow():
        at = None  # due already: straight onto the queue, not via the scheduler
    if at is not None:
        at = wall_time(at)  # RQ's scheduler runs on the real clock
    for _ in range(3):
        job = rq_queue.create_job(
            func,
            args=args,
            job_id=job_id,
            status=JobStatus.SCHEDULED if at is not None else JobStatus.QUEUED,
            **options,
        )
        try:
            if at is not None:
                return rq_queue.schedule_job(job, at, unique=job_id is not None)
            return rq_queue.enqueue_job(job, unique=job_id is not None)
        except DuplicateJobError:
            assert job_id is not None
            if at is None and _is_scheduled(rq_queue.connection, job_id):
                # Asked for now: the copy waiting for a later moment is taken off and run now
                # (a sweep found it due: the clock or the member's window moved).
                _delete_job(rq_queue.connection, job_id)
                continue
            if job_is_pending(rq_queue.connection, job_id):
                return None
            _delete_job(rq_queue.connection, job_id)
    return None


def job_is_pending(connection: Redis, job_id: str) -> bool:
    """Whether a job with this id will still run, or is running in a live worker."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status not in PENDING_STATUSES:
        return False
    if status is JobStatus.STARTED:
        return bool(connection.exists(LEASE_PREFIX + job_id))
    if status is JobStatus.QUEUED:
        return _still_queued(connection, job)
    return True


def _still_queued(connection: Redis, job: Job) -> bool:
    """Whether a job marked queued will still run: it is on its queue, or a worker took it
    off a moment ago and is about to start it. One taken by a worker that died before it
    started (RQ would fail it only at a maintenance, minutes later) is taken out of RQ's
    intermediate list, so it can be enqueued again."""
    queue = Queue(job.origin, connection=connection)
    if connection.lpos(queue.key, job.id) is not None:
        return True
    seconds, _ = connection.time()  # one clock for every host
    # Per enqueueing: the job put back on its queue is another job's wait.
    marker = f"{TAKEN_PREFIX}{job.id}:{job.enqueued_at.timestamp() if job.enqueued_at else ''}"
    connection.set(marker, seconds, nx=True, ex=TAKEN_GRACE_SECONDS * 10)
    first = connection.get(marker)
    if first is None or seconds - int(first) < TAKEN_GRACE_SECONDS:
        return True
    connection.lrem(queue.intermediate_queue_key, 0, job.id)
    return False


def _is_scheduled(connection: Redis, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) is JobStatus.SCHEDULED


def _delete_job(connection: Redis, job_id: str) -> None:
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id, connection=connection).delete(remove_from_queue=True)


def hold_lease(connection: Redis, job_id: str | None) -> None:
    """Say this job is alive for another LEASE_SECONDS (call it often while working)."""
    if job_id:
        connection.set(LEASE_PREFIX + job_id, "1", ex=LEASE_SECONDS)


def release_lease(connection: Redis, job_id: str | None) -> None:
    """Drop the lease of a job that is finishing."""
    if job_id:
        connection.delete(LEASE_PREFIX + job_id)


def enqueue_after_commit(
    session: Session,
    func: Callable[..., Any],
    *args: Any,
    queue: str = DEFAULT,
    job_id: str | None = None,
    at: datetime | None = None,
    **options: Any,
) -> None:
    """Enqueue a job once the session's transaction commits; forget it if it rolls back.

    The database is the source of truth: if Redis cannot take the job, the commit still
    stands, a warning is logged, and the cron sweep hands the work on later.
    """
    connection = clients.redis()
    if not session.in_transaction():
        session.begin()  # so that a rollback, even of nothing written, forgets the job
    pending: list[tuple[Any, ...]] = session.info.setdefault(_PENDING_KEY, [])
    if not session.info.get(_HOOKED_KEY):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_HOOKED_KEY] = True
    pending.append((func, args, queue, job_id, at, connection, options))


def _after_commit(session: Session) -> None:
    pending: list[tuple[Any, ...]] = session.info.pop(_PENDING_KEY, [])
    for func, args, queue, job_id, at, connection, options in pending:
        try:
            enqueue(
                func, *args, queue=queue, job_id=job_id, at=at, connection=connection, **options
            )
        except RedisError as exc:
            log.warning("job %s not enqueued (%s); the sweep will catch up", job_id or func, exc)


def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


__all__ = [
    "BULK",
    "CALLS",
    "DEFAULT",
    "HIGH",
    "QUEUE_NAMES",
    "enqueue",
    "enqueue_after_commit",
    "get_queue",
    "hold_lease",
    "job_is_pending",
    "release_lease",
]
