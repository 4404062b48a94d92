"""The worker class for `rq worker -w workers.worker.AppWorker`: jobs run in the process that
holds the app.

RQ's default Worker forks a work horse per job, and every horse starts cold: it opens its own
database connections, compiles every SQL statement it runs again, builds the provider's client
and its TLS context, and opens new HTTP connections. For the many short jobs a notice becomes
(one per 500 members) that was most of the work: a notice through Alibaba's SendBatchSms went
at 44% of a bare SDK loop's pace, and at over 100% once nothing was rebuilt per job
(bench/broadcast.py). So the worker does not fork: it builds the app and its provider once,
and each job gets a fresh app context and database session in the same process, with the
compiled statements, the connection pool and the provider's keep-alive connections warm.

What forking gave, and how it is kept without it:
- a job cannot leave state for the next: a job gets its own app context and session, which
  are closed when it ends, whatever it raised (workers.context.app_context);
- a job past its timeout is stopped: RQ raises JobTimeoutException in it (SIGALRM), as it
  would in a horse;
- a process that dies (kill -9, out of memory) takes its job with it: every job is written to
  be run again, and the sweeps hand on what a dead worker left (rows in `sending` are
  reconciled, never blindly sent again), as after a horse's death.
"""

from __future__ import annotations

import gc
from typing import Any

from rq import SimpleWorker

from infra import clients
from workers.context import job_app


class AppWorker(SimpleWorker):
    """RQ's worker without the fork per job: the app, its provider and the job modules are
    loaded once, before the first job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = job_app()
        with app.app_context():
            clients.provider()
        # Imported now, not when the first job of each module arrives.
        from workers import broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending

        self.job_modules = (broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending)
        # The app and the modules live as long as the worker: keep the garbage collector's
        # full collections from walking them again after every job.
        gc.freeze()


__all__ = ["AppWorker"]
