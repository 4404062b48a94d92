"""Per-branch figures of a period: counted live, tallied once the period settles, the same
either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Channel, Organization, OrgKind, Role, record_report
from models.cycle import CycleError
from models.member import Member
from models.period import period_bounds, shift_period
from models.reads.dashboard import reporting_trend
from models.report import ReportTally
from models.scope import ids_in, scope_for
from models.tally import (
    SETTLE_DAYS,
    TALLY_MONTHS,
    branch_figures,
    tally_period,
    tally_settled,
    untallied_periods,
)
from tests.factories import make_member, make_org, make_tree, make_user

ZONE = "Asia/Shanghai"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
PERIODS = ["2025-12", "2026-01", "2026-02"]  # settled on NOW


def _small_world(session: Session) -> tuple[Organization, Organization, Organization]:
    """Two branches with members who studied, reported without study, missed a month, joined
    in the middle of one, left, or were on the register all along."""
    township, east, west = make_tree(session)
    long_ago = datetime(2024, 1, 1, tzinfo=UTC)
    a = make_member(session, east, name="甲", created_at=long_ago)
    b = make_member(session, east, name="乙", created_at=long_ago)
    c = make_member(session, west, name="丙", created_at=long_ago)
    joined = make_member(session, west, name="丁", created_at=datetime(2026, 1, 10, tzinfo=UTC))
    make_member(session, west, name="戊", created_at=long_ago, active=False)
    for member, period, studied in [
        (a, "2025-12", True),
        (b, "2025-12", False),
        (a, "2026-01", True),
        (c, "2026-01", True),
        (joined, "2026-01", True),  # kept, but January was not due for 丁
        (joined, "2026-02", False),
        (b, "2026-02", True),
    ]:
        record_report(session, member, period=period, studied=studied, channel=Channel.SMS)
    return township, east, west


def _tallies(session: Session, period: str) -> dict[int, tuple[int, int, int]]:
    rows = session.execute(
        select(
            ReportTally.branch_id, ReportTally.members, ReportTally.reported, ReportTally.studied
        ).where(ReportTally.period == period)
    ).all()
    return {branch: (m, r, s) for branch, m, r, s in rows}


def test_tallies_agree_with_the_live_count(session: Session) -> None:
    """Each branch's tally is the live count (a branch with nobody due: zeros), and the trend
    of a township and of a branch is the same before and after the tallies exist."""
    township, east, west = _small_world(session)
    branches = [east.id, west.id]
    live = {
        p: branch_figures(session, ids_in(Member.branch_id, branches), p, ZONE) for p in PERIODS
    }
    assert live["2026-01"] == {east.id: (2, 1, 1), west.id: (1, 1, 1)}
    scopes = [
        scope_for(session, make_user(session, township, Role.TOWNSHIP)),
        scope_for(session, make_user(session, west, Role.BRANCH)),
    ]
    before = [reporting_trend(session, scope, PERIODS, now=NOW) for scope in scopes]
    assert session.scalar(select(func.count(ReportTally.id))) == 0
    for period in PERIODS:
        assert tally_period(session, township, period, NOW) == 2
        assert _tallies(session, period) == {b: live[period].get(b, (0, 0, 0)) for b in branches}
    after = [reporting_trend(session, scope, PERIODS, now=NOW) for scope in scopes]
    assert after == before
    assert [(p.members, p.reported, p.studied) for p in after[0]] == [
        (3, 2, 1),
        (3, 2, 2),
        (4, 2, 1),
    ]


def test_a_period_is_tallied_only_once_it_has_settled(session: Session) -> None:
    """A week after the period ends, not before; and a malformed period is refused."""
    township, _, _ = make_tree(session)
    settles = period_bounds("2026-02", ZONE)[1] + timedelta(days=SETTLE_DAYS)
    with pytest.raises(CycleError, match="not settled"):
        tally_period(session, township, "2026-02", settles - timedelta(seconds=1))
    with pytest.raises(CycleError, match="YYYY-MM"):
        tally_period(session, township, "2026-2", NOW)
    assert "2026-02" not in untallied_periods(session, township, settles - timedelta(seconds=1))
    assert untallied_periods(session, township, settles)[-1] == "2026-02"
    assert tally_period(session, township, "2026-02", settles) == 2


def test_the_close_job_tallies_missed_periods_once_and_a_recount_replaces(
    session: Session,
) -> None:
    """Every settled period of the last two years without a tally is counted, once; counting
    a period again (a late correction) replaces its rows."""
    township, east, west = _small_world(session)
    other = make_org(session, "远山镇", OrgKind.TOWNSHIP)
    far = make_org(session, "远山村党支部", OrgKind.BRANCH, other)
    make_member(session, far, created_at=datetime(2024, 1, 1, tzinfo=UTC))
    done = tally_settled(session, township, NOW)
    assert done == [shift_period("2026-02", -i) for i in range(TALLY_MONTHS - 1, -1, -1)]
    assert tally_settled(session, township, NOW) == []
    # Another township's periods are its own to tally, and a recount here leaves them alone.
    assert untallied_periods(session, other, NOW) == done
    assert tally_settled(session, other, NOW) == done
    late = session.scalars(select(Member).where(Member.name == "丙")).one()
    record_report(session, late, period="2026-02", studied=True, channel=Channel.SMS)
    assert _tallies(session, "2026-02")[west.id] == (2, 1, 0)  # the tally stands until recounted
    assert tally_period(session, township, "2026-02", NOW) == 2
    assert _tallies(session, "2026-02") == {
        east.id: (2, 1, 1),
        west.id: (2, 2, 1),
        far.id: (1, 0, 0),
    }
