"""The sandbox as the tests drive it: its HTTP API, a running sandbox, a webhook receiver."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests

from devtools.servers import free_port
from infra.providers import OutboundCall, OutboundSms

SANDBOX_TOKEN = "sandbox-test-token"


SANDBOX_ACCOUNT = "AC" + "5" * 32


FROM_NUMBER = "+8610690000"


START_TIMEOUT = 30.0


WAIT_TIMEOUT = 10.0


PORT_ATTEMPTS = 3


class SandboxStartError(RuntimeError):
    """The sandbox server did not come up."""


@contextmanager
def running_sandbox(
    db_path: Path,
    auth_token: str = SANDBOX_TOKEN,
    account_sid: str = SANDBOX_ACCOUNT,
    extra_args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run `python -m devtools.sandbox` (gunicorn, two workers) on a free port; yield its URL.

    `extra_args` go on its command line (push addresses, the mainland providers' keys)."""
    log_path = db_path.with_suffix(".log")
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "devtools.sandbox", "--host", "127.0.0.1"),
                    *("--port", str(port), "--db", str(db_path), "--auth-token", auth_token),
                    *("--account-sid", account_sid, "--workers", "2", "--threads", "8"),
                    *extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            if _wait_until_healthy(url, process):
                break
        except BaseException:
            _stop(process)
            raise
        if attempt == PORT_ATTEMPTS:
            raise SandboxStartError(f"sandbox did not start:\n{log_path.read_text()}")
    try:
        yield url
    finally:
        _stop(process)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> bool:
    """True once /_sandbox/health answers, False if the process exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_sandbox/health", timeout=1).json() == {"ok": True}:
                return True
        except requests.RequestException:
            pass
        try:
            # Waiting on the process doubles as the pause between attempts.
            process.wait(timeout=0.05)
            return False
        except subprocess.TimeoutExpired:
            pass
    raise SandboxStartError(f"sandbox at {url} was not healthy within {START_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGINT is gunicorn's quick shutdown; SIGTERM would wait on idle keep-alive connections.
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class SandboxAPI:
    """The sandbox's /_sandbox/ control endpoints, for arranging and checking a test."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **params: str) -> Any:
        """GET a control endpoint and return its JSON."""
        response = self.http.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_for(
        self, path: str, until: Callable[[Any], bool], timeout: float = WAIT_TIMEOUT, **params: str
    ) -> Any:
        """GET path until `until` holds for its JSON; each round trip is the pause between tries."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get(path, **params)
            if until(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {path} {params}; last got {found}")

    def fault(self, **rule: Any) -> int:
        """Add a fault rule; return its id."""
        response = self.http.post(f"{self.url}/_sandbox/faults", json=rule, timeout=10)
        response.raise_for_status()
        fault_id: int = response.json()["id"]
        return fault_id

    def reset(self) -> None:
        """Clear faults, messages, calls and callback records."""
        for kind in ("faults", "messages", "calls", "callbacks"):
            self.http.delete(f"{self.url}/_sandbox/{kind}", timeout=10).raise_for_status()


@dataclass(frozen=True)
class Received:
    """One request the webhook receiver got."""

    path: str
    url: str
    form: dict[str, str]
    signature: str | None


class WebhookReceiver:
    """A tiny real HTTP server that records form POSTs and answers as told per path."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: dict[str, tuple[int, str, str]] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                status, body, content_type = receiver.answers.get(
                    self.path, (200, "", "text/plain")
                )
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                with receiver.changed:
                    receiver.received.append(
                        Received(
                            path=self.path,
                            url=f"{receiver.base_url}{self.path}",
                            form=form,
                            signature=self.headers.get("X-Twilio-Signature"),
                        )
                    )
                    receiver.changed.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def new_base(self) -> str:
        """A base URL on this receiver that no other test uses (a provider's callback base)."""
        return f"{self.base_url}/{uuid.uuid4().hex}"

    def new_url(self, name: str = "status") -> str:
        """A URL on this receiver that no other test uses."""
        return f"{self.base_url}/{uuid.uuid4().hex}/{name}"

    def answer(self, url: str, status: int, body: str = "", content_type: str = "text/xml") -> None:
        """Make the receiver answer POSTs to url with this status and body."""
        self.answers[url.removeprefix(self.base_url)] = (status, body, content_type)

    def wait_for(
        self,
        url: str,
        until: Callable[[list[Received]], bool],
        timeout: float = WAIT_TIMEOUT,
    ) -> list[Received]:
        """The requests to url, once `until` holds for them; fail after the timeout."""
        path = url.removeprefix(self.base_url)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                got = [item for item in self.received if item.path == path]
                if until(got):
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting on {url}; got {got}")
                self.changed.wait(left)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def sms(to: str, body: str, message_id: int = 1) -> OutboundSms:
    """An outbox row as the provider takes it (the id names the row in callbacks)."""
    return OutboundSms(message_id=message_id, to=to, body=body)


def call(to: str, call_id: int = 1, *, machine_detection: bool = False) -> OutboundCall:
    """A call to place for a Call row."""
    return OutboundCall(call_id=call_id, to=to, machine_detection=machine_detection)
