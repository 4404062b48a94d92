"""The app a job runs in: one per process, never sharing a pooled connection across a fork."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from infra.db import get_session

_app: Flask | None = None
_pid: int | None = None


def job_app() -> Flask:
    """The app jobs use: the active one (tests, `flask` commands), else one built per process.

    A forked RQ work horse inherits its parent's app; its pooled database connections and the
    provider's HTTP sessions belong to the parent, so the child drops them and opens its own.
    """
    global _app, _pid
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug LocalProxy
        return app
    if _app is None:
        from gateway import create_app

        _app, _pid = create_app(), os.getpid()
    elif _pid != os.getpid():
        _app.extensions["db_engine"].dispose(close=False)
        _app.extensions.pop("provider", None)
        _pid = os.getpid()
    return _app


@contextmanager
def app_context() -> Iterator[Session]:
    """A fresh app context (its own database session) for one job; yields that session."""
    with job_app().app_context():
        yield get_session()


__all__ = ["app_context", "job_app"]
