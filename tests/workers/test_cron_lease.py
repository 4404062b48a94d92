"""Two `rq cron workers/cron.py` processes on one Redis: each tick is enqueued once, and when
the lease's holder is killed the other takes over within the lease's length."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from rq.job import Job

from devtools.servers import free_port
from infra.config import PROJECT_ROOT
from tests.rq_worker import cron_command, worker_environ
from tests.support import wait_until
from workers.cron_lease import LEASE_KEY, Lease, claim_slot

SWEEP = "workers.outbox.sweep_outbox"
TICK = "workers.reminders.tick"
LEASE_S = 3


def enqueue_times(redis: Redis, queue: str, func: str) -> list[float]:
    """When each job of `func` waiting in `queue` was enqueued, in order."""
    jobs = Job.fetch_many(Queue(queue, connection=redis).get_job_ids(), connection=redis)
    return sorted(
        job.enqueued_at.timestamp()
        for job in jobs
        if job is not None and job.func_name == func and job.enqueued_at is not None
    )


def start(config: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cron_command(str(config["REDIS_URL"])),
            env=worker_environ(config),
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def holder_pid(redis: Redis) -> int | None:
    value = redis.get(LEASE_KEY)
    if not value:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return int(text.split(":")[1])


def test_two_schedulers_fire_each_tick_once_and_take_over(
    app_config: dict[str, Any], redis_client: Redis, tmp_path: Path
) -> None:
    # With CRON_SPEEDUP=60 the minute jobs come every second and the tick every 5 s.
    config = {**app_config, "CRON_SPEEDUP": 60, "CRON_LEASE_SECONDS": LEASE_S}
    ports = [free_port(), free_port()]
    first = start({**config, "CRON_METRICS_PORT": ports[0]}, tmp_path / "cron1.log")
    second = start({**config, "CRON_METRICS_PORT": ports[1]}, tmp_path / "cron2.log")
    processes = {first.pid: first, second.pid: second}
    port_of = {first.pid: ports[0], second.pid: ports[1]}
    try:
        # Starting `rq cron` loads the app's modules: slow on a busy machine.
        wait_until(lambda: holder_pid(redis_client) in processes, timeout=90)
        started = time.time()
        # Eight sweeps: one scheduler's pace takes about 8 s, two schedulers' would take 4.
        wait_until(
            lambda: (
                len([t for t in enqueue_times(redis_client, "high", SWEEP) if t >= started]) >= 8
            ),
            timeout=60,
        )
        both_ran = time.time() - started
        assert first.poll() is None and second.poll() is None
        sweeps = [t for t in enqueue_times(redis_client, "high", SWEEP) if t >= started]
        # One scheduler's pace (a sweep a second), not two schedulers' (two a second): the
        # sweeps span about a second each, and none came twice at once.
        assert len(sweeps) >= both_ran / 2, sweeps
        assert sweeps[-1] - sweeps[0] >= (len(sweeps) - 1) * 0.8, sweeps
        gaps = [b - a for a, b in itertools.pairwise(sweeps)]
        assert min(gaps) > 0.5, gaps
        ticks = enqueue_times(redis_client, "default", TICK)
        assert 1 <= len(ticks) <= 3, ticks  # at start, then every 5 s: never twice at once
        assert all(b - a > 4 for a, b in itertools.pairwise(ticks)), ticks

        # Each scheduler's own metrics say which one fires and which one waits.
        dead_pid = holder_pid(redis_client)
        assert dead_pid is not None
        survivor = next(p for pid, p in processes.items() if pid != dead_pid)
        held = scrape(port_of[dead_pid])
        waiting = scrape(port_of[survivor.pid])
        assert held["gateway_cron_lease_held", ()] == 1
        assert waiting["gateway_cron_lease_held", ()] == 0
        assert held["gateway_cron_fired_total", (("job", SWEEP),)] >= len(sweeps)
        assert waiting.get(("gateway_cron_fired_total", (("job", SWEEP),)), 0) == 0
        assert waiting["gateway_cron_skipped_total", (("job", SWEEP), ("reason", "standby"))] >= 3

        # The holder dies without a word; the other takes the lease once it expires.
        os.kill(dead_pid, signal.SIGKILL)
        processes[dead_pid].wait(timeout=10)
        killed_at = time.time()
        wait_until(lambda: holder_pid(redis_client) == survivor.pid, timeout=LEASE_S + 5)
        taken_after = time.time() - killed_at
        assert taken_after <= LEASE_S + 3
        wait_until(
            lambda: any(t > killed_at + 0.5 for t in enqueue_times(redis_client, "high", SWEEP)),
            timeout=LEASE_S + 5,
        )
        # A few more sweeps from the survivor alone, to see its pace.
        wait_until(
            lambda: (
                len([t for t in enqueue_times(redis_client, "high", SWEEP) if t > killed_at]) >= 4
            ),
            timeout=60,
        )
        after = [t for t in enqueue_times(redis_client, "high", SWEEP) if t > killed_at]
        first_after = min(after) - killed_at
        assert first_after <= LEASE_S + 4, first_after
        span = time.time() - killed_at
        assert len(after) <= span + 1, after
        gaps = [b - a for a, b in itertools.pairwise(after)]
        assert min(gaps) > 0.5, gaps
        assert survivor.poll() is None
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    for name in ("cron1.log", "cron2.log"):
        assert "Traceback" not in (tmp_path / name).read_text(), name


def test_lease_is_renewed_only_by_its_holder(redis_client: Redis) -> None:
    one = Lease(redis_client, seconds=5, token="host-a:1:x")
    two = Lease(redis_client, seconds=5, token="host-b:2:y")
    assert one.refresh()
    assert not two.refresh()
    assert one.refresh()
    assert redis_client.get(LEASE_KEY) == b"host-a:1:x"
    assert 4000 < int(redis_client.pttl(LEASE_KEY)) <= 5000
    one.stop()  # gives the lease up: the other takes it at once
    assert two.refresh()
    assert not one.refresh()


def test_a_slot_fires_once(redis_client: Redis) -> None:
    assert claim_slot(redis_client, "job", 3600)
    assert not claim_slot(redis_client, "job", 3600)
    assert claim_slot(redis_client, "other", 3600)
