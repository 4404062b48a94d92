"""Enqueueing after the commit, with job ids that make a second enqueue harmless."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devtools.servers import free_port
from gateway import create_app
from infra.db import get_session
from models import Message, utcnow
from models.outbox import queue_sms
from tests.factories import make_member
from workers.queues import (
    DEFAULT,
    LEASE_PREFIX,
    TAKEN_GRACE_SECONDS,
    TAKEN_PREFIX,
    enqueue,
    enqueue_after_commit,
    get_queue,
    hold_lease,
    job_is_pending,
)


def noop(value: int) -> int:
    """A job that does nothing."""
    return value


def test_a_job_goes_out_only_when_the_transaction_commits(
    session: Session, redis_client: Redis
) -> None:
    """Before the commit Redis has nothing; after it the job is queued."""
    enqueue_after_commit(session, noop, 1, queue=DEFAULT, job_id="noop-1")
    assert get_queue(DEFAULT, redis_client).count == 0
    session.commit()
    assert get_queue(DEFAULT, redis_client).job_ids == ["noop-1"]


def test_a_rolled_back_transaction_enqueues_nothing(session: Session, redis_client: Redis) -> None:
    """Work that was never committed is never handed to a worker, not even by a later commit."""
    enqueue_after_commit(session, noop, 1, queue=DEFAULT, job_id="noop-1")
    session.rollback()
    session.commit()
    assert get_queue(DEFAULT, redis_client).count == 0


def test_a_second_enqueue_of_a_pending_job_is_dropped(
    session: Session, redis_client: Redis
) -> None:
    """The same job id while the first still waits: one job."""
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is not None
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is None
    assert get_queue(DEFAULT, redis_client).job_ids == ["noop-1"]


def test_asking_now_for_a_job_scheduled_later_runs_it_now(
    session: Session, redis_client: Redis
) -> None:
    """A sweep that finds work due hands on a job that waits for a later moment at once."""
    later = utcnow() + timedelta(hours=20)
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1", at=later) is not None
    queue = get_queue(DEFAULT, redis_client)
    assert queue.count == 0 and queue.scheduled_job_registry.get_job_ids() == ["noop-1"]
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is not None
    assert queue.job_ids == ["noop-1"]
    assert queue.scheduled_job_registry.get_job_ids() == []
    # A second ask for later leaves the queued one alone.
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1", at=later) is None
    assert queue.job_ids == ["noop-1"]


def test_a_finished_or_failed_job_can_be_enqueued_again(
    session: Session, redis_client: Redis
) -> None:
    """A job id whose job ended (or was left failed) can hand the work on again."""
    job = enqueue(noop, 1, queue=DEFAULT, job_id="noop-1", result_ttl=600)
    assert job is not None
    job.set_status(JobStatus.FAILED)
    assert not job_is_pending(redis_client, "noop-1")
    again = enqueue(noop, 2, queue=DEFAULT, job_id="noop-1")
    assert again is not None and again.args == (2,)


def test_a_started_job_without_its_lease_died_and_is_replaced(
    session: Session, redis_client: Redis
) -> None:
    """A job marked started whose worker stopped renewing its lease is not waited for."""
    job = enqueue(noop, 1, queue=DEFAULT, job_id="noop-1")
    assert job is not None
    job.set_status(JobStatus.STARTED)
    hold_lease(redis_client, "noop-1")
    assert job_is_pending(redis_client, "noop-1")
    redis_client.delete(LEASE_PREFIX + "noop-1")  # the worker was killed: the lease ran out
    assert not job_is_pending(redis_client, "noop-1")
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is not None
    assert Job.fetch("noop-1", connection=redis_client).get_status() is JobStatus.QUEUED


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_replaced(
    session: Session, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker moves a job off its queue, then marks it started: killed in between, the job
    stays `queued` on no queue. It is waited for a moment (a live worker starts it at once),
    then enqueued again, and RQ's intermediate list no longer holds it."""
    job = enqueue(noop, 1, queue=DEFAULT, job_id="noop-1")
    assert job is not None
    queue = get_queue(DEFAULT, redis_client)
    redis_client.lmove(queue.key, queue.intermediate_queue_key)  # what a worker's dequeue does
    assert job.get_status() is JobStatus.QUEUED and queue.job_ids == []
    assert job_is_pending(redis_client, "noop-1")  # just taken: its worker may start it now
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is None
    seconds, _ = redis_client.time()
    (marker,) = redis_client.keys(TAKEN_PREFIX + "noop-1:*")
    redis_client.set(marker, seconds - TAKEN_GRACE_SECONDS)  # first seen off its queue then
    assert not job_is_pending(redis_client, "noop-1")
    assert enqueue(noop, 1, queue=DEFAULT, job_id="noop-1") is not None
    assert queue.job_ids == ["noop-1"]
    assert redis_client.lrange(queue.intermediate_queue_key, 0, -1) == []
    assert job_is_pending(redis_client, "noop-1")  # on its queue again


@pytest.fixture
def app_without_redis(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app with REDIS_URL on a port where nothing listens."""
    application = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    yield application
    application.extensions["db_engine"].dispose()


def test_redis_down_at_commit_never_breaks_the_caller(
    app_without_redis: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit stands and the row is kept for the sweep; a warning says the job was not sent."""
    with app_without_redis.app_context():
        session = get_session()
        member = make_member(session)
        message = queue_sms(session, template_key="broadcast", params={"text": "x"}, member=member)
        enqueue_after_commit(session, noop, message.id, queue=DEFAULT, job_id="noop-1")
        with caplog.at_level(logging.WARNING, logger="workers.queues"):
            session.commit()
        assert session.scalar(select(func.count(Message.id))) == 1
    assert "the sweep will catch up" in caplog.text
