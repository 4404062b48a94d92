"""The database engine and sessions: one engine per app, one session per request or job."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from models.outbox import TEMPLATE_RULES_KEY
from models.sms_templates import TemplateRules

# SQLite's busy timeout where no timeouts are given (migrations, scripts).
DEFAULT_BUSY_TIMEOUT_S = 30


@dataclass(frozen=True)
class DbTimeouts:
    """How long the app waits on the database: short in web requests, longer in jobs.

    Twilio gives up on a webhook after 15 s; with these a webhook whose database cannot serve
    it answers 503 well before that (waits for a pooled connection, a new connection, a lock
    and one statement each have their bound, and a failed one ends the request).
    """

    connect_s: int = 3
    pool_s: float = 2.0
    web_lock_s: float = 3.0
    web_statement_s: float = 4.0
    job_s: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DbTimeouts:
        """The timeouts the settings name (infra.config)."""
        return cls(
            connect_s=int(config["DB_CONNECT_TIMEOUT_S"]),
            pool_s=float(config["DB_POOL_TIMEOUT_S"]),
            web_lock_s=float(config["DB_LOCK_TIMEOUT_S"]),
            web_statement_s=float(config["DB_STATEMENT_TIMEOUT_S"]),
            job_s=float(config["DB_JOB_TIMEOUT_S"]),
        )

    def lock_and_statement_ms(self, web: bool) -> tuple[int, int]:
        """The lock and statement timeouts in milliseconds, for a web request or not."""
        if web:
            return round(self.web_lock_s * 1000), round(self.web_statement_s * 1000)
        return round(self.job_s * 1000), round(self.job_s * 1000)


def make_engine(url: str, timeouts: DbTimeouts | None = None, **kwargs: Any) -> Engine:
    """An engine tuned for its backend: WAL and foreign keys for SQLite, pre-ping for others.

    With `timeouts`, every wait on the database is bounded, and a connection handed out in a
    web request carries the web's lock and statement timeouts, elsewhere the jobs' ones.
    """
    sqlite = url.startswith("sqlite")
    busy_s = timeouts.job_s if timeouts is not None else DEFAULT_BUSY_TIMEOUT_S
    if timeouts is not None:
        kwargs.setdefault("pool_timeout", timeouts.pool_s)
    if sqlite:
        engine = create_engine(url, connect_args={"timeout": busy_s}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={round(busy_s * 1000)}")
            cursor.close()

    else:
        if timeouts is not None:
            connect_args = dict(kwargs.pop("connect_args", {}))
            connect_args.setdefault("connect_timeout", timeouts.connect_s)
            kwargs["connect_args"] = connect_args
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if timeouts is not None:
        _timeouts_by_context(engine, timeouts, sqlite=sqlite)
    return engine


def _timeouts_by_context(engine: Engine, timeouts: DbTimeouts, *, sqlite: bool) -> None:
    """Set a connection's lock and statement timeouts when it is handed out, if they change.

    A web process hands out connections in requests only, a worker outside them, so each
    connection is set once; the check costs a dictionary lookup per checkout.
    """

    @event.listens_for(engine, "checkout")
    def _apply(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        web = has_request_context()
        if record.info.get("web_timeouts") is web:
            return
        lock_ms, statement_ms = timeouts.lock_and_statement_ms(web)
        cursor = dbapi_conn.cursor()
        try:
            if sqlite:
                cursor.execute(f"PRAGMA busy_timeout={lock_ms}")
            else:
                cursor.execute(f"SET statement_timeout = {statement_ms}")
                cursor.execute(f"SET lock_timeout = {lock_ms}")
        finally:
            cursor.close()
        if not sqlite:
            dbapi_conn.commit()  # a later rollback must not undo the settings
        record.info["web_timeouts"] = web


def init_app(app: Flask) -> None:
    """Build the engine and session factory for the app and close sessions after requests."""
    timeouts = DbTimeouts.from_config(app.config)
    url = app.config["DATABASE_URL"]
    pool: dict[str, int] = {}
    if not url.startswith("sqlite"):
        # The connection budget (README, Production deployment): per process, at most
        # DB_POOL_SIZE + DB_POOL_OVERFLOW connections to PostgreSQL.
        pool = {
            "pool_size": app.config["DB_POOL_SIZE"],
            "max_overflow": app.config["DB_POOL_OVERFLOW"],
        }
    engine = make_engine(url, timeouts, **pool)
    app.extensions["db_engine"] = engine
    app.extensions["db_timeouts"] = timeouts
    # A template provider's limits ride on every session, so the outbox checks a row's
    # parameters as it is queued, whoever queues it (models.outbox.queue_sms).
    info = {TEMPLATE_RULES_KEY: TemplateRules.from_config(app.config)}
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    app.extensions["db_write_gate"] = WriteGate.for_engine(engine)
    app.teardown_appcontext(_close_session)


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def get_session() -> Session:
    """The session of the current request or job (one per app context)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    session: Session = g.db_session
    return session


def engine() -> Engine:
    """The current app's engine."""
    eng: Engine = current_app.extensions["db_engine"]
    return eng


class WriteGate:
    """A queue for SQLite's one write lock, for the webhooks that write on every request.

    A writer SQLite turns away polls for the lock, sleeping 1, 2, 5 ms and more between tries,
    while the lock is usually free again within a fraction of a millisecond: under load the
    workers sleep instead of working. Writers that take this gate first (a thread lock within
    the process, an flock beside the database across processes) are woken the moment the
    previous one is done. PostgreSQL locks rows, not the database: its gate lets all through.
    """

    def __init__(self, lock_path: str | None) -> None:
        self.lock_path = lock_path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._reset_handoff()

    def _reset_handoff(self) -> None:
        # A thread blocked in flock() for this process (`pending`), whether a writer waits for
        # it (`wanted`), and whether it got the lock for that writer (`handed`).
        self._cond = threading.Condition()
        self._pending = self._wanted = self._handed = False

    @classmethod
    def for_engine(cls, engine: Engine) -> WriteGate:
        """The gate for an engine's database (an open gate unless it is a SQLite file)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return cls(None)
        return cls(os.path.abspath(database) + ".write-lock")

    @contextlib.contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Wait for the turn to write; the caller's transaction must end inside the block.

        With `timeout`, GateTimeout (SQLite's "database is locked") if the turn has not come
        by then: writers queued behind one that waits out a lock taken outside the gate must
        not wait for each in turn.
        """
        if self.lock_path is None:
            yield
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise GateTimeout
        try:
            fd = self._lock_file()
            self._take(fd, deadline)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _take(self, fd: int, deadline: float | None) -> None:
        """Take the flock, waiting until the deadline at most.

        flock() itself cannot time out, and polling it would bring back SQLite's sleeps. So a
        helper thread blocks in flock() and hands the lock to the writer waiting then; if that
        writer gave up, the next one takes it over, and with none waiting it lets go at once.
        """
        with self._cond:
            if not self._pending:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    self._pending = True
                    helper = threading.Thread(
                        target=self._flock_for_writer, args=(fd,), name="write-gate", daemon=True
                    )
                    helper.start()
            self._wanted = True
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                got = self._cond.wait_for(lambda: self._handed, timeout=remaining)
            finally:
                self._wanted = False
            if not got:
                raise GateTimeout
            self._handed = False

    def _flock_for_writer(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._cond:
            self._pending = False
            if self._wanted:
                self._handed = True
                self._cond.notify_all()
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int:
        # One open file per process: an flock is shared by every process holding the same
        # open file, so a descriptor inherited through fork() would not keep them apart.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.lock_path or "", os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            self._reset_handoff()  # a helper thread of the parent's is not in this process
        return self._fd


class GateTimeout(sqlite3.OperationalError):
    """The write gate did not come free in time: to the caller, a locked SQLite database."""

    def __init__(self) -> None:
        super().__init__("database is locked (the write gate was not free in time)")


def write_gate() -> WriteGate:
    """The current app's write gate."""
    gate: WriteGate = current_app.extensions["db_write_gate"]
    return gate


def write_gate_timeout() -> float | None:
    """How long a web request waits at the write gate: its lock timeout; a job, its own."""
    timeouts: DbTimeouts | None = current_app.extensions.get("db_timeouts")
    if timeouts is None:
        return None
    return timeouts.web_lock_s if has_request_context() else timeouts.job_s
