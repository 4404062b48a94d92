"""An empty, unmigrated database of either backend, for the tests of migrations themselves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def empty_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a database with no tables: a new SQLite file or a new PostgreSQL database.

    The PostgreSQL one lives on the session's server beside the migrated test database
    and is dropped afterwards.
    """
    if backend == "sqlite":
        # A directory that does not exist yet: `db upgrade` must create it, as under var/.
        yield f"sqlite:///{tmp_path / 'fresh' / 'infra.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
