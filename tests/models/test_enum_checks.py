"""Every enum column refuses a value outside its enum in the database itself, whoever writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import JSON, Boolean, Column, Date, Engine, Enum, Integer, Table, text
from sqlalchemy.exc import IntegrityError

import models  # noqa: F401 - every table on the metadata
from infra.db import make_engine
from models.base import Base, UTCDateTime

ENUM_COLUMNS = sorted(
    (table.name, column.name)
    for table in Base.metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, Enum)
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database made by the migrations."""
    created = make_engine(db_url)
    yield created
    created.dispose()


def _plausible(column: Column[object]) -> object:
    """A value the column takes (its enum's first), so only the column under test is wrong."""
    kind = column.type
    if isinstance(kind, Enum):
        return kind.enums[0]
    if isinstance(kind, UTCDateTime):
        return datetime(2025, 3, 1, tzinfo=UTC).replace(tzinfo=None)
    if isinstance(kind, Date):
        return date(2025, 3, 1)
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, JSON):
        return "{}"
    return "x"


def test_every_enum_column_is_covered() -> None:
    """The list below is read from the models: the enums of issue 12 are among them."""
    assert {
        ("calls", "direction"),
        ("calls", "purpose"),
        ("callback_requests", "reason"),
        ("callback_requests", "status"),
        ("member_changes", "source"),
        ("help_requests", "channel"),
        ("reminder_steps", "step"),
        ("organizations", "host_kind"),
        ("audit_logs", "action"),
    } <= set(ENUM_COLUMNS)


@pytest.mark.parametrize(("table_name", "column_name"), ENUM_COLUMNS)
def test_a_value_outside_the_enum_is_refused_by_the_named_check(
    engine: Engine, table_name: str, column_name: str
) -> None:
    """Raw SQL (no SQLAlchemy enum in the way) writing `?` fails on ck_<table>_<column>."""
    table: Table = Base.metadata.tables[table_name]
    written = [
        column
        for column in table.columns
        if column.name == column_name or (not column.nullable and not column.primary_key)
    ]
    values = {column.name: _plausible(column) for column in written}
    values[column_name] = "?"  # short enough for every column, in no enum
    names = ", ".join(column.name for column in written)
    params = ", ".join(f":{column.name}" for column in written)
    with engine.connect() as conn, pytest.raises(IntegrityError) as refused:
        conn.execute(text(f"INSERT INTO {table_name} ({names}) VALUES ({params})"), values)
    assert f"ck_{table_name}_{column_name}" in str(refused.value.orig)
