"""A database that cannot serve a webhook: 503 well within Twilio's 15 s, nothing half-written."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from gateway import create_app
from infra.db import get_session
from models import Call, Message, Report
from tests.factories import make_member, make_tree
from tests.support import TwilioClient, make_config

GUARANTEE_S = 10.0  # every webhook answers by then
SLACK_S = 2.0  # a loaded machine's margin over a bound: these are guarantees, not benchmarks


def within(seconds: float, call: Callable[[], Any]) -> tuple[Any, float]:
    """Run `call` in a thread; fail if it has not returned after `seconds`. Its result and time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"no answer after {seconds:.0f} s"
    if "error" in box:
        raise box["error"]
    return box["result"], elapsed


def text_params(sender: str, body: str, sid: str | None = None) -> dict[str, str]:
    """An inbound SMS as Twilio posts it."""
    return {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": sender, "Body": body}


def call_params(caller: str) -> dict[str, str]:
    """A call to the hotline as Twilio posts it."""
    return {"CallSid": "CA" + uuid.uuid4().hex, "From": caller, "To": "+8610690000"}


# --- (a) a server that accepts connections and never answers --------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts every connection and never says a word; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for sock in held:
        sock.close()


@pytest.fixture
def silent_app(silent_server: int, redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app, with the default timeouts, on a 'PostgreSQL' that never answers."""
    url = f"postgresql+psycopg://gateway@127.0.0.1:{silent_server}/gateway"
    app = create_app(make_config(url, redis_url, tmp_path))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/sms", text_params("+8613800000001", "HB 1")),
        ("/voice", call_params("+8613800000001")),
        ("/voice/status", {**call_params("+8613800000001"), "CallStatus": "completed"}),
        ("/status", {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}),
    ],
)
def test_a_database_that_never_answers_gets_503_within_10_s(
    silent_app: Flask, path: str, params: dict[str, str]
) -> None:
    """Connecting gives up after DB_CONNECT_TIMEOUT_S (3 s), and the webhook answers 503."""
    twilio = TwilioClient(silent_app.test_client())
    response, elapsed = within(GUARANTEE_S + SLACK_S, lambda: twilio.post(path, params))
    assert response.status_code == 503
    assert elapsed < GUARANTEE_S + SLACK_S


# --- (b) SQLite locked by another process -----------------------------------------------------


class SqliteLocker:
    """Another process holding SQLite's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, path: Path) -> None:
        code = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
            "c.rollback()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        """Let go of the lock and end the process."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "locked.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


def _app(url: str, redis_url: str, tmp_path: Path, **settings: Any) -> Flask:
    app = create_app(make_config(url, redis_url, tmp_path, **settings))
    with app.app_context():
        session = get_session()
        _, branch, _ = make_tree(session)
        make_member(session, branch, phone="+8613800000001")
        session.commit()
    return app


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(get_session().scalar(select(func.count()).select_from(model).where(*where)))


@pytest.mark.parametrize("lock_timeout", [1.0, 3.0])
def test_sqlite_locked_by_another_process_gets_503_then_the_retry_is_stored_once(
    sqlite_url: str, redis_url: str, tmp_path: Path, lock_timeout: float
) -> None:
    """/sms and /voice answer 503 after DB_LOCK_TIMEOUT_S (at most 10 s with the default 3 s);
    the same text sent again after the lock is gone is stored, once, with its report."""
    app = _app(sqlite_url, redis_url, tmp_path, DB_LOCK_TIMEOUT_S=lock_timeout)
    twilio = TwilioClient(app.test_client())
    params = text_params("+8613800000001", "HB 1")
    locker = SqliteLocker(Path(make_url(sqlite_url).database or ""))
    try:
        for path, form in (("/sms", params), ("/voice", call_params("+8613800000001"))):
            response, elapsed = within(GUARANTEE_S + SLACK_S, lambda: twilio.post(path, form))  # noqa: B023  # called at once
            assert response.status_code == 503, path
            assert lock_timeout * 0.9 <= elapsed < lock_timeout + SLACK_S, path
    finally:
        locker.release()
    assert _count(app, Message) == 0 and _count(app, Call) == 0
    assert twilio.post("/sms", params).status_code == 200
    assert twilio.post("/sms", params).status_code == 200  # Twilio's own retry, later
    assert _count(app, Message, Message.provider_sid == params["MessageSid"]) == 1
    assert _count(app, Report) == 1
    app.extensions["db_engine"].dispose()


def test_texts_queued_behind_a_locked_sqlite_each_get_503_in_time(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Four texts at once while another process holds the lock: each waits its own lock
    timeout at most, not the sum of those before it in the write gate's queue."""
    app = _app(sqlite_url, redis_url, tmp_path, DB_LOCK_TIMEOUT_S=1.0)
    locker = SqliteLocker(Path(make_url(sqlite_url).database or ""))
    results: list[tuple[int, float]] = []

    def send() -> None:
        twilio = TwilioClient(app.test_client())
        started = time.monotonic()
        status = twilio.post("/sms", text_params("+8613800000001", "HB 1")).status_code
        results.append((status, time.monotonic() - started))

    try:
        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(GUARANTEE_S + SLACK_S)
    finally:
        locker.release()
    assert [status for status, _ in results] == [503] * 4
    # One lock timeout at the gate and one in SQLite at most: 2 s, where a queue of four
    # waiting for each other in turn would take 4 s.
    assert max(elapsed for _, elapsed in results) < 2 * 1.0 + 1.0
    app.extensions["db_engine"].dispose()


# --- (c) PostgreSQL with a table locked by another connection --------------------------------


@pytest.mark.parametrize(
    ("path", "table", "model"),
    [("/sms", "messages", Message), ("/voice", "calls", Call)],
)
def test_postgresql_table_locked_gets_503_within_the_lock_timeout(
    postgres_url: str,
    redis_client: Any,
    redis_url: str,
    tmp_path: Path,
    path: str,
    table: str,
    model: Any,
) -> None:
    """Another connection holds a lock the webhook needs: 503 after DB_LOCK_TIMEOUT_S, and
    nothing of the request stays (no report without its text)."""
    app = _app(postgres_url, redis_url, tmp_path, DB_LOCK_TIMEOUT_S=1.0)
    twilio = TwilioClient(app.test_client())
    form = (
        text_params("+8613800000001", "HB 1") if path == "/sms" else call_params("+8613800000001")
    )
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    try:
        with psycopg.connect(plain) as other:
            other.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # reads pass, writes wait
            response, elapsed = within(GUARANTEE_S + SLACK_S, lambda: twilio.post(path, form))
            assert response.status_code == 503
            assert 0.9 <= elapsed < 1.0 + SLACK_S
            other.rollback()
        assert _count(app, model) == 0 and _count(app, Report) == 0
        assert twilio.post(path, form).status_code == 200
        assert _count(app, model) == 1
    finally:
        engine = app.extensions["db_engine"]
        with engine.begin() as conn:  # as the db_url fixture leaves PostgreSQL for the next test
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            conn.execute(text("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(names))))
        engine.dispose()


def test_web_requests_and_jobs_get_their_own_timeouts(
    postgres_url: str, redis_client: Any, redis_url: str, tmp_path: Path
) -> None:
    """A connection used in a request runs with the web's lock and statement timeouts; the
    same pooled connection used by a job afterwards with the jobs' longer ones."""
    app = create_app(make_config(postgres_url, redis_url, tmp_path))
    engine = app.extensions["db_engine"]

    def timeouts() -> tuple[str, str]:
        with engine.connect() as conn:
            return (
                conn.scalar(text("SHOW lock_timeout")),
                conn.scalar(text("SHOW statement_timeout")),
            )

    try:
        with app.test_request_context("/sms"):
            assert timeouts() == ("3s", "4s")
        with app.app_context():
            assert timeouts() == ("1min", "1min")
        assert engine.pool.timeout() == 2.0
    finally:
        engine.dispose()
