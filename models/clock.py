"""The one clock every process reads: the real one, or one a test moves for all processes.

In production `utcnow()` is `datetime.now(UTC)`. With the `CLOCK_FILE` setting (development and
tests only), every process that built the app adds the number of seconds that file holds, so a
test can let a month pass in the web, worker and scheduler processes at once while each of them
still sees time flow between two moves.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

_path: Path | None = None
_seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
_offset = timedelta(0)


def use_clock_file(path: str | os.PathLike[str] | None) -> None:
    """Read the offset from this file from now on (None or "" for the real clock)."""
    global _path, _seen, _offset
    _path = Path(path) if path else None
    _seen, _offset = None, timedelta(0)


def _current_offset() -> timedelta:
    global _seen, _offset
    if _path is None:
        return timedelta(0)
    try:
        stat = _path.stat()
    except FileNotFoundError:
        _seen, _offset = None, timedelta(0)
        return _offset
    key = (stat.st_mtime_ns, stat.st_size)
    if key != _seen:
        text = _path.read_text().strip()
        try:
            _offset = timedelta(seconds=float(text or 0))
        except ValueError:
            # A half-written file is read again on the next call; until then keep the last.
            return _offset
        _seen = key
    return _offset


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (moved by the clock file, if one is set)."""
    return datetime.now(UTC) + _current_offset()


def wall_time(at: datetime) -> datetime:
    """The real instant at which the shared clock will show `at` (for schedulers on real time)."""
    return at - _current_offset()


def set_clock_file(path: str | os.PathLike[str], now: datetime) -> None:
    """Make every process reading `path` see `now` at this moment (tests and the simulator)."""
    target = Path(path)
    offset = (now - datetime.now(UTC)).total_seconds()
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{offset:.6f}\n")
    os.replace(tmp, target)


__all__ = ["set_clock_file", "use_clock_file", "utcnow", "wall_time"]
