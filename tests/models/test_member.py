"""Members: a dated history of every move, and the phone, opt-out and lookup operations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    ChangeField,
    ChangeSource,
    MemberChange,
    OrgKind,
    change_phone,
    change_status,
    find_member_by_phone,
    opt_in,
    opt_out,
)
from models.member import PhoneTaken, set_opted_out
from models.sql import Raw
from tests.factories import make_member, make_org

AT = datetime(2025, 3, 8, 12, 30, tzinfo=UTC)


def history(session: Session, member_id: int) -> list[tuple[ChangeField, str | None, str | None]]:
    """A member's changes, oldest first, as (field, old, new), read back from the database."""
    session.expire_all()
    rows = session.scalars(
        select(MemberChange)
        .where(MemberChange.member_id == member_id)
        .order_by(MemberChange.changed_at, MemberChange.id)
    )
    return [(c.field, c.old_value, c.new_value) for c in rows]


def test_change_status_moves_the_member_and_records_each_change(session: Session) -> None:
    """A new city, employer and host each update the member and leave a dated record."""
    host = make_org(session, "深圳宝安电子行业联合党支部", OrgKind.HOST)
    member = make_member(session, city="广州", employer="电子厂")

    changed = change_status(
        session,
        member,
        city="深圳",
        employer="富士康",
        host_org_id=host.id,
        source=ChangeSource.SMS,
        at=AT,
    )
    session.commit()

    assert changed == [ChangeField.CITY, ChangeField.EMPLOYER, ChangeField.HOST_ORG]
    assert (member.city, member.employer, member.host_org_id) == ("深圳", "富士康", host.id)
    assert history(session, member.id) == [
        (ChangeField.CITY, "广州", "深圳"),
        (ChangeField.EMPLOYER, "电子厂", "富士康"),
        (ChangeField.HOST_ORG, None, str(host.id)),
    ]
    stamps = session.execute(select(MemberChange.source, MemberChange.changed_at)).all()
    assert {tuple(row) for row in stamps} == {("sms", AT)}


def test_each_move_is_a_new_record_never_an_overwrite(session: Session) -> None:
    """Moving twice keeps both moves; the first is still there with its own date."""
    member = make_member(session, city="广州")
    later = datetime(2025, 6, 1, tzinfo=UTC)

    change_status(session, member, city="深圳", source=ChangeSource.SMS, at=AT)
    change_status(session, member, city="东莞", source=ChangeSource.IVR, at=later)
    session.commit()

    assert history(session, member.id) == [
        (ChangeField.CITY, "广州", "深圳"),
        (ChangeField.CITY, "深圳", "东莞"),
    ]
    session.expire_all()
    dates = session.scalars(select(MemberChange.changed_at).order_by(MemberChange.id)).all()
    assert dates == [AT, later]


def test_same_values_or_nothing_given_record_nothing(session: Session) -> None:
    """Reporting the city and employer one already has is not a change."""
    member = make_member(session, city="广州", employer="电子厂")

    changed = change_status(
        session, member, city="广州", employer="电子厂", source=ChangeSource.SMS
    )
    nothing = change_status(session, member, source=ChangeSource.SMS)
    session.flush()

    assert (changed, nothing) == ([], [])
    assert history(session, member.id) == []


def test_change_phone_keeps_the_old_number(session: Session) -> None:
    """A new phone becomes the registered one; the old one is kept as other phone and in history."""
    member = make_member(session, phone="+8613800138000")
    member.phone_invalid_at = AT

    assert change_phone(session, member, "+8613900139000", source=ChangeSource.ADMIN, at=AT)
    session.commit()

    assert (member.phone, member.other_phone) == ("+8613900139000", "+8613800138000")
    assert member.phone_invalid_at is None
    assert history(session, member.id) == [(ChangeField.PHONE, "+8613800138000", "+8613900139000")]
    assert find_member_by_phone(session, "+8613900139000") is member
    assert find_member_by_phone(session, "+8613800138000") is None


def test_change_phone_refuses_another_members_number(session: Session) -> None:
    """The rule is in change_phone itself, whoever calls it: nothing changes, nothing recorded."""
    member = make_member(session, phone="+8613800138000")
    make_member(session, member.branch, phone="+8613900139000")

    with pytest.raises(PhoneTaken):
        change_phone(session, member, "+8613900139000", source=ChangeSource.IMPORT, at=AT)
    session.flush()

    assert (member.phone, member.other_phone) == ("+8613800138000", None)
    assert history(session, member.id) == []


def test_change_phone_to_the_same_number_is_no_change(session: Session) -> None:
    """Giving the number a member already has changes and records nothing."""
    member = make_member(session, phone="+8613800138000")

    assert not change_phone(session, member, "+8613800138000", source=ChangeSource.SMS)
    session.flush()

    assert member.other_phone is None
    assert history(session, member.id) == []


def test_opting_out_by_orm_and_by_raw_sql_stores_the_same(session: Session) -> None:
    """Parity: the admin's and workers' entry (opt_out/opt_in on a Member) and the SMS
    path's (set_opted_out on the raw connection) are one rule and leave the same rows."""
    by_orm, by_raw = make_member(session), make_member(session)
    steps: list[datetime | None] = [AT, datetime(2025, 4, 1, tzinfo=UTC), None, AT]
    seen: dict[str, list[datetime | None]] = {"orm": [], "raw": []}
    for at in steps:
        if at is None:
            opt_in(session, by_orm)
        else:
            opt_out(session, by_orm, at=at)
        set_opted_out(Raw.of(session.connection()), by_raw.id, at)
        session.commit()
        session.expire_all()
        seen["orm"].append(by_orm.opted_out_at)
        seen["raw"].append(by_raw.opted_out_at)
    assert seen["orm"] == seen["raw"] == [AT, AT, None, AT]


def test_opt_out_keeps_the_first_time_and_opt_in_clears_it(session: Session) -> None:
    """Opting out twice keeps the first time; opting in resumes sends."""
    member = make_member(session)

    opt_out(session, member, at=AT)
    opt_out(session, member, at=datetime(2025, 4, 1, tzinfo=UTC))
    session.commit()
    session.refresh(member)
    assert (member.opted_out, member.opted_out_at) == (True, AT)

    opt_in(session, member)
    session.commit()
    session.refresh(member)
    assert (member.opted_out, member.opted_out_at) == (False, None)
