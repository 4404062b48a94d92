"""The periodic jobs, run by RQ's own scheduler: `rq cron workers/cron.py`.

Every job here is safe to run twice or late: each one reads what is due from the database.
Schedulers on several hosts fire each tick once between them (workers.cron_lease).
"""

from __future__ import annotations

import logging

from rq import cron

from infra import logs
from infra.config import load_config
from infra.metrics import serve_process_metrics
from workers import callbacks, campaigns, cron_lease, outbox, reconcile, reminders
from workers.queues import CALLS, DEFAULT, HIGH

_CONFIG = load_config()
# Only a test that moves the shared clock (CLOCK_FILE) asks for faster ticks.
_SPEEDUP = max(1, _CONFIG["CRON_SPEEDUP"])


def _start_process() -> None:
    """The scheduler's logging, error reports and metrics, when it first fires."""
    rq_logger = logging.getLogger("rq.cron")
    rq_logger.handlers.clear()
    rq_logger.propagate = True
    logs.configure(_CONFIG)
    logs.init_sentry(_CONFIG, component="cron")
    serve_process_metrics(_CONFIG["CRON_METRICS_PORT"], _CONFIG["METRICS_BIND"])


# Several schedulers may run (one per host): only the lease's holder enqueues, once per tick.
cron_lease.install(_CONFIG["CRON_LEASE_SECONDS"], on_start=_start_process)


def _every(seconds: int) -> int:
    """The interval of a periodic job, shortened by CRON_SPEEDUP (at least a second)."""
    return max(1, seconds // _SPEEDUP)


# The escalation tick: contact windows are hours long, so every five minutes is on time.
cron.register(reminders.tick, queue_name=DEFAULT, interval=_every(300))
# Last month's non-reporters are fixed in the first days of a month; hourly is plenty.
cron.register(reminders.close_periods, queue_name=DEFAULT, interval=_every(3600))
# Hand on outbox rows, broadcasts and pushed texts whose jobs were lost (a dead worker, an
# emptied Redis).
cron.register(outbox.sweep_outbox, queue_name=HIGH, interval=_every(60))
# Rows stuck in `sending`: ask the provider before sending anything again.
cron.register(reconcile.reconcile_stuck, queue_name=HIGH, interval=_every(60))
# Lesson campaigns: follow up ended calls and place the due ones.
cron.register(campaigns.campaign_tick, queue_name=CALLS, interval=_every(60))
# Calls back that members asked for, once their window opens.
cron.register(callbacks.due_callbacks_tick, queue_name=CALLS, interval=_every(60))
