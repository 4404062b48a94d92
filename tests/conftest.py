"""Fixtures: a real Redis, SQLite and PostgreSQL, the app, and signed Twilio requests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

import admin_ui.views.phone  # noqa: F401  (see below)
from devtools.servers import postgres_server, redis_server
from gateway import create_app
from gateway.migrate import upgrade
from infra.db import get_session, make_engine
from tests.support import TwilioClient, make_config

# The phone simulator's routes join the admin blueprint when the first app with the development
# tools is built, and a blueprint takes no new route once an app has registered it. A server
# builds one app; a test process builds many, some without the tools (PROVIDER=aliyun against
# the sandbox), and whichever came first decided for the rest. So the tests load the routes
# before any app; their views answer 404 unless PROVIDER=sandbox, and test_devtools checks in
# a fresh interpreter that a production app loads no development tool at all.


def pytest_addoption(parser: pytest.Parser) -> None:
    """--db chooses the databases each database test runs against."""
    parser.addoption(
        "--db",
        default="both",
        choices=("sqlite", "postgresql", "both"),
        help="run database tests against sqlite, postgresql, or both (default)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses the database once per chosen backend."""
    if "db_backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("db_backend", backends, scope="session")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this test session's own."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server of this test session's own, migrated to head."""
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(
    request: pytest.FixtureRequest, db_backend: str, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """An empty, migrated database for one test."""
    if db_backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:
        # The tables the migrations made (a model without a migration fails test_migrations).
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        tables = ", ".join(f'"{name}"' for name in names)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    """A client on the session's Redis, emptied before each test."""
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def app_config(db_url: str, redis_client: Redis, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """The settings of the test app; a test may change them before asking for `app`."""
    return make_config(db_url, redis_url, tmp_path)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app on a fresh database and an empty Redis."""
    application = create_app(app_config)
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """An HTTP client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Runs the app's `flask` commands."""
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session inside an app context, as a job would have."""
    with app.app_context():
        yield get_session()


@pytest.fixture
def twilio(client: FlaskClient) -> TwilioClient:
    """A client whose requests carry Twilio's signature."""
    return TwilioClient(client)
