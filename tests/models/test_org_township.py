"""The township above an organisation, one at a time and for many at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import OrgKind
from models.org import township_of, township_settings
from tests.factories import make_org


def test_township_settings_reads_what_township_of_finds_for_every_kind_of_org(
    session: Session,
) -> None:
    """Branches of two townships, a host under a branch, a township itself, an orphan
    branch, and an id that names nothing: the batch read agrees with township_of."""
    north = make_org(session, "北山镇", OrgKind.TOWNSHIP, settings={"daily_cap": 3})
    south = make_org(session, "南山镇", OrgKind.TOWNSHIP, settings={"daily_cap": 7})
    orgs = [
        north,
        south,
        make_org(session, "北一村", OrgKind.BRANCH, north),
        make_org(session, "南一村", OrgKind.BRANCH, south),
        make_org(session, "孤村", OrgKind.BRANCH, None, settings={"daily_cap": 1}),
    ]
    orgs.append(make_org(session, "南一村驻厂", OrgKind.HOST, orgs[3]))
    session.commit()

    found = township_settings(session, [org.id for org in orgs] + [999_999])

    assert found == {org.id: township_of(session, org).settings for org in orgs}
    assert [found[org.id]["daily_cap"] for org in orgs] == [3, 7, 3, 7, 1, 7]
