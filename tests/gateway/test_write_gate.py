"""The write gate: SQLite writers queue on a thread lock and an flock beside the database."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from infra.db import GateTimeout, WriteGate
from tests.support import wait_until

WAIT = 10.0  # seconds any expected event may take (a spawned child imports the app first)
STILL_WAITING = 0.3  # how long a waiter is watched to stay out while the gate is held


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[WriteGate]:
    """A gate on a lock file in the test's directory; its file is closed afterwards."""
    made = WriteGate(str(tmp_path / "test.db.write-lock"))
    yield made
    if made._fd is not None:
        os.close(made._fd)


class Waiter:
    """A thread that takes the gate, noting when it has asked and when it got in."""

    def __init__(self, gate: WriteGate) -> None:
        self.asking = threading.Event()
        self.inside = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(gate,), daemon=True)
        self.thread.start()

    def _run(self, gate: WriteGate) -> None:
        try:
            self.asking.set()
            with gate.hold():
                self.inside.set()
        except BaseException as exc:
            self.errors.append(exc)

    def finish(self) -> None:
        """Wait for the thread to end; fail on its error or if it hangs."""
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert self.errors == []


# --- which gate an engine gets ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://gateway@localhost/gateway",
        "sqlite:///:memory:",
        "sqlite://",
    ],
)
def test_open_gate_for_postgresql_and_memory(url: str) -> None:
    """PostgreSQL and in-memory SQLite get an open gate with no lock file."""
    engine = create_engine(url)
    try:
        assert WriteGate.for_engine(engine).lock_path is None
    finally:
        engine.dispose()


def test_sqlite_file_gets_a_lock_beside_it(tmp_path: Path) -> None:
    """A SQLite file's gate locks `<absolute path>.write-lock`."""
    engine = create_engine(f"sqlite:///{tmp_path / 'infra.db'}")
    try:
        assert WriteGate.for_engine(engine).lock_path == f"{tmp_path / 'infra.db'}.write-lock"
    finally:
        engine.dispose()


def test_relative_sqlite_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative SQLite path is locked by its absolute name, the same from any later cwd."""
    monkeypatch.chdir(tmp_path)
    engine = create_engine("sqlite:///var/infra.db")
    try:
        lock_path = WriteGate.for_engine(engine).lock_path
    finally:
        engine.dispose()
    assert lock_path == f"{tmp_path}/var/infra.db.write-lock"


def test_open_gate_lets_everyone_in_at_once() -> None:
    """An open gate does not hold a second writer back while a first is inside."""
    gate = WriteGate(None)
    with gate.hold():
        waiter = Waiter(gate)
        assert waiter.inside.wait(WAIT)
    waiter.finish()
    assert gate._fd is None  # no lock file was opened


# --- threads ----------------------------------------------------------------------------------


def test_second_thread_waits_for_the_first(gate: WriteGate) -> None:
    """While one thread holds the gate another's hold() waits, and gets in on release."""
    with gate.hold():
        waiter = Waiter(gate)
        assert waiter.asking.wait(WAIT)
        assert not waiter.inside.wait(STILL_WAITING)
    assert waiter.inside.wait(WAIT)
    waiter.finish()


def test_gate_is_released_when_the_block_raises(gate: WriteGate) -> None:
    """A writer that fails inside the gate still lets the next one in."""
    with pytest.raises(RuntimeError), gate.hold():
        raise RuntimeError("the transaction failed")
    waiter = Waiter(gate)
    assert waiter.inside.wait(WAIT)
    waiter.finish()


def test_lock_file_is_created_beside_the_database(gate: WriteGate) -> None:
    """Holding the gate creates its lock file, readable by its owner only."""
    assert gate.lock_path is not None and not os.path.exists(gate.lock_path)
    with gate.hold():
        assert os.path.exists(gate.lock_path)
    assert os.stat(gate.lock_path).st_mode & 0o777 == 0o600


# --- processes --------------------------------------------------------------------------------


def _hold_in_child(lock_path: str, held: ProcessEvent, release: ProcessEvent) -> None:
    """In a child process: hold a gate of its own on the same file until told to let go."""
    gate = WriteGate(lock_path)
    with gate.hold():
        held.set()
        if not release.wait(WAIT):
            raise SystemExit(3)


def test_other_process_holding_the_gate_makes_this_one_wait(tmp_path: Path) -> None:
    """A process's hold() waits while another process holds the gate of the same database."""
    lock_path = str(tmp_path / "shared.db.write-lock")
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    child = context.Process(target=_hold_in_child, args=(lock_path, held, release))
    child.start()
    gate = WriteGate(lock_path)
    try:
        assert held.wait(WAIT), "the child did not take the gate"
        waiter = Waiter(gate)
        assert waiter.asking.wait(WAIT)
        assert not waiter.inside.wait(STILL_WAITING)
        release.set()
        assert waiter.inside.wait(WAIT)
        waiter.finish()
    finally:
        release.set()
        child.join(WAIT)
        if child.is_alive():
            child.kill()
            child.join()
        if gate._fd is not None:
            os.close(gate._fd)
    assert child.exitcode == 0


# --- fork -------------------------------------------------------------------------------------


def test_lock_file_is_opened_again_in_a_new_process(gate: WriteGate) -> None:
    """After a pid change the gate opens its own file, which the inherited one's lock excludes."""
    inherited = gate._lock_file()
    assert gate._lock_file() == inherited  # one open file per process
    fcntl.flock(inherited, fcntl.LOCK_EX)  # the parent holds the gate
    try:
        gate._pid = os.getpid() + 1  # as if this were a forked child
        own = gate._lock_file()
        try:
            assert own != inherited and gate._pid == os.getpid()
            with pytest.raises(BlockingIOError):
                fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(own)
            gate._fd = None
    finally:
        os.close(inherited)


# --- a deadline -------------------------------------------------------------------------------


def test_a_writer_gives_up_at_its_timeout_while_another_process_holds_the_gate(
    tmp_path: Path,
) -> None:
    """hold(timeout) raises GateTimeout (SQLite's "database is locked") when the turn has not
    come in time; a later writer gets in once the other process lets go; nobody waiting, the
    helper that was left waiting lets go at once."""
    lock_path = str(tmp_path / "shared.db.write-lock")
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    child = context.Process(target=_hold_in_child, args=(lock_path, held, release))
    child.start()
    gate = WriteGate(lock_path)
    try:
        assert held.wait(WAIT), "the child did not take the gate"
        started = time.monotonic()
        with pytest.raises(GateTimeout), gate.hold(timeout=0.3):
            pytest.fail("got in while the other process held the gate")
        assert 0.25 <= time.monotonic() - started < 2
        assert isinstance(GateTimeout(), sqlite3.OperationalError)
        got_in = threading.Event()

        def take() -> None:
            with gate.hold(timeout=WAIT):
                got_in.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not got_in.wait(STILL_WAITING)
        release.set()
        assert got_in.wait(WAIT)  # handed over by the helper the timed-out writer left
        waiter.join(WAIT)
        # The gate is free again for this process and for others.
        with gate.hold(timeout=1):
            pass
        other = os.open(lock_path, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    finally:
        release.set()
        child.join(WAIT)
        if child.is_alive():
            child.kill()
            child.join()
        if gate._fd is not None:
            os.close(gate._fd)


def test_a_helper_left_without_a_writer_lets_go(tmp_path: Path) -> None:
    """A writer that timed out leaves no lock behind once the gate comes free."""
    lock_path = str(tmp_path / "solo.db.write-lock")
    gate = WriteGate(lock_path)
    blocker = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(blocker, fcntl.LOCK_EX)
    try:
        with pytest.raises(GateTimeout), gate.hold(timeout=0.1):
            pass
    finally:
        fcntl.flock(blocker, fcntl.LOCK_UN)
    wait_until(lambda: not gate._pending, timeout=WAIT)
    try:
        fcntl.flock(blocker, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody kept it
    finally:
        os.close(blocker)
        if gate._fd is not None:
            os.close(gate._fd)
