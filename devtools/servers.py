"""Start real Redis and PostgreSQL servers for tests, each in a temp dir on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

START_TIMEOUT = 30.0
# Another process (an xdist worker, say) may take a free port before our server binds it.
PORT_ATTEMPTS = 3
# A Unix socket path may be at most 107 bytes; ".s.PGSQL.NNNNN" takes 15 of them.
MAX_SOCKET_DIR = 80


class ServerError(RuntimeError):
    """A test server could not be found or started."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server(tmp_dir: Path) -> Iterator[str]:
    """Run a throwaway redis-server with its files in tmp_dir; yield its redis:// URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerError("redis-server not found: run `make test`, which installs it")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    process, url = _start_redis(binary, tmp_dir)
    try:
        yield url
    finally:
        _terminate(process)


def _start_redis(binary: str, tmp_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on a free port, trying another port if that one was taken."""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        log_path = tmp_dir / f"redis-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_dir)),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            if _wait_for_redis(url, process):
                return process, url
        except BaseException:
            _terminate(process)
            raise
    raise ServerError(f"redis-server did not start:\n{log_path.read_text()}")


def _wait_for_redis(url: str, process: subprocess.Popen[bytes]) -> bool:
    """Wait until the server answers PING (True) or exits (False); raise on timeout."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                pass
            # Waiting on the process doubles as the pause between attempts.
            try:
                process.wait(timeout=0.05)
                return False
            except subprocess.TimeoutExpired:
                pass
    finally:
        client.close()
    raise ServerError(f"redis-server at {url} did not answer PING in {START_TIMEOUT:.0f} s")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process, killing it if it ignores SIGTERM."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def postgres_server(tmp_dir: Path) -> Iterator[str]:
    """Run a throwaway PostgreSQL cluster; yield the SQLAlchemy URL of its gateway_test database."""
    bindir = _postgres_bindir()
    # PostgreSQL refuses to run as root, so root runs it as the postgres system user.
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    prefix = ["runuser", "-u", "postgres", "--"] if owner is not None else []
    base = _postgres_base_dir(tmp_dir, owner)
    data = base / "data"

    def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        # cwd=base: the postgres user may not be allowed into the caller's working directory.
        return subprocess.run(
            [*prefix, str(bindir / tool), "-D", str(data), *args],
            cwd=base,
            capture_output=True,
            text=True,
            check=False,
        )

    started = False
    try:
        init = run(
            "initdb",
            "-A",
            "trust",
            "-U",
            "postgres",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise ServerError(f"initdb failed:\n{init.stdout}{init.stderr}")
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            _write_settings(data, port, socket_dir=base)
            log = base / "server.log"
            start = run("pg_ctl", "-l", str(log), "-w", "-t", str(int(START_TIMEOUT)), "start")
            if start.returncode == 0:
                started = True
                break
        if not started:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise ServerError(
                f"PostgreSQL did not start:\n{start.stdout}{start.stderr}{server_log}"
            )
        _create_database(port, "gateway_test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/gateway_test"
    finally:
        if started:
            run("pg_ctl", "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _postgres_bindir() -> Path:
    """Find the directory holding initdb and pg_ctl."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: "
        "run `make test`, which installs postgresql"
    )


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort /usr/lib/postgresql/<version>/bin by version number, not as text."""
    return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())


def _postgres_base_dir(tmp_dir: Path, owner: pwd.struct_passwd | None) -> Path:
    """Make the directory for the cluster's data, socket and log, owned by its server user."""
    inside = tmp_dir / "postgres"
    if owner is None and len(str(inside)) <= MAX_SOCKET_DIR:
        inside.mkdir(parents=True, exist_ok=True)
        return inside
    # pytest's own tmp dirs can be root-only (the postgres user could not enter them) or too
    # deep for a Unix socket path, so take a short fresh dir under /tmp instead.
    base = Path(tempfile.mkdtemp(prefix="pg-test-", dir="/tmp"))
    base.chmod(0o755)
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    return base


def _write_settings(data: Path, port: int, socket_dir: Path) -> None:
    """Append the test settings: local TCP only, our port, and no durability (speed).

    On a retry with another port the newer lines win: PostgreSQL takes a setting's last value.
    """
    settings = (
        "\n# devtools/servers.py\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(settings)


def _create_database(port: int, name: str) -> None:
    """Create a database; pg_ctl -w has already waited until the server accepts connections."""
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
