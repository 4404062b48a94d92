"""Hand-written SQL on the driver's own connection, for the few paths that run on every text.

SQLAlchemy spends 20-130 µs of Python on each statement before the database sees it, and the
inbound SMS webhook runs five or six statements per text. The statements here are plain SQL
that SQLite and PostgreSQL both accept, written once with `:name` parameters and run on the
DBAPI connection beneath a SQLAlchemy `Connection`, in that connection's transaction. Only
the values SQLAlchemy would have converted are converted here: times (naive UTC: a string in
SQLite's format, a datetime for PostgreSQL) and JSON (text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class Sql:
    """One statement with `:name` parameters, rendered once per driver's parameter style.

    Parameters are found by pattern, so a statement keeps `:word` out of its string literals.
    """

    __slots__ = ("_pyformat", "text")

    def __init__(self, text: str) -> None:
        if "%" in text:
            raise ValueError("write % as a parameter: the pyformat drivers would read it")
        self.text = " ".join(text.split())
        self._pyformat = _NAMED.sub(r"%(\1)s", self.text)

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"


@lru_cache(maxsize=64)
def _sqlite_time(at: datetime) -> str:
    # SQLAlchemy's format for SQLite; a request binds the same few instants several times.
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class Raw:
    """The DBAPI connection under a SQLAlchemy connection, and how its values look."""

    driver: Any
    sqlite: bool
    # The driver's own exception for a unique key that failed (SQLAlchemy wraps only its own).
    integrity_error: type[Exception]

    @classmethod
    def of(cls, connection: Connection) -> Raw:
        """The raw side of a SQLAlchemy connection (in whatever transaction it is in)."""
        dialect = connection.dialect
        return cls(
            connection.connection.driver_connection,
            dialect.name == "sqlite",
            dialect.loaded_dbapi.IntegrityError,
        )

    def begin_write(self) -> None:
        """Start a transaction that will write, reading from the start what it will change.

        SQLite takes its one write lock now (waiting its busy timeout for it): a transaction
        that read first and wrote later would fail, not wait, if another wrote in between.
        PostgreSQL's row locks need nothing; its driver opens the transaction by itself.
        """
        if self.sqlite:
            self.driver.execute("BEGIN IMMEDIATE")

    def run(self, sql: Sql, params: dict[str, Any]) -> Any:
        """Execute; the driver's cursor is returned for fetching."""
        return self.driver.execute(sql.text if self.sqlite else sql._pyformat, params)

    def one(self, sql: Sql, params: dict[str, Any]) -> Any:
        """The first row (a tuple), or None."""
        cursor = self.run(sql, params)
        row = cursor.fetchone()
        if self.sqlite:
            cursor.close()  # ends the statement now, so it holds no read snapshot open
        return row

    def time(self, at: datetime | None) -> Any:
        """A time bound the way SQLAlchemy's UTC column stores it."""
        if at is None:
            return None
        return _sqlite_time(at) if self.sqlite else at.astimezone(UTC).replace(tzinfo=None)

    def read_time(self, value: Any) -> datetime | None:
        """A stored time back as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        result: datetime = value.replace(tzinfo=UTC)
        return result

    @staticmethod
    def json(value: Any) -> str | None:
        """A value for a JSON column (SQLAlchemy writes the same text)."""
        return None if value is None else json.dumps(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        """A JSON column's value: SQLite gives text, psycopg the parsed value."""
        return json.loads(value) if isinstance(value, str) else value
