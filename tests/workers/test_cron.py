"""workers/cron.py as `rq cron` loads it."""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler

from workers import campaigns, outbox, reconcile, reminders


def test_rq_cron_loads_every_periodic_job(redis_client: Redis) -> None:
    """`rq cron workers/cron.py` finds the tick, the sweeps, reconciliation and campaigns."""
    scheduler = CronScheduler(connection=redis_client)
    scheduler.load_config_from_file("workers/cron.py")
    jobs = {job.func_name: (job.queue_name, job.interval) for job in scheduler.get_jobs()}
    expected = {
        f"{reminders.tick.__module__}.tick": ("default", 300),
        f"{reminders.close_periods.__module__}.close_periods": ("default", 3600),
        f"{outbox.sweep_outbox.__module__}.sweep_outbox": ("high", 60),
        f"{reconcile.reconcile_stuck.__module__}.reconcile_stuck": ("high", 60),
        f"{campaigns.campaign_tick.__module__}.campaign_tick": ("calls", 60),
    }
    assert expected.items() <= jobs.items()
    assert jobs.get("workers.callbacks.due_callbacks_tick") == ("calls", 60)
