"""Alembic environment: migrates the database named by the app's DATABASE_URL."""

from __future__ import annotations

from alembic import context

from infra.config import load_config
from infra.db import make_engine
from models import Base

config = context.config
url = config.attributes.get("url") or load_config()["DATABASE_URL"]
target_metadata = Base.metadata


def run_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply migrations over a connection."""
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        # Closing the last SQLite connection folds the WAL into the file, so a copy is whole.
        engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # Engine.connect() gives a Connection
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
