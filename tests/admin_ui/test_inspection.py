"""The inspection (考核检查): per branch and month, figures against known data, the branches
that fall short first, exports, links to the lists, and a bad month refused."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import (
    Broadcast,
    BroadcastStatus,
    Call,
    CallDirection,
    CallPurpose,
    CallStatus,
    Channel,
    ContactKind,
    ContactLog,
    Direction,
    HelpCategory,
    Member,
    Message,
    MessageStatus,
    open_help_request,
    record_report,
)
from models.period import Period, period_bounds, shift_period
from models.reads.inspection import inspection
from models.scope import scope_for
from models.user import User
from tests.admin_ui.world import World, db, login_as

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _month(world: World) -> str:
    return shift_period(world.period, -1)


def _in(month: str, day: int) -> datetime:
    """A moment on a day of the month, Shanghai time."""
    period = Period.parse(month)
    return datetime(period.year, period.month, day, 12, tzinfo=SHANGHAI)


def _known_month(app: Flask, world: World) -> str:
    """East: 1 of 2 reported, its task still open, its help request late, two notices (one
    approved, reaching both members: one text delivered, one call answered). West: carol
    reported, her task done in time, her help request within its deadlines."""
    month = _month(world)
    with db(app) as session:
        members = {m.id: m for m in session.scalars(select(Member))}
        carol, bob, alice = members[world.carol], members[world.bob], members[world.alice]
        record_report(session, carol, period=month, studied=True, channel=Channel.SMS)
        _, end = period_bounds(month, SHANGHAI)
        session.add_all(
            [
                ContactLog(
                    member_id=bob.id,
                    kind=ContactKind.LIAISON_TASK,
                    period=month,
                    contact_date=_in(month, 15).date(),
                    done=False,
                ),
                ContactLog(
                    member_id=carol.id,
                    kind=ContactKind.LIAISON_TASK,
                    period=month,
                    contact_date=_in(month, 15).date(),
                    done=True,
                    done_at=end - timedelta(days=3),
                ),
            ]
        )
        late = open_help_request(
            session,
            bob,
            category=HelpCategory.WAGES,
            text="",
            channel=Channel.SMS,
            at=_in(month, 3),
        )
        late.contact_overdue_at = _in(month, 5)
        open_help_request(
            session,
            carol,
            category=HelpCategory.JOBS,
            text="",
            channel=Channel.SMS,
            at=_in(month, 3),
        )
        approved = Broadcast(
            org_id=world.east,
            author_id=world.users["branch"],
            text="开会",
            status=BroadcastStatus.DONE,
            recipients=2,
            decided_by_id=world.users["township"],
            created_at=_in(month, 8),
        )
        waiting = Broadcast(
            org_id=world.east,
            author_id=world.users["branch"],
            text="再开会",
            status=BroadcastStatus.PENDING,
            recipients=2,
            created_at=_in(month, 9),
        )
        session.add_all([approved, waiting])
        session.flush()
        rows = []
        for member, status in ((alice, MessageStatus.DELIVERED), (bob, MessageStatus.FAILED)):
            row = Message(
                direction=Direction.OUT,
                member_id=member.id,
                phone=member.phone,
                body="开会",
                broadcast_id=approved.id,
                status=status,
                created_at=_in(month, 8),
            )
            session.add(row)
            rows.append(row)
        session.flush()
        session.add(
            Call(
                direction=CallDirection.OUTBOUND,
                member_id=bob.id,
                phone=bob.phone,
                purpose=CallPurpose.NOTICE,
                status=CallStatus.COMPLETED,
                message_id=rows[1].id,
                created_at=_in(month, 8),
            )
        )
        session.commit()
    return month


def test_the_figures_match_the_known_month_and_short_branches_come_first(
    app: Flask, world: World
) -> None:
    """East falls short on all three and comes first; every figure is what was put in."""
    month = _known_month(app, world)
    with db(app) as session:
        township = session.get(User, world.users["township"])
        assert township is not None
        east, west = inspection(session, scope_for(session, township), month)
    assert (east.name, east.due, east.reported, east.rate) == ("东村党支部", 2, 1, 0.5)
    assert (east.tasks, east.tasks_in_time, east.help, east.help_in_time) == (1, 0, 1, 0)
    assert (east.notices, east.approved, east.recipients, east.reached) == (2, 1, 2, 2)
    assert east.shortfalls == ("rate", "tasks", "help")
    assert (west.name, west.rate, west.tasks_in_time, west.help_in_time) == (
        "西村党支部",
        1.0,
        1,
        1,
    )
    assert west.shortfalls == ()


def test_the_page_links_each_figure_to_its_list_and_exports(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The table links to the members, non-reporters and help lists of the branch and month;
    the CSV holds the same figures and the export is audited."""
    month = _known_month(app, world)
    admin = login_as(client, "township")
    page = admin.get(f"/admin/inspection?period={month}").get_data(as_text=True)
    assert page.index(f'id="branch-{world.east}"') < page.index(f'id="branch-{world.west}"')
    assert f"/admin/help?branch={world.east}&amp;month={month}" in page
    assert f"/admin/members?branch={world.east}&amp;reported=no&amp;period={month}" in page
    listed = admin.get(f"/admin/help?branch={world.east}&month={month}").get_data(as_text=True)
    assert listed.count('href="/admin/help/') == 1
    exported = admin.get(f"/admin/inspection.csv?period={month}")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["月份", "支部", "应汇报人数"]
    assert rows[1][1:4] == ["东村党支部", "2", "1"]
    assert rows[2][1] == "西村党支部"
    xlsx = admin.get(f"/admin/inspection.xlsx?period={month}")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_a_bad_month_is_refused_with_a_message(client: FlaskClient, world: World) -> None:
    """Not YYYY-MM: 400, the message, and last month shown instead; branches may not open it."""
    admin = login_as(client, "township")
    response = admin.get("/admin/inspection?period=2026-13")
    assert response.status_code == 400
    assert 'id="period-error"' in response.get_data(as_text=True)
    assert login_as(client, "branch").get("/admin/inspection").status_code == 403
