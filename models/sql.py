"""Hand-written SQL on the driver's own connection, for the few paths that run on every text.

SQLAlchemy spends 20-130 µs of Python on each statement before the database sees it, and the
inbound SMS webhook runs five or six statements per text. The statements here are plain SQL
that SQLite and PostgreSQL both accept, written once with `:name` parameters and run on the
DBAPI connection beneath a SQLAlchemy `Connection`, in that connection's transaction. Only
the values SQLAlchemy would have converted are converted here: times (naive UTC: a string in
SQLite's format, a datetime for PostgreSQL) and JSON (text).

Statements that write one table are built from its metadata (`insert_into`, `update_of`) when
the module is imported: the columns come from the table, so a name that is not a column fails
at import, and every column the caller does not give gets the model's own default (scalars
rendered once, callables such as utcnow called per row), as the ORM would.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Column, Connection, Table
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from models.base import UTCDateTime

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

    def run_many(self, sql: Sql, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of parameters, in one call to the driver."""
        if self.sqlite:
            self.driver.executemany(sql.text, rows)
            return
        with self.driver.cursor() as cursor:
            cursor.executemany(sql._pyformat, rows)

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


# --- statements built from a table -------------------------------------------------------------


def _table_of(of: Table | type[Any]) -> Table:
    """A table, or the table of a mapped class."""
    table = of if isinstance(of, Table) else of.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{of!r} is not a table")
    return table


def _columns(table: Table, names: Iterable[str]) -> list[Column[Any]]:
    """The table's columns of these names; a name that is not a column fails here, at import."""
    found = []
    for name in names:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name!r}")
        found.append(table.c[name])
    return found


def _stored(value: Any) -> Any:
    """A scalar default as the driver takes it: an enum member as its value."""
    return value.value if isinstance(value, enum.Enum) else value


def _maker(column: Column[Any]) -> Callable[[Raw], Any]:
    """A column's callable default, called per row and converted as the column stores it."""
    default = column.default
    assert isinstance(default, CallableColumnDefault)
    # SQLAlchemy wrapped it to take an execution context, which the defaults here ignore.
    make: Callable[[Any], Any] = default.arg

    if isinstance(column.type, UTCDateTime):
        return lambda raw: raw.time(make(None))
    if isinstance(column.type, JSON):
        return lambda raw: raw.json(make(None))
    return lambda raw: _stored(make(None))


@dataclass(frozen=True, slots=True)
class Insert:
    """An INSERT of a table's row, with the model's defaults for the columns not given.

    Parameters are named after the columns. `defaults` holds the scalar defaults in stored
    form, `computed` the callable defaults; `names` are the columns the statement writes.
    """

    table: Table
    sql: Sql
    names: frozenset[str]
    defaults: Mapping[str, Any]
    computed: tuple[tuple[str, Callable[[Raw], Any]], ...]

    def params(self, raw: Raw, values: Mapping[str, Any]) -> dict[str, Any]:
        """The statement's parameters: the values given, the defaults for the rest.

        A value for a column the statement does not write is refused (the drivers would
        drop it without a word).
        """
        if not values.keys() <= self.names:
            unknown = sorted(values.keys() - self.names)
            raise KeyError(f"INSERT INTO {self.table.name} writes no {unknown}")
        params = dict(self.defaults)
        params.update(values)
        for name, make in self.computed:
            if name not in values:
                params[name] = make(raw)
        return params

    def run(self, raw: Raw, values: Mapping[str, Any]) -> Any:
        """Execute with these column values; the driver's cursor is returned."""
        return raw.run(self.sql, self.params(raw, values))

    def one(self, raw: Raw, values: Mapping[str, Any]) -> Any:
        """Execute and return the first row (for a statement with RETURNING)."""
        return raw.one(self.sql, self.params(raw, values))


def insert_into(
    of: Table | type[Any],
    *,
    given: Iterable[str] = (),
    conflict: Iterable[str] = (),
    update: Iterable[str] = (),
    also: Mapping[str, str] | None = None,
    returning: Iterable[str] = (),
) -> Insert:
    """Build the INSERT of a row of `table`, once, at import.

    The statement writes every column that is not null or has a default (the model's, which
    fills it when the caller gives none), and the nullable columns named in `given` or
    `update`; the others are left to the database, NULL, as the ORM leaves them (a column
    fewer to bind on every text). `conflict` names a unique key; on a conflict the `update`
    columns take the new row's values (`excluded`) and `also` sets columns to SQL expressions
    of their own. `returning` names columns to return.
    """
    table = _table_of(of)
    key = table.autoincrement_column
    updated = _columns(table, update)
    optional = {column.name for column in _columns(table, given)}
    optional |= {column.name for column in updated}
    columns = [
        column
        for column in table.columns
        if column is not key
        and (column.name in optional or not column.nullable or column.default is not None)
    ]
    defaults: dict[str, Any] = {}
    computed: list[tuple[str, Callable[[Raw], Any]]] = []
    for column in columns:
        default = column.default
        if default is None:
            if column.nullable:
                defaults[column.name] = None
        elif isinstance(default, ScalarElementColumnDefault):
            defaults[column.name] = _stored(default.arg)
        elif isinstance(default, CallableColumnDefault):
            computed.append((column.name, _maker(column)))
        else:
            raise ValueError(f"{table.name}.{column.name}: a default the fast path cannot copy")
    names = ", ".join(column.name for column in columns)
    values = ", ".join(f":{column.name}" for column in columns)
    text = f"INSERT INTO {table.name} ({names}) VALUES ({values})"
    conflict_columns = _columns(table, conflict)
    sets = [f"{column.name} = excluded.{column.name}" for column in updated]
    sets += [f"{column.name} = {expression}" for column, expression in _extra(table, also)]
    if conflict_columns:
        keys = ", ".join(column.name for column in conflict_columns)
        text += f" ON CONFLICT ({keys}) DO UPDATE SET {', '.join(sets)}"
    elif sets:
        raise ValueError("update and also need a conflict key")
    returned = _columns(table, returning)
    if returned:
        text += " RETURNING " + ", ".join(column.name for column in returned)
    written = frozenset(column.name for column in columns)
    return Insert(table, Sql(text), written, defaults, tuple(computed))


def _extra(table: Table, also: Mapping[str, str] | None) -> list[tuple[Column[Any], str]]:
    items = list((also or {}).items())
    return list(
        zip(_columns(table, [name for name, _ in items]), [e for _, e in items], strict=True)
    )


def update_of(
    of: Table | type[Any],
    *,
    set: Iterable[str] = (),
    also: Mapping[str, str] | None = None,
    where: Iterable[str],
    returning: Iterable[str] = (),
) -> Sql:
    """Build a simple UPDATE of `table`, once, at import.

    `set` columns take parameters of their own names, `also` columns SQL expressions; `where`
    columns must equal parameters of their own names (`id` for the key). A name that is not a
    column of the table fails here.
    """
    table = _table_of(of)
    sets = [f"{column.name} = :{column.name}" for column in _columns(table, set)]
    sets += [f"{column.name} = {expression}" for column, expression in _extra(table, also)]
    if not sets:
        raise ValueError("an UPDATE sets something")
    conditions = [f"{column.name} = :{column.name}" for column in _columns(table, where)]
    text = f"UPDATE {table.name} SET {', '.join(sets)}"
    if conditions:
        text += " WHERE " + " AND ".join(conditions)
    returned = _columns(table, returning)
    if returned:
        text += " RETURNING " + ", ".join(column.name for column in returned)
    return Sql(text)
