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
import logging
from typing import Any

from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job

from infra import clients, logs
from infra.metrics import JOB_SECONDS, JOBS, Timer, serve_process_metrics
from workers.context import job_app


class AppWorker(SimpleWorker):
    """RQ's worker without the fork per job: the app, its provider and the job modules are
    loaded once, before the first job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = job_app()
        with app.app_context():
            clients.provider()
        # RQ's CLI gave its loggers their own coloured stdout handlers; the app's (JSON lines
        # on stderr, phone numbers masked) serves them instead.
        for name in ("rq.worker", "rq.job"):
            rq_logger = logging.getLogger(name)
            rq_logger.handlers.clear()
            rq_logger.propagate = True
        logs.init_sentry(app.config, component="worker")
        serve_process_metrics(app.config["WORKER_METRICS_PORT"], app.config["METRICS_BIND"])
        # Imported now, not when the first job of each module arrives.
        from workers import broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending

        self.job_modules = (broadcasts, callbacks, calls, campaigns, reconcile, reminders, sending)
        # The app and the modules live as long as the worker: keep the garbage collector's
        # full collections from walking them again after every job.
        gc.freeze()

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Run a job with its id on every log line, and count and time it."""
        func = job.func_name
        timer = Timer()
        with logs.bound_to(job_id=job.id, job_func=func, queue=queue.name):
            ok = super().perform_job(job, queue, execution)
        JOB_SECONDS.labels(func).observe(timer.elapsed())
        JOBS.labels(func, "ok" if ok else "failed").inc()
        return ok


__all__ = ["AppWorker"]
