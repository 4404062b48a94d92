"""Run jobs in a real `rq worker` process, as the Procfile's `worker` line does.

A job run in the test process shares the test's app context, its clients and its imports,
so a job that only works inside an app someone else pushed passes there and fails in
production. These helpers start `rq worker -w workers.worker.AppWorker` as a subprocess that
reads the test app's settings from environment variables (infra/config.py), on the test's
Redis and database, and fail the test when a job failed or anything logged a traceback.

    run_worker(app_config)                          # burst: run what is queued, then return
    with running_worker(app_config) as worker: ...  # a long-running worker with the scheduler
    with running_cron(app_config) as cron: ...      # `rq cron workers/cron.py`
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from infra.config import PROJECT_ROOT, SETTINGS
from workers.queues import QUEUE_NAMES

APP_WORKER = "workers.worker.AppWorker"
BURST_TIMEOUT = 120.0  # seconds a burst may take before the test fails
STOP_TIMEOUT = 30.0  # seconds a stopped worker may take to finish its job and exit
CRON_CONFIG = "workers/cron.py"


def worker_environ(config: Mapping[str, Any]) -> dict[str, str]:
    """The environment that gives a subprocess the test app's settings (and nothing stale).

    Every setting of infra/config.py found in `config` becomes a variable; settings missing
    from `config` are removed from the inherited environment, so the process gets the default.
    Keys that are not settings (TESTING, WTF_CSRF_ENABLED) stay with the test app.
    """
    environ = {key: value for key, value in os.environ.items() if key not in _SETTING_NAMES}
    for setting in SETTINGS:
        if setting.name in config:
            environ[setting.name] = _env_value(config[setting.name])
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


_SETTING_NAMES = frozenset(setting.name for setting in SETTINGS)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def worker_command(
    redis_url: str,
    queues: Iterable[str] = QUEUE_NAMES,
    *,
    burst: bool,
    with_scheduler: bool,
    worker_class: str = APP_WORKER,
) -> list[str]:
    """The `rq worker` command line of the Procfile, on the given Redis."""
    rq = Path(sys.executable).with_name("rq")
    command = [str(rq), "worker", "-w", worker_class, "--url", redis_url]
    command += ["--logging_level", "INFO"]
    if burst:
        command.append("--burst")
    if with_scheduler:
        command.append("--with-scheduler")
    return [*command, *queues]


@dataclass(frozen=True)
class WorkerRun:
    """How a worker process ended: its exit code, everything it printed, the jobs that failed."""

    returncode: int | None
    output: str
    failed_jobs: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        """What makes this run a failure (empty when it is clean)."""
        found = []
        if self.returncode != 0:
            found.append(f"exit code {self.returncode}")
        if self.failed_jobs:
            found.append("failed jobs:\n" + "\n".join(self.failed_jobs))
        if "Traceback" in self.output:
            found.append("a traceback in the output")
        return found

    def check(self) -> WorkerRun:
        """Fail the test, showing the worker's output, unless the run was clean."""
        if self.problems:
            raise AssertionError(
                "rq worker: " + "; ".join(self.problems) + "\n--- output ---\n" + self.output
            )
        return self

    def ran(self, function: str) -> int:
        """How many jobs of a function (its dotted name, e.g. `workers.calls.place_call`) ran."""
        return _count_jobs(self.output, function)


def _count_jobs(output: str, function: str) -> int:
    # RQ logs each job it starts as "<queue>: <module.function>(<args>) (<job id>)".
    return output.count(f": {function}(")


def failed_jobs(redis: Redis, queues: Iterable[str] = QUEUE_NAMES) -> list[str]:
    """Each failed job of these queues as `id: traceback`."""
    found = []
    for name in queues:
        registry = FailedJobRegistry(queue=Queue(name, connection=redis))
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=redis)
            result = job.latest_result()
            found.append(f"{job_id}: {result.exc_string if result else job.exc_info}")
    return found


def run_worker(
    config: Mapping[str, Any],
    queues: Iterable[str] = QUEUE_NAMES,
    *,
    with_scheduler: bool = False,
    timeout: float = BURST_TIMEOUT,
    worker_class: str = APP_WORKER,
    check: bool = True,
) -> WorkerRun:
    """Run `rq worker --burst` until the queues are empty (jobs the jobs enqueue included).

    `config` is the test app's settings mapping (the `app_config` fixture). With
    `with_scheduler`, scheduled jobs that are due are moved onto their queues first. The run is
    checked (exit code, failed jobs, tracebacks) unless `check` is False.
    """
    queues = tuple(queues)
    redis_url = str(config["REDIS_URL"])
    process = subprocess.run(
        worker_command(
            redis_url, queues, burst=True, with_scheduler=with_scheduler, worker_class=worker_class
        ),
        env=worker_environ(config),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    with Redis.from_url(redis_url) as redis:
        run = WorkerRun(process.returncode, process.stdout, tuple(failed_jobs(redis, queues)))
    return run.check() if check else run


class WorkerProcess:
    """A long-running `rq worker` (or `rq cron`) started by `running_worker` (`running_cron`);
    its output goes to a log file. After the block, `result` says how it ended."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        log_path: Path,
        redis_url: str,
        queues: tuple[str, ...],
    ) -> None:
        self.process = process
        self.log_path = log_path
        self.redis_url = redis_url
        self.queues = queues
        self.result = WorkerRun(None, "", ())

    @property
    def output(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_idle(self, queues: Iterable[str] | None = None, timeout: float = 30.0) -> None:
        """Return once the queues (default: the worker's) are empty and no job of theirs is
        running; fail after the timeout."""
        queues = self.queues if queues is None else tuple(queues)
        deadline = time.monotonic() + timeout
        with Redis.from_url(self.redis_url) as redis:
            while True:
                busy = [
                    name
                    for name in queues
                    if Queue(name, connection=redis).count
                    or Queue(name, connection=redis).started_job_registry.count
                ]
                if not busy:
                    return
                if self.process.poll() is not None:
                    raise AssertionError(f"rq worker exited:\n{self.output}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"queues {busy} still busy:\n{self.output}")
                time.sleep(0.05)

    def ran(self, function: str) -> int:
        """How many jobs of a function (its dotted name) the worker started so far."""
        return _count_jobs(self.output, function)

    def stop(self) -> WorkerRun:
        """Ask for a warm shutdown (the running job finishes), wait, and say how it ended."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        returncode = self.process.returncode
        # A worker stopped by its signal exits 0 after a warm shutdown.
        with Redis.from_url(self.redis_url) as redis:
            failed = tuple(failed_jobs(redis, self.queues))
        return WorkerRun(returncode, self.output, failed)


def cron_command(redis_url: str, config_path: str = CRON_CONFIG) -> list[str]:
    """The `rq cron` command line of the Procfile, on the given Redis."""
    rq = Path(sys.executable).with_name("rq")
    return [str(rq), "cron", "--url", redis_url, config_path]


@contextmanager
def running_cron(
    config: Mapping[str, Any], *, log_path: Path | None = None, check: bool = True
) -> Iterator[WorkerProcess]:
    """`rq cron workers/cron.py` (the Procfile's `cron`) for the block; checked at its end.

    It enqueues the periodic jobs (each at once, then at its interval); a `running_worker`
    runs them. Its output goes to `log_path` (default: `cron.log` beside `worker.log`).
    """
    redis_url = str(config["REDIS_URL"])
    if log_path is None:
        log_path = Path(str(config["UPLOAD_DIR"])).parent / "cron.log"
    with _started(cron_command(redis_url), config, log_path, redis_url, queues=()) as cron:
        yield cron
    if check:
        cron.result.check()


@contextmanager
def _started(
    command: list[str],
    config: Mapping[str, Any],
    log_path: Path,
    redis_url: str,
    queues: tuple[str, ...],
) -> Iterator[WorkerProcess]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=worker_environ(config),
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    handle = WorkerProcess(process, log_path, redis_url, queues)
    try:
        yield handle
    finally:
        handle.result = handle.stop()


@contextmanager
def running_worker(
    config: Mapping[str, Any],
    queues: Iterable[str] = QUEUE_NAMES,
    *,
    log_path: Path | None = None,
    with_scheduler: bool = True,
    worker_class: str = APP_WORKER,
    check: bool = True,
) -> Iterator[WorkerProcess]:
    """A worker as the Procfile runs it (with the scheduler) for the block; checked at its end.

    The output goes to `log_path` (default: `worker.log` in the parent of UPLOAD_DIR, the
    test's tmp_path with the test app's settings). The block's end stops the worker and,
    unless `check` is False, fails the test if a job failed or anything logged a traceback.
    """
    queues = tuple(queues)
    redis_url = str(config["REDIS_URL"])
    if log_path is None:
        log_path = Path(str(config["UPLOAD_DIR"])).parent / "worker.log"
    command = worker_command(
        redis_url, queues, burst=False, with_scheduler=with_scheduler, worker_class=worker_class
    )
    with _started(command, config, log_path, redis_url, queues) as worker:
        yield worker
    if check:
        worker.result.check()


__all__ = [
    "APP_WORKER",
    "WorkerProcess",
    "WorkerRun",
    "cron_command",
    "failed_jobs",
    "run_worker",
    "running_cron",
    "running_worker",
    "worker_command",
    "worker_environ",
]
