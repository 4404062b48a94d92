"""Fixtures for the worker tests: a real sandbox process, and jobs run by a real RQ worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy.orm import Session

from tests.gateway.sandbox_api import SandboxAPI, running_sandbox
from tests.support import AUTH_TOKEN
from tests.workers.jobs import ACCOUNT_SID, run_jobs


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


@pytest.fixture
def work(app: Flask, session: Session, redis_client: Redis) -> Callable[[], int]:
    """Run the queued jobs now (inside the app, as a worker process would be)."""

    def run() -> int:
        session.commit()
        ran = run_jobs(redis_client)
        session.expire_all()
        return ran

    return run
