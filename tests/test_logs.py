"""Log lines: one JSON object each, phone numbers masked, the request's or job's ids on them."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from rq import Queue

from infra import logs
from infra.logs import mask_phones
from tests.factories import make_member
from tests.support import TwilioClient


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+8613800010001", "+86138****0001"),
        ("13800010001", "138****0001"),
        ("from +8613800010001 to 13912345678.", "from +86138****0001 to 139****5678."),
        ("tel:+14155550123", "tel:+141****0123"),
        ("(13800010001)", "(138****0001)"),
        ("号码13800010001已登记", "号码138****0001已登记"),
        # Not phone numbers: a sid's hex, a short id, a fraction, a time.
        ("SM1234567890abcdef1234567890abcdef", "SM1234567890abcdef1234567890abcdef"),
        ("member 4711 job 123456", "member 4711 job 123456"),
        ("took 0.12345678 s", "took 0.12345678 s"),
        ("2026-12-02T13:17:06", "2026-12-02T13:17:06"),
        # An RQ job's id whose groups happen to be all digits; a number beside it still goes.
        (
            "Job OK (12345678-1234-4234-8234-123456789012) to 13800010001",
            "Job OK (12345678-1234-4234-8234-123456789012) to 138****0001",
        ),
    ],
)
def test_phone_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.configure({"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}, stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    logs.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line alone is JSON


def test_a_line_is_one_json_object_with_the_phone_masked(log_stream: io.StringIO) -> None:
    logging.getLogger("gateway.test").warning(
        "member %s texted from 13800010001", "+8613800010001", extra={"to": "+8613900020002"}
    )
    try:
        raise ValueError("bad number +8613800010001")
    except ValueError:
        logging.getLogger("gateway.test").exception("failed")
    (warning, error) = lines(log_stream)
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "gateway.test"
    assert warning["message"] == "member +86138****0001 texted from 138****0001"
    assert warning["to"] == "+86139****0002"
    assert "time" in warning
    assert "8613800010001" not in log_stream.getvalue()
    assert "+86138****0001" in error["exc_info"]


def test_a_webhook_line_carries_its_message_sid(
    app: Flask, log_stream: io.StringIO, twilio: TwilioClient
) -> None:
    with app.app_context():
        from infra.db import get_session

        session = get_session()
        phone = make_member(session).phone
        session.commit()
    sid = "SM" + uuid.uuid4().hex
    response = twilio.post("/sms", {"MessageSid": sid, "From": phone, "Body": "?"})
    assert response.status_code == 200
    (line,) = [entry for entry in lines(log_stream) if entry.get("path") == "/sms"]
    assert line["MessageSid"] == sid
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert line["duration_ms"] >= 0
    call_sid = "CA" + uuid.uuid4().hex
    twilio.post("/voice", {"CallSid": call_sid, "From": phone, "To": "+8610690000"})
    (voice,) = [entry for entry in lines(log_stream) if entry.get("path") == "/voice"]
    assert voice["CallSid"] == call_sid
    assert "MessageSid" not in voice  # nothing left over from the request before
    assert phone[3:] not in log_stream.getvalue()


def test_a_job_line_carries_its_job_id(
    app: Flask, redis_client: Redis, log_stream: io.StringIO
) -> None:
    """A real AppWorker runs a job that logs a number: its id is on the line, the number masked."""
    from workers.worker import AppWorker

    queue = Queue("default", connection=redis_client)
    job = queue.enqueue("logging.warning", "calling %s", "+8613800010001")
    with app.app_context():
        worker = AppWorker([queue], connection=redis_client)
        assert worker.work(burst=True)
    entries = lines(log_stream)
    (line,) = [entry for entry in entries if entry["message"].startswith("calling")]
    assert line["message"] == "calling +86138****0001"
    assert line["job_id"] == job.id
    assert line["job_func"] == "logging.warning"
