"""The database engine and sessions: one engine per app, one session per request or job."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for its backend: WAL and foreign keys for SQLite, pre-ping for others."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)


def init_app(app: Flask) -> None:
    """Build the engine and session factory for the app and close sessions after requests."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
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

    @classmethod
    def for_engine(cls, engine: Engine) -> WriteGate:
        """The gate for an engine's database (an open gate unless it is a SQLite file)."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return cls(None)
        return cls(os.path.abspath(database) + ".write-lock")

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for the turn to write; the caller's transaction must end inside the block."""
        if self.lock_path is None:
            yield
            return
        with self._thread_lock:
            fd = self._lock_file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int:
        # One open file per process: an flock is shared by every process holding the same
        # open file, so a descriptor inherited through fork() would not keep them apart.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.lock_path or "", os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


def write_gate() -> WriteGate:
    """The current app's write gate."""
    gate: WriteGate = current_app.extensions["db_write_gate"]
    return gate
