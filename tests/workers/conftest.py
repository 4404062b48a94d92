"""Fixtures for the worker tests: a real sandbox process, and jobs run by a real RQ worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from sqlalchemy.orm import Session

from tests.conftest import AUTH_TOKEN
from tests.gateway.conftest import SandboxAPI, running_sandbox
from workers.queues import QUEUE_NAMES

ACCOUNT_SID = "AC" + "0" * 32  # the app's default TWILIO_ACCOUNT_SID


@pytest.fixture(scope="session")
def worker_sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox process answering for the test app's account and auth token."""
    db_path = tmp_path_factory.mktemp("worker-sandbox") / "sandbox.db"
    with running_sandbox(db_path, auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID) as url:
        yield url


@pytest.fixture
def sandbox(worker_sandbox_url: str) -> Iterator[SandboxAPI]:
    """The sandbox, emptied, with status callbacks off (the test app does not listen)."""
    api = SandboxAPI(worker_sandbox_url)
    api.reset()
    api.fault(callbacks=False)
    yield api
    api.reset()
    api.http.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], worker_sandbox_url: str) -> dict[str, Any]:
    """The test app, sending to the sandbox at a rate no test waits for."""
    app_config["SANDBOX_URL"] = worker_sandbox_url
    app_config["SEND_RATE_SEGMENTS_PER_S"] = 10_000.0
    app_config["CALLS_PER_S"] = 10_000.0
    return app_config


class CountingWorker(SimpleWorker):
    """RQ's SimpleWorker, keeping count of the jobs it ran and the tracebacks of failed ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ran = 0
        self.failures: list[str] = []

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job, then note how it ended."""
        self.ran += 1
        super().execute_job(job, queue)
        try:
            status = job.get_status()
        except InvalidJobOperation:  # a result_ttl of 0 deletes a job that succeeded
            status = JobStatus.FINISHED
        if status is JobStatus.FAILED:
            result = job.latest_result()
            self.failures.append(f"{job.id}: {result.exc_string if result else '?'}")


def run_jobs(redis: Redis, queues: tuple[str, ...] = QUEUE_NAMES) -> int:
    """Run every queued job with a real RQ worker in burst mode; return how many it ran.

    A job that failed fails the test, with its traceback.
    """
    worker = CountingWorker(list(queues), connection=redis)
    worker.work(burst=True, logging_level="WARNING")
    if worker.failures:
        raise AssertionError("jobs failed:\n" + "\n".join(worker.failures))
    return worker.ran


@pytest.fixture
def work(app: Flask, session: Session, redis_client: Redis) -> Callable[[], int]:
    """Run the queued jobs now (inside the app, as a worker process would be)."""

    def run() -> int:
        session.commit()
        ran = run_jobs(redis_client)
        session.expire_all()
        return ran

    return run


def sent_to(sandbox: SandboxAPI, phone: str) -> list[dict[str, Any]]:
    """The messages the sandbox holds for one number."""
    messages: list[dict[str, Any]] = sandbox.get("/_sandbox/messages", to=phone)
    return messages
