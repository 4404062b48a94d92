"""The dashboard only reads: its GET writes its audit entry and nothing else, whether the
settled months are tallied yet or not; once the close job has tallied them it shows the
figures it counted live before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from infra.db import engine
from models import Channel, Member, record_report
from models.clock import utcnow
from models.period import shift_period
from models.report import ReportTally
from tests.admin_ui.world import World, db, login_as
from workers import reminders

WRITE_RE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|UPSERT|MERGE|REPLACE)\b", re.IGNORECASE)
AUDIT_INSERT_RE = re.compile(r"^\s*INSERT INTO audit_logs\b", re.IGNORECASE)


@contextmanager
def writes(app: Flask) -> Iterator[list[str]]:
    """The write statements the app's engine runs inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if WRITE_RE.match(statement):
            seen.append(statement)

    with app.app_context():
        target = engine()
    event.listen(target, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", note)


def _tally_rows(app: Flask) -> int:
    with db(app) as session:
        return session.scalar(select(func.count(ReportTally.id))) or 0


def _figures(html: str) -> str:
    """The page without its CSRF token: the figures, the chart and the lists."""
    return re.sub(r'(name="csrf[-_]token" (?:value|content)=")[^"]+"', r'\1"', html)


@pytest.mark.parametrize("username", ["township", "branch"])
def test_the_dashboard_writes_only_its_audit_entry(
    app: Flask, client: FlaskClient, world: World, username: str
) -> None:
    """Settled months without a tally are counted live and not stored: the GET's only write
    is the audit log's row (any other write statement fails the test)."""
    admin = login_as(client, username)
    with writes(app) as seen:
        response = admin.get("/admin/")
    assert response.status_code == 200
    assert seen, "the listener saw the audit entry being written"
    assert [s for s in seen if not AUDIT_INSERT_RE.match(s)] == []
    assert _tally_rows(app) == 0


def test_the_close_job_tallies_and_the_dashboard_shows_the_same_figures(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Reports three months back, counted live on the dashboard; the close job (on a given
    clock) tallies the settled months; the dashboard then reads them and shows the same
    page (read from the tallies), and its GET still writes nothing but the audit entry."""
    settled = shift_period(world.period, -3)
    with db(app) as session:
        for member_id, studied in [(world.alice, True), (world.carol, False)]:
            member = session.get(Member, member_id)
            assert member is not None
            record_report(session, member, period=settled, studied=studied, channel=Channel.SMS)
        session.commit()
    admin = login_as(client, "township")
    live = _figures(admin.get("/admin/").get_data(as_text=True))
    assert _tally_rows(app) == 0
    with app.app_context():
        reminders.close_periods(utcnow().isoformat())
    with db(app) as session:
        tallied = session.execute(
            select(func.sum(ReportTally.members), func.sum(ReportTally.reported)).where(
                ReportTally.period == settled
            )
        ).one()
    assert tuple(tallied) == (4, 2)  # two townships' members: 3 here, 1 in the other
    with writes(app) as seen:
        shown = _figures(admin.get("/admin/").get_data(as_text=True))
    assert [s for s in seen if not AUDIT_INSERT_RE.match(s)] == []
    assert shown == live
    # What it shows for the settled month now comes from the tallies.
    with db(app) as session:
        for tally in session.scalars(select(ReportTally).where(ReportTally.period == settled)):
            tally.members += 10
        session.commit()
    assert _figures(admin.get("/admin/").get_data(as_text=True)) != live
