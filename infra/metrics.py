"""What the gateway reports to Prometheus.

Most figures are read from the database and Redis when Prometheus asks (`StateCollector`), so
every web host answers the same whichever one is scraped. Only what a process sees itself is
kept in it: the webhooks' latency (web; across gunicorn's workers through prometheus-client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set), the jobs a worker ran, the ticks the
scheduler fired.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.call import Call
from models.message import Message, MessageStatus
from models.reminder import ReminderStep

log = logging.getLogger(__name__)

# A queued row due this long ago and still not sent is overdue (the sweep runs every minute).
OVERDUE_AFTER = timedelta(minutes=5)
# Where the scheduler writes when each periodic job last fired (workers.cron_lease).
CRON_LAST_TICK_KEY = "gateway:cron:last_tick"

WEBHOOK_LATENCY = Histogram(
    "gateway_webhook_seconds",
    "Time to answer a provider's webhook, by route family",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
JOBS = Counter(
    "gateway_jobs_total", "Jobs this worker ran, by function and outcome", ["func", "outcome"]
)
JOB_SECONDS = Histogram(
    "gateway_job_seconds",
    "Time this worker spent on a job, by function",
    ["func"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
CRON_FIRED = Counter("gateway_cron_fired_total", "Ticks this scheduler enqueued", ["job"])
CRON_SKIPPED = Counter(
    "gateway_cron_skipped_total",
    "Ticks this scheduler left alone: `standby` (another holds the lease) or `taken` "
    "(another fired this slot)",
    ["job", "reason"],
)
CRON_LEASE_HELD = Gauge(
    "gateway_cron_lease_held", "1 while this scheduler holds the lease", multiprocess_mode="max"
)


class StateCollector(Collector):
    """Gauges read from the database and Redis at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "gateway_dependency_up",
            "1 when the dependency answered this scrape, 0 when its figures are missing",
            labels=["dependency"],
        )
        with self.app.app_context():
            try:
                yield from self._database()
                up.add_metric(["database"], 1)
            except Exception as exc:  # a scrape reports what it can, never a 500
                log.warning("metrics: the database did not answer: %s", exc)
                up.add_metric(["database"], 0)
            try:
                yield from self._redis()
                up.add_metric(["redis"], 1)
            except Exception as exc:
                log.warning("metrics: Redis did not answer: %s", exc)
                up.add_metric(["redis"], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        from infra.db import get_session

        session = get_session()
        try:
            families = list(self._database_families(session))
        finally:
            session.rollback()
        yield from families

    def _database_families(self, session: Session) -> Iterator[Metric]:
        texts = GaugeMetricFamily(
            "gateway_texts",
            "SMS rows by direction (in: received, out: sent) and status",
            labels=["direction", "status"],
        )
        rows = session.execute(
            select(Message.direction, Message.status, func.count()).group_by(
                Message.direction, Message.status
            )
        )
        for direction, status, count in rows:
            texts.add_metric([str(direction), str(status)], count)
        yield texts

        now = utcnow()
        due_filter = (
            Message.status == MessageStatus.QUEUED,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        due = session.scalar(select(func.count()).where(*due_filter)) or 0
        since = func.coalesce(Message.next_attempt_at, Message.created_at)
        overdue = (
            session.scalar(select(func.count()).where(*due_filter, since < now - OVERDUE_AFTER))
            or 0
        )
        yield GaugeMetricFamily("gateway_outbox_due", "Queued texts due to go now", value=due)
        yield GaugeMetricFamily(
            "gateway_outbox_overdue",
            f"Queued texts due for over {int(OVERDUE_AFTER.total_seconds() // 60)} minutes",
            value=overdue,
        )

        steps = GaugeMetricFamily(
            "gateway_reminder_steps", "Escalation steps taken, by step", labels=["step"]
        )
        for step, count in session.execute(
            select(ReminderStep.step, func.count()).group_by(ReminderStep.step)
        ):
            steps.add_metric([str(step)], count)
        yield steps

        calls = GaugeMetricFamily("gateway_calls", "Calls by status", labels=["status"])
        for call_status, count in session.execute(
            select(Call.status, func.count()).group_by(Call.status)
        ):
            calls.add_metric([str(call_status)], count)
        yield calls

    def _redis(self) -> Iterator[Metric]:
        from infra import clients
        from workers.queues import QUEUE_NAMES, get_queue

        families: list[Metric] = []
        redis = clients.redis()
        queued = GaugeMetricFamily("gateway_queue_jobs", "Jobs waiting, by queue", labels=["queue"])
        failed = GaugeMetricFamily(
            "gateway_failed_jobs", "Jobs in RQ's failed registry, by queue", labels=["queue"]
        )
        for name in QUEUE_NAMES:
            queue = get_queue(name, connection=redis)
            queued.add_metric([name], queue.count)
            failed.add_metric([name], queue.failed_job_registry.count)
        families += [queued, failed]

        ticks = GaugeMetricFamily(
            "gateway_cron_last_tick_timestamp_seconds",
            "When the scheduler last fired each periodic job (Unix time)",
            labels=["job"],
        )
        for job, stamp in sorted(redis.hgetall(CRON_LAST_TICK_KEY).items()):
            ticks.add_metric([_text(job)], float(stamp))
        families.append(ticks)
        yield from families


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def web_registry(app: Flask) -> CollectorRegistry:
    """The registry `/metrics` writes: the process's (or every gunicorn worker's) metrics and
    the state read at scrape time."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(StateCollector(app))
    return registry


class _ProcessMetrics(Collector):
    """This process's own metrics (the default registry), without a second copy of them."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def serve_process_metrics(port: int, address: str = "127.0.0.1") -> bool:
    """A worker's or the scheduler's own metrics over HTTP on `port` (0: off)."""
    if not port:
        return False
    start_http_server(port, addr=address)
    return True


class Timer:
    """Seconds since it was made (monotonic)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since start."""
        return time.perf_counter() - self.start
