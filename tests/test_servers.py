"""The test servers start, answer and stop."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from devtools.servers import free_port, postgres_server, redis_server


def _accepts_connections(port: int) -> bool:
    """Tell whether something listens on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_free_port_is_bindable() -> None:
    """free_port returns a port that nothing listens on and that can be bound."""
    port = free_port()
    assert 1024 <= port <= 65535
    assert not _accepts_connections(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_redis_server_answers_and_stops(tmp_path: Path) -> None:
    """redis_server yields a URL where Redis stores and returns values, and is gone afterwards."""
    with redis_server(tmp_path) as url:
        port = urlsplit(url).port
        assert url == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        client.set("greeting", "你好")
        assert client.get("greeting") == "你好".encode()
        client.close()
    assert port is not None
    assert not _accepts_connections(port)


def test_postgres_server_answers_and_stops(tmp_path: Path) -> None:
    """postgres_server yields a URL of gateway_test that runs SQL, and is gone afterwards."""
    with postgres_server(tmp_path) as url:
        port = urlsplit(url).port
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/gateway_test"
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
            assert conn.execute(text("select current_database()")).scalar_one() == "gateway_test"
            assert conn.execute(text("show server_encoding")).scalar_one() == "UTF8"
        engine.dispose()
    assert port is not None
    assert not _accepts_connections(port)
    with pytest.raises(OperationalError), create_engine(url).connect():
        pass


def test_two_postgres_servers_run_side_by_side(tmp_path: Path) -> None:
    """Two clusters started at once get different ports and separate data."""
    with (
        postgres_server(tmp_path / "a") as first,
        postgres_server(tmp_path / "b") as second,
    ):
        assert first != second
        engines = [create_engine(first), create_engine(second)]
        with engines[0].begin() as conn:
            conn.execute(text("create table only_in_first (id int)"))
        with engines[1].connect() as conn:
            found = conn.execute(text("select to_regclass('only_in_first')")).scalar_one()
            assert found is None
        for engine in engines:
            engine.dispose()
