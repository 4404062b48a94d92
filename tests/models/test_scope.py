"""Scopes: which members each role may see."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Member, OrgKind, Role
from models.scope import scope_for, visible_branches
from tests.factories import make_member, make_org, make_tree, make_user


def _visible(session: Session, user_id: int) -> set[str]:
    from models import User

    user = session.get(User, user_id)
    assert user is not None
    scope = scope_for(session, user)
    names = session.scalars(select(Member.name).where(scope.member_clause())).all()
    for member in session.scalars(select(Member)):
        assert scope.sees_member(member) == (member.name in names)
    return set(names)


def test_each_role_sees_its_own_members(session: Session) -> None:
    """Township: its tree; branch: its members; liaison: the assigned; host: the attached."""
    township, east, west = make_tree(session)
    host = make_org(session, "东莞长安社区党委", OrgKind.HOST)
    far = make_org(session, "远山镇", OrgKind.TOWNSHIP)
    far_branch = make_org(session, "远山村", OrgKind.BRANCH, far)
    liaison = make_user(session, east, Role.LIAISON)
    make_member(session, east, name="甲", liaison_id=liaison.id, host_org_id=host.id)
    make_member(session, east, name="乙")
    make_member(session, west, name="丙", host_org_id=host.id)
    make_member(session, far_branch, name="丁")
    assert _visible(session, make_user(session, township, Role.TOWNSHIP).id) == {"甲", "乙", "丙"}
    assert _visible(session, make_user(session, east, Role.BRANCH).id) == {"甲", "乙"}
    assert _visible(session, liaison.id) == {"甲"}
    assert _visible(session, make_user(session, host, Role.HOST).id) == {"甲", "丙"}


def test_branches_and_time_zone_come_from_the_township(session: Session) -> None:
    """A branch user's scope has its one branch and its township's time zone."""
    township, east, _ = make_tree(session)
    township.timezone = "Asia/Urumqi"
    session.flush()
    township_scope = scope_for(session, make_user(session, township, Role.TOWNSHIP))
    branch_scope = scope_for(session, make_user(session, east, Role.BRANCH))
    assert len(township_scope.branch_ids) == 2
    assert branch_scope.branch_ids == (east.id,)
    assert branch_scope.timezone == "Asia/Urumqi"
    assert branch_scope.township_id == township.id
    assert [b.name for b in visible_branches(session, branch_scope)] == ["东村党支部"]
