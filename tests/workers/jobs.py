"""Helpers for the worker tests: running queued jobs, reading what the sandbox was sent."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus

from tests.gateway.sandbox_api import SandboxAPI
from workers.queues import QUEUE_NAMES

ACCOUNT_SID = "AC" + "0" * 32  # the app's default TWILIO_ACCOUNT_SID


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


def sent_to(sandbox: SandboxAPI, phone: str) -> list[dict[str, Any]]:
    """The messages the sandbox holds for one number."""
    messages: list[dict[str, Any]] = sandbox.get("/_sandbox/messages", to=phone)
    return messages
