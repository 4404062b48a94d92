"""Schedulers on several hosts, one tick each: a lease in Redis decides which one enqueues.

`rq cron workers/cron.py` may run on two hosts, so that one survives the other. Each keeps
RQ's own schedule, but only the holder of the lease (`gateway:cron:lease`, taken with SET NX
PX and renewed by its holder every third of its length by a compare-and-renew script) enqueues
a due job; the others let the due time pass as if they had. A holder that dies stops renewing,
and another takes the lease once it expires (CRON_LEASE_SECONDS, 20 s by default) and fires
from its next due time on: within a minute for the minute jobs.

Across the hand-over a second guard keeps one tick from firing twice: a job fires at most once
per slot of its interval (`SET gateway:cron:tick:<job>:<slot> NX`), the slot counted on Redis's
clock, which every host shares.

The hook is RQ's `CronJob.enqueue`, wrapped once in the scheduler's process when
workers/cron.py is loaded: the scheduler calls it for every due job and moves the job's next
time on whatever it returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from redis import Redis
from rq.cron import CronJob
from rq.job import Job

from infra.metrics import CRON_FIRED, CRON_LAST_TICK_KEY, CRON_LEASE_HELD, CRON_SKIPPED

LEASE_KEY = "gateway:cron:lease"
TICK_PREFIX = "gateway:cron:tick:"

log = logging.getLogger(__name__)

# Renew the lease's time to live only while it still holds this holder's token.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    """One scheduler's claim on the lease: take it when free, renew it while held."""

    def __init__(self, connection: Redis, seconds: float, token: str | None = None) -> None:
        self.connection = connection
        self.ms = int(seconds * 1000)
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = connection.register_script(_RENEW)
        self._release = connection.register_script(_RELEASE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Renew the lease if this holds it, else take it if it is free; whether this holds it."""
        try:
            if self._renew(keys=[LEASE_KEY], args=[self.token, self.ms]):
                held = True
            else:
                held = bool(self.connection.set(LEASE_KEY, self.token, nx=True, px=self.ms))
                if held:
                    log.info("cron lease taken", extra={"holder": self.token})
        except Exception as exc:  # Redis away: hold nothing, try again on the next beat
            log.warning("cron lease not refreshed: %s", exc)
            held = False
        CRON_LEASE_HELD.set(1 if held else 0)
        return held

    def holder(self) -> str | None:
        """The token of the scheduler holding the lease now, if any."""
        value = self.connection.get(LEASE_KEY)
        if not value:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def start(self) -> None:
        """Refresh every third of the lease's length in a background thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._beat, name="cron-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ms / 3000):
            self.refresh()

    def stop(self) -> None:
        """Stop renewing and give the lease up (a clean shutdown hands over at once)."""
        self._stop.set()
        try:
            self._release(keys=[LEASE_KEY], args=[self.token])
        except Exception as exc:
            log.warning("cron lease not released: %s", exc)


def claim_slot(connection: Redis, name: str, interval: int) -> bool:
    """Whether this job's current slot (its interval, on Redis's clock) is still unfired;
    claims it if so."""
    seconds, _micro = connection.time()
    slot = int(seconds) // max(1, interval)
    key = f"{TICK_PREFIX}{name}:{slot}"
    return bool(connection.set(key, "1", nx=True, ex=max(2, interval * 2)))


def install(seconds: float, on_start: Callable[[], None] | None = None) -> None:
    """Wrap RQ's CronJob.enqueue so only the lease's holder enqueues, once per slot.

    The lease is made on the first due job, on the scheduler's own Redis connection, and
    `on_start` runs then (the process's logging and metrics): loading workers/cron.py to list
    its jobs starts nothing.
    """
    original = getattr(CronJob.enqueue, "_gateway_original", CronJob.enqueue)
    leases: dict[int, Lease] = {}

    def enqueue(self: CronJob, connection: Redis) -> Job | None:
        lease = leases.get(id(connection))
        if lease is None:
            if on_start is not None and not leases:
                on_start()
            lease = leases[id(connection)] = Lease(connection, seconds)
            lease.start()
        name = self.name
        if not lease.refresh():
            CRON_SKIPPED.labels(name, "standby").inc()
            return None
        if self.interval and not claim_slot(connection, name, self.interval):
            CRON_SKIPPED.labels(name, "taken").inc()
            return None
        job = original(self, connection)
        seconds_now, micro = connection.time()
        connection.hset(CRON_LAST_TICK_KEY, name, f"{seconds_now}.{micro:06d}")
        CRON_FIRED.labels(name).inc()
        return job

    enqueue._gateway_original = original  # type: ignore[attr-defined]
    CronJob.enqueue = enqueue  # type: ignore[assignment,method-assign]


__all__ = ["LEASE_KEY", "Lease", "claim_slot", "install"]
