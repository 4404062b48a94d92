"""The worker class for `rq worker -w workers.worker.AppWorker`: the app is built once.

RQ's Worker forks a work horse per job. With the plain class each horse imports Flask,
SQLAlchemy and the twilio client and builds the app again, for every job; here the parent
builds it (and its provider, for the SDK's imports) before the first fork, and each horse only
opens its own database connections and provider client (see workers.context.job_app).
"""

from __future__ import annotations

import gc
from typing import Any

from rq import Worker

from infra import clients
from workers.context import job_app


class AppWorker(Worker):
    """RQ's forking worker, with the app and the job modules loaded in the parent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = job_app()
        # Build the provider once, for its imports: each horse drops it and builds its own
        # (job_app), but finds the SDK loaded; Alibaba's takes about a second to import, which
        # every send, sweep and reconciliation would otherwise pay again.
        with app.app_context():
            clients.provider()
        # Imported here so each horse finds them loaded (RQ imports a job's module lazily).
        from workers import broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending

        self.job_modules = (broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending)
        # Everything loaded so far lives as long as the worker: keep the garbage collector
        # off it, so a forked horse does not copy the pages it would only have read.
        gc.freeze()


__all__ = ["AppWorker"]
