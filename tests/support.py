"""Helpers every test may import: the test app's settings and a signing Twilio client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

AUTH_TOKEN = "test-auth-token"


PUBLIC_BASE_URL = "https://gateway.example.org"


def make_config(db_url: str, redis_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """The settings a test app runs with (a mapping: tests never set environment variables)."""
    config: dict[str, Any] = {
        "TESTING": True,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "PROVIDER": "sandbox",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SECRET_KEY": "test-secret",
        "SANDBOX_URL": "http://127.0.0.1:9",  # nothing listens: tests that send start a sandbox
        "SANDBOX_DB": str(tmp_path / "sandbox.db"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    config.update(extra)
    return config


class TwilioClient:
    """Posts form requests signed exactly as Twilio signs them."""

    def __init__(self, client: FlaskClient, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.validator = RequestValidator(token)

    def post(self, path: str, params: dict[str, str], *, sign: bool = True) -> TestResponse:
        """POST params to path, with Twilio's signature over PUBLIC_BASE_URL + path."""
        headers = {}
        if sign:
            signature = self.validator.compute_signature(PUBLIC_BASE_URL + path, params)
            headers["X-Twilio-Signature"] = signature
        return self.client.post(path, data=params, headers=headers)


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Return once `check()` holds, looking again every 50 ms; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        pause.wait(0.05)
