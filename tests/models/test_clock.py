"""The shared clock: real by default, moved for every process through the clock file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import create_app
from infra.config import ConfigError, load_config
from models import clock


@pytest.fixture(autouse=True)
def _real_clock_after() -> Iterator[None]:
    yield
    clock.use_clock_file(None)


def test_real_clock_without_a_file() -> None:
    """With no clock file the clock is the real one."""
    clock.use_clock_file(None)
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=1)


def test_clock_file_moves_the_clock(tmp_path: Path) -> None:
    """A time written to the clock file is what utcnow() shows, and time flows on from it."""
    path = tmp_path / "clock"
    clock.use_clock_file(path)
    target = datetime(2026, 11, 1, 11, 5, tzinfo=UTC)
    clock.set_clock_file(path, target)
    first = clock.utcnow()
    assert abs(first - target) < timedelta(seconds=1)
    assert clock.utcnow() >= first
    later = target + timedelta(days=9, hours=3)
    clock.set_clock_file(path, later)
    assert abs(clock.utcnow() - later) < timedelta(seconds=1)


def test_wall_time_is_the_inverse(tmp_path: Path) -> None:
    """wall_time gives the real instant at which the moved clock shows a time."""
    path = tmp_path / "clock"
    clock.use_clock_file(path)
    clock.set_clock_file(path, datetime(2027, 1, 5, 12, 0, tzinfo=UTC))
    due = clock.utcnow() + timedelta(minutes=30)
    assert abs(clock.wall_time(due) - (datetime.now(UTC) + timedelta(minutes=30))) < timedelta(
        seconds=1
    )


@pytest.mark.parametrize("content", ["", "not a number\n"])
def test_unreadable_file_keeps_the_last_offset(tmp_path: Path, content: str) -> None:
    """An empty or half-written file never throws; the last good offset stays."""
    path = tmp_path / "clock"
    clock.use_clock_file(path)
    clock.set_clock_file(path, datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.utcnow().year == 2030
    path.write_text(content)
    assert clock.utcnow().year == (datetime.now(UTC).year if content == "" else 2030)


def test_missing_file_is_the_real_clock(tmp_path: Path) -> None:
    """A clock file that does not exist (yet) leaves the real clock."""
    clock.use_clock_file(tmp_path / "nothing-here")
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=1)


def test_create_app_reads_the_clock_file(tmp_path: Path) -> None:
    """The CLOCK_FILE setting is what every process (web, worker, CLI) reads."""
    path = tmp_path / "clock"
    clock.set_clock_file(path, datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "CLOCK_FILE": str(path)})
    assert clock.utcnow().date().isoformat() == "2026-12-31"


def test_clock_file_refused_with_twilio(tmp_path: Path) -> None:
    """Production never runs on a moved clock."""
    with pytest.raises(ConfigError, match="CLOCK_FILE"):
        load_config(
            {
                "PROVIDER": "twilio",
                "TWILIO_AUTH_TOKEN": "t",
                "SECRET_KEY": "s",
                "PUBLIC_BASE_URL": "https://x.example.org",
                "CLOCK_FILE": str(tmp_path / "clock"),
            },
            environ={},
        )
