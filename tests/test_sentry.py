"""SENTRY_DSN: errors of the web and of a worker's job reach the Sentry endpoint, with phone
numbers masked; unset, nothing is sent."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.config import PROJECT_ROOT
from tests.rq_worker import worker_environ

# Run in a fresh interpreter: sentry_sdk.init is process-wide.
SCRIPT = """
import sentry_sdk
from rq import Queue
from gateway import create_app
from workers.worker import AppWorker

app = create_app()

@app.get("/boom")
def boom():
    raise ValueError("member +8613800010001 broke it")

assert app.test_client().get("/boom").status_code == 500
redis = app.extensions["redis"]
queue = Queue("default", connection=redis)
queue.enqueue("builtins.int", "+8613900020002 x")
with app.app_context():
    AppWorker([queue], connection=redis).work(burst=True)
sentry_sdk.flush(timeout=10)
print("done")
"""


@pytest.fixture
def sentry_server() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://publickey@127.0.0.1:{server.server_address[1]}/1", received
    server.shutdown()


def run_script(config: dict[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=worker_environ(config),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "done" in done.stdout, done.stderr[-3000:]


def test_errors_of_web_and_jobs_reach_sentry_masked(
    app_config: dict[str, Any], sentry_server: tuple[str, list[bytes]]
) -> None:
    dsn, received = sentry_server
    run_script({**app_config, "SENTRY_DSN": dsn})
    events = b"\n".join(received).decode()
    assert "member +86138****0001 broke it" in events
    assert '"component":"web"' in events.replace(" ", "")
    assert "invalid literal for int()" in events
    assert '"component":"worker"' in events.replace(" ", "")
    assert "8613800010001" not in events
    assert "8613900020002" not in events


def test_nothing_is_sent_without_a_dsn(
    app_config: dict[str, Any], sentry_server: tuple[str, list[bytes]]
) -> None:
    _dsn, received = sentry_server
    run_script(app_config)
    assert received == []
