"""Error answers: Twilio gets a status it understands, never a stack trace."""

from __future__ import annotations

import contextlib
import logging
import sqlite3

import psycopg
from flask import Flask, Response, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from infra.db import get_session

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Answer 503 when the database is unreachable, so Twilio tries the fallback URL."""

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> Response:
        log.error("database unavailable on %s: %s", request.path, exc.orig)
        with contextlib.suppress(OperationalError):
            get_session().rollback()
        return _unavailable()

    @app.errorhandler(PoolTimeout)
    def pool_exhausted(exc: PoolTimeout) -> Response:
        log.error("no database connection free in time on %s: %s", request.path, exc)
        return _unavailable()

    # The webhooks' hand-written statements (models.sql) meet the drivers' own errors.
    for driver_error in (sqlite3.OperationalError, psycopg.OperationalError):

        @app.errorhandler(driver_error)
        def driver_down(exc: Exception) -> Response:
            log.error("database unavailable on %s: %s", request.path, exc)
            return _unavailable()


def _unavailable() -> Response:
    return Response("database unavailable", status=503, mimetype="text/plain")
