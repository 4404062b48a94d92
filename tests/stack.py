"""The processes `make run` starts (web, worker, cron, sandbox), for end-to-end tests.

Each process is the real program (gunicorn with deploy/gunicorn.conf.py, `rq worker`,
`rq cron`, `flask sandbox serve`), started with the settings as environment variables, its
output kept in a log file, and one clock file that every process reads, so a test can move
time for all of them at once.
"""

from __future__ import annotations

import operator
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import requests

from devtools.servers import free_port
from models.clock import set_clock_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AUTH_TOKEN = "stack-auth-token"
START_TIMEOUT = 60.0
# A process may log these lines without anything being wrong.
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)

T = TypeVar("T")


class StackError(RuntimeError):
    """A process of the stack did not start, or died."""


@dataclass
class Stack:
    """The running processes, their settings, and the shared clock."""

    env: dict[str, str]
    web_url: str
    sandbox_url: str
    clock_file: Path
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def set_clock(self, now: datetime) -> None:
        """Move every process's clock to `now` (it flows on from there)."""
        set_clock_file(self.clock_file, now)

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a `flask` command as an operator would, with the stack's settings and clock."""
        result = subprocess.run(
            [str(BIN / "flask"), *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"flask {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def tracebacks(self) -> dict[str, list[str]]:
        """Every traceback any process logged, by process name (with a few lines after it)."""
        found: dict[str, list[str]] = {}
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            for match in TRACEBACK.finditer(text):
                found.setdefault(name, []).append(text[match.start() : match.start() + 3000])
        return found

    def completed(self, job: str) -> int:
        """How many times the worker has finished a job function (read from its log)."""
        text = self.logs["worker"].read_text(errors="replace")
        return text.count(f"Successfully completed {job}(")

    def let_run(self, *jobs: str, times: int = 2) -> None:
        """Wait until each periodic job has run `times` more times, at the current time."""
        for job in jobs:
            target = self.completed(job) + times
            wait_for(
                f"{job} to run {times} more times",
                partial(self.completed, job),
                until=partial(operator.le, target),
                stack=self,
            )

    def check_alive(self) -> None:
        """Raise if a process has died."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise StackError(f"{name} exited with {process.returncode}:\n{tail}")


def stack_env(
    *, db_url: str, redis_url: str, tmp: Path, web_port: int, sandbox_port: int, **extra: str
) -> dict[str, str]:
    """The environment every process of the stack gets; `{sandbox_url}` in an extra value is
    the sandbox's URL (a mainland provider's endpoint, say)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "TWILIO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        {
            "FLASK_APP": "gateway",
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "PROVIDER": "sandbox",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SECRET_KEY": "stack-secret",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
            "SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
            "SANDBOX_DB": str(tmp / "sandbox.db"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "CLOCK_FILE": str(tmp / "clock"),
            "CRON_SPEEDUP": "120",
            "SEND_RATE_SEGMENTS_PER_S": "50",
            "CALLS_PER_S": "20",
        }
    )
    env.update(
        {key: value.replace("{sandbox_url}", env["SANDBOX_URL"]) for key, value in extra.items()}
    )
    return env


@contextmanager
def run_stack(
    db_url: str, redis_url: str, tmp: Path, start: datetime, **extra: str
) -> Iterator[Stack]:
    """Start sandbox, web (gunicorn), worker and cron with the clock at `start`; stop them after."""
    tmp.mkdir(parents=True, exist_ok=True)
    web_port, sandbox_port = free_port(), free_port()
    env = stack_env(
        db_url=db_url,
        redis_url=redis_url,
        tmp=tmp,
        web_port=web_port,
        sandbox_port=sandbox_port,
        **extra,
    )
    stack = Stack(
        env=env,
        web_url=env["PUBLIC_BASE_URL"],
        sandbox_url=env["SANDBOX_URL"],
        clock_file=Path(env["CLOCK_FILE"]),
        logs={},
    )
    stack.set_clock(start)
    commands: dict[str, list[str]] = {
        "sandbox": [str(BIN / "flask"), "sandbox", "serve", "--port", str(sandbox_port)],
        "web": [
            str(BIN / "gunicorn"),
            *("-c", str(PROJECT_ROOT / "deploy" / "gunicorn.conf.py"), "gateway:create_app()"),
            *("--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"),
            *("--worker-class", "gthread", "--graceful-timeout", "5"),
        ],
        "worker": [
            str(BIN / "rq"),
            "worker",
            "--with-scheduler",
            *("-w", "workers.worker.AppWorker", "--url", redis_url),
            *("high", "default", "bulk", "calls"),
        ],
        "cron": [str(BIN / "rq"), "cron", "--url", redis_url, "workers/cron.py"],
    }
    try:
        for name, command in commands.items():
            log = tmp / f"{name}.log"
            stack.logs[name] = log
            with log.open("wb") as out:
                stack.processes[name] = subprocess.Popen(
                    command,
                    env=env,
                    cwd=PROJECT_ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        _wait_http(stack, "sandbox", stack.sandbox_url + "/_sandbox/health")
        _wait_http(stack, "web", stack.web_url + "/admin/login")
        yield stack
    finally:
        for process in stack.processes.values():
            _stop(process)


def _wait_http(stack: Stack, name: str, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise StackError(f"{name} did not answer {url} in {START_TIMEOUT:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def wait_for(
    what: str,
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 120.0,
    stack: Stack | None = None,
) -> T:
    """Poll `probe` until `until(value)`; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        if stack is not None:
            stack.check_alive()
        time.sleep(0.5)
        value = probe()
    return value


def as_env(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Settings as environment strings."""
    return {key: str(value) for key, value in mapping.items()}
