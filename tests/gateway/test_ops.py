"""/healthz, /readyz with each dependency down, and /metrics: its token and its figures."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session

from devtools.servers import free_port, redis_server
from gateway import create_app
from infra.metrics import CRON_LAST_TICK_KEY
from models.base import utcnow
from models.call import Call, CallDirection, CallStatus
from models.message import Direction, Message, MessageStatus
from models.reminder import EscalationStep, ReminderStep
from tests.factories import make_member
from tests.support import TwilioClient, make_config

TOKEN = "metrics-token-for-tests"


def test_healthz_answers_while_serving(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_with_database_and_redis_up(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_redis_when_it_stops(db_url: str, tmp_path: Path) -> None:
    """A real redis-server that answered, then stopped: 503 naming Redis only."""
    with redis_server(tmp_path / "redis") as url:
        app = create_app(make_config(db_url, url, tmp_path))
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["down"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")
    assert client.get("/healthz").status_code == 200
    app.extensions["db_engine"].dispose()


def test_readyz_names_the_database_at_a_closed_port(redis_url: str, tmp_path: Path) -> None:
    """PostgreSQL at a port nothing listens on: 503 naming the database, within the second."""
    url = f"postgresql+psycopg://gateway@127.0.0.1:{free_port()}/gateway"
    app = create_app(make_config(url, redis_url, tmp_path))
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["down"] == ["database"]
    assert body["checks"]["redis"] == "ok"


def test_readyz_when_a_dependency_hangs_answers_within_a_second(
    db_url: str, tmp_path: Path
) -> None:
    """A Redis that accepts the connection but never answers (SIGSTOP): timeout in ~1 s."""
    import os
    import signal
    import time

    with redis_server(tmp_path / "redis") as url:
        app = create_app(make_config(db_url, url, tmp_path))
        pid = int(Redis.from_url(url).info()["process_id"])
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = app.test_client().get("/readyz")
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.get_json()["down"] == ["redis"]
    assert elapsed < 1.8
    app.extensions["db_engine"].dispose()


@pytest.fixture
def metrics_app(app_config: dict[str, Any]) -> Any:
    app = create_app({**app_config, "METRICS_TOKEN": TOKEN})
    yield app
    app.extensions["db_engine"].dispose()


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_off_without_a_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Basic dXNlcjpwYXNz", 401),
        ("Bearer", 401),
        ("Bearer wrong-token", 403),
        (f"Bearer {TOKEN}x", 403),
        ("Bearer 令牌", 403),
    ],
)
def test_metrics_refuse_a_missing_or_wrong_token(
    metrics_app: Flask, header: str | None, status: int
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    assert b"gateway_" not in response.data


def test_metrics_count_what_was_done(metrics_app: Flask, redis_client: Redis) -> None:
    client = metrics_app.test_client()
    twilio = TwilioClient(client)
    now = utcnow()
    with metrics_app.app_context():
        from infra.db import get_session

        session: Session = get_session()
        member = make_member(session)
        member_phone = member.phone
        # Two due (one never held, one held until a minute ago), one overdue by an hour,
        # one not yet due, one sent.
        for next_at, status in (
            (None, MessageStatus.QUEUED),
            (now - timedelta(minutes=1), MessageStatus.QUEUED),
            (now - timedelta(hours=1), MessageStatus.QUEUED),
            (now + timedelta(hours=1), MessageStatus.QUEUED),
            (None, MessageStatus.SENT),
        ):
            session.add(
                Message(
                    direction=Direction.OUT,
                    member_id=member.id,
                    phone=member.phone,
                    body="x",
                    status=status,
                    next_attempt_at=next_at,
                    created_at=now,
                )
            )
        session.add(
            ReminderStep(member_id=member.id, period="2026-11", step=EscalationStep.REMINDER)
        )
        session.add(
            ReminderStep(member_id=member.id, period="2026-11", step=EscalationStep.IVR_CALL)
        )
        for call_status in (CallStatus.COMPLETED, CallStatus.COMPLETED, CallStatus.NO_ANSWER):
            session.add(
                Call(
                    direction=CallDirection.OUTBOUND,
                    member_id=member.id,
                    phone=member.phone,
                    status=call_status,
                )
            )
        session.commit()

    for _ in range(3):
        response = twilio.post(
            "/sms",
            {"MessageSid": "SM" + uuid.uuid4().hex, "From": member_phone, "Body": "?"},
        )
        assert response.status_code == 200
    Queue("bulk", connection=redis_client).enqueue("workers.sending.send_batch", 1)
    Queue("bulk", connection=redis_client).enqueue("workers.sending.send_batch", 2)
    redis_client.hset(CRON_LAST_TICK_KEY, "workers.outbox.sweep_outbox", "1764680000.5")

    samples = scrape(client)
    assert samples[("gateway_texts", (("direction", "in"), ("status", "received")))] == 3
    queued_out = samples[("gateway_texts", (("direction", "out"), ("status", "queued")))]
    assert queued_out >= 4  # the four above, and any reply the texts queued
    assert samples[("gateway_texts", (("direction", "out"), ("status", "sent")))] == 1
    assert samples[("gateway_outbox_due", ())] >= 3
    assert samples[("gateway_outbox_overdue", ())] == 1
    assert samples[("gateway_reminder_steps", (("step", "reminder"),))] == 1
    assert samples[("gateway_reminder_steps", (("step", "ivr_call"),))] == 1
    assert samples[("gateway_calls", (("status", "completed"),))] == 2
    assert samples[("gateway_calls", (("status", "no-answer"),))] == 1
    assert samples[("gateway_queue_jobs", (("queue", "bulk"),))] == 2
    assert samples[("gateway_failed_jobs", (("queue", "bulk"),))] == 0
    job_tick = (("job", "workers.outbox.sweep_outbox"),)
    assert samples[("gateway_cron_last_tick_timestamp_seconds", job_tick)] == 1764680000.5
    assert samples[("gateway_webhook_seconds_count", (("route", "sms"),))] >= 3
    assert samples[("gateway_dependency_up", (("dependency", "redis"),))] == 1
    assert samples[("gateway_dependency_up", (("dependency", "database"),))] == 1


def test_metrics_with_redis_down_still_answer(db_url: str, tmp_path: Path) -> None:
    """A scrape while Redis is away: 200, the database's figures, and redis marked down."""
    with redis_server(tmp_path / "redis") as url:
        app = create_app(make_config(db_url, url, tmp_path, METRICS_TOKEN=TOKEN))
    samples = scrape(app.test_client())
    assert samples[("gateway_dependency_up", (("dependency", "redis"),))] == 0
    assert samples[("gateway_dependency_up", (("dependency", "database"),))] == 1
    assert ("gateway_outbox_due", ()) in samples
    assert not any(name == "gateway_queue_jobs" for name, _labels in samples)
    app.extensions["db_engine"].dispose()


def test_pool_settings_bound_connections_per_process(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "DB_POOL_SIZE": 2, "DB_POOL_OVERFLOW": 1})
    engine = app.extensions["db_engine"]
    if engine.dialect.name == "postgresql":
        assert engine.pool.size() == 2
        assert engine.pool._max_overflow == 1
    engine.dispose()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("CRON_LEASE_SECONDS", "2"),
        ("CRON_LEASE_SECONDS", "120"),
        ("WORKER_METRICS_PORT", "70000"),
        ("CRON_METRICS_PORT", "-1"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_OVERFLOW", "many"),
    ],
)
def test_bad_operations_settings_are_refused(name: str, value: str) -> None:
    from infra.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=name):
        load_config(environ={name: value})
