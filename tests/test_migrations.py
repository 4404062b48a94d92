"""Migrations: upgrading an empty database gives exactly the models' schema, and they go back down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Dialect, Engine, Enum, inspect
from sqlalchemy.schema import CreateTable

from gateway.migrate import MIGRATIONS, alembic_config, upgrade
from infra.db import make_engine
from models import Base
from tests.empty_db import empty_database


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, db_backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables, on each backend."""
    with empty_database(request, db_backend, tmp_path) as url:
        yield url


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    """An engine on the empty database."""
    eng = make_engine(empty_url)
    yield eng
    eng.dispose()


def differences(engine: Engine) -> list[object]:
    """What autogenerate would write to bring the database to the models (nothing, if in step)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def checks_in(engine: Engine) -> set[tuple[str, str]]:
    """The CHECK constraints of the database, as (table, name)."""
    inspector = inspect(engine)
    return {
        (table, str(check["name"]))
        for table in inspector.get_table_names()
        for check in inspector.get_check_constraints(table)
    }


def checks_of_models(dialect: Dialect) -> set[tuple[str, str]]:
    """The CHECK constraints the models would create, named as NAMING names them."""
    return {
        (table.name, name)
        for table in Base.metadata.tables.values()
        for name in re.findall(
            r"CONSTRAINT (\w+) CHECK", str(CreateTable(table).compile(dialect=dialect))
        )
    }


def test_every_enum_column_has_a_check_named_after_its_table_and_column(
    empty_url: str, engine: Engine
) -> None:
    """`upgrade head` creates exactly the CHECKs the models declare, one per enum column,
    named ck_<table>_<column> (autogenerate compares no CHECKs, so this is their test)."""
    upgrade(empty_url)

    enum_columns = {
        (table.name, f"ck_{table.name}_{column.name}")
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, Enum)
    }
    assert checks_in(engine) == checks_of_models(engine.dialect) == enum_columns


def test_downgrading_0003_removes_the_checks_and_upgrading_restores_them(
    empty_url: str, engine: Engine
) -> None:
    """0003 goes back down to no CHECK at all, and up again."""
    from alembic import command

    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "0002")
    left = checks_in(engine)
    upgrade(empty_url)

    assert left == set()
    assert checks_in(engine) == checks_of_models(engine.dialect)


def test_upgrade_head_gives_exactly_the_models_schema(empty_url: str, engine: Engine) -> None:
    """Tables, columns, types, indexes and constraints after `upgrade head` match the models."""
    upgrade(empty_url)

    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    assert differences(engine) == []


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(
    empty_url: str, engine: Engine
) -> None:
    """The migrations run backwards to an empty database and forwards again."""
    from alembic import command

    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    left = set(inspect(engine).get_table_names())
    upgrade(empty_url)

    assert left <= {"alembic_version"}
    assert differences(engine) == []


def test_migrations_have_one_head() -> None:
    """Two branches of migrations would leave `upgrade head` ambiguous."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))

    assert len(scripts.get_heads()) == 1
    assert MIGRATIONS.is_dir()


def test_upgrade_creates_the_directory_of_a_new_sqlite_file(tmp_path: Path) -> None:
    """A SQLite file under a directory that does not exist yet (var/ on a fresh clone) is made."""
    path = tmp_path / "var" / "deeper" / "infra.db"

    upgrade(f"sqlite+pysqlite:///{path}")

    engine = make_engine(f"sqlite:///{path}")
    try:
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_a_database_made_at_0001_upgrades_keeping_its_users(empty_url: str, engine: Engine) -> None:
    """A database from before 0002 (an earlier `make run`, a deployment) is brought up by
    `flask db upgrade`, and its users can still log in: their session version starts at 1."""
    from sqlalchemy import text

    upgrade(empty_url, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, name, kind, timezone, settings) "
                "VALUES (1, '青山镇党委', 'township', 'Asia/Shanghai', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, display_name, role, org_id, "
                "language, active, created_at) VALUES (1, 'township', 'x', '镇', 'township', 1, "
                "'zh_CN', true, '2026-11-01 00:00:00')"
            )
        )
    upgrade(empty_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username, session_version FROM users")).all() == [
            ("township", 1)
        ]
    assert differences(engine) == []


def test_questions_of_unknown_topics_are_dropped_and_checked_from_then_on(
    empty_url: str, engine: Engine
) -> None:
    """Upgrading keeps the questions the code can read, removes the others, and the CHECK
    constraints then refuse a topic or step that is not one of the enums' values."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    upgrade(empty_url, "0002")
    insert = text(
        "INSERT INTO conversations (member_id, topic, step, data, expires_at, updated_at) "
        "VALUES (:member, :topic, :step, '{}', '2026-11-02 00:00:00', '2026-11-01 00:00:00')"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, name, kind, timezone, settings) "
                "VALUES (1, '东村党支部', 'branch', 'Asia/Shanghai', '{}')"
            )
        )
        for member in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO members (id, name, phone, branch_id, language, status, "
                    "active, created_at) VALUES (:id, '王', :phone, 1, 'zh_CN', 'full', "
                    "true, '2026-11-01 00:00:00')"
                ),
                {"id": member, "phone": f"+861380000000{member}"},
            )
        conn.execute(insert, {"member": 1, "topic": "report", "step": "studied"})
        conn.execute(insert, {"member": 2, "topic": "phone_change", "step": "code"})
        conn.execute(insert, {"member": 3, "topic": "report", "step": "city"})
    upgrade(empty_url)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT member_id, topic, step FROM conversations")).all()
    assert kept == [(1, "report", "studied")]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"member": 2, "topic": "phone_change", "step": "number"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"member": 2, "topic": "phone", "step": "code"})
    assert differences(engine) == []
