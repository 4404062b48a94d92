"""Help-request deadlines, walked on the tick's controlled clock (the `now` the cron passes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Channel, HelpCategory, HelpNote, Role, open_help_request
from models.help import HelpEvent, add_help_note, resolve_help_request
from models.help_deadlines import (
    DEADLINES_KEY,
    DeadlineError,
    check_deadlines,
    deadlines_for,
    set_deadlines,
)
from models.reads.help_requests import late_requests
from models.scope import scope_for
from tests.factories import make_member, make_tree, make_user
from tests.gateway.sandbox_api import SandboxAPI
from tests.workers.jobs import sent_to
from workers import reminders

SHANGHAI = ZoneInfo("Asia/Shanghai")
HELP_STEPS = ("contact_overdue", "escalated", "still_texted")


def at(day: int, hour: int, month: int = 11) -> datetime:
    """A moment in 2026, Shanghai time."""
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def tick(now: datetime) -> dict[str, int]:
    """The cron tick at `now`, only its help-request steps (the monthly cycle runs too)."""
    return {k: v for k, v in reminders.tick(now.isoformat()).items() if k in HELP_STEPS}


def help_texts(sandbox: SandboxAPI, phone: str) -> list[str]:
    """What the sandbox was sent to a number about help requests (not the monthly reminders)."""
    return [m["body"] for m in sent_to(sandbox, phone) if "求助" in m["body"]]


def events(session: Session, request_id: int) -> list[HelpEvent | None]:
    """A request's history, oldest first: the deadline steps, None for a user's note."""
    session.expire_all()
    return list(
        session.scalars(
            select(HelpNote.event)
            .where(HelpNote.help_request_id == request_id)
            .order_by(HelpNote.id)
        )
    )


def test_each_deadline_escalates_once_and_the_member_is_told_once(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A wages request nobody touches: on the task lists after 2 days, one text in the
    evening window, escalated to the township after 15 days, and nothing twice."""
    township, branch, _ = make_tree(session)
    liaison = make_user(session, branch, Role.LIAISON)
    member = make_member(session, branch, liaison_id=liaison.id)
    request = open_help_request(
        session,
        member,
        category=HelpCategory.WAGES,
        text="欠薪",
        channel=Channel.SMS,
        at=at(1, 10),
    )
    ref = f"QZ{request.id}"
    session.commit()
    assert tick(at(3, 9)) == {}  # 47 hours: not yet
    assert tick(at(3, 11)) == {"contact_overdue": 1}  # out of the window: no text yet
    assert tick(at(3, 12)) == {}
    liaison_scope = scope_for(session, liaison)
    assert [row.request.id for row in late_requests(session, liaison_scope, "contact")] == [
        request.id
    ]
    assert tick(at(3, 20)) == {"still_texted": 1}
    work()
    assert help_texts(sandbox, member.phone) == [f"您的求助{ref}仍在办理中,村支部会尽快与您联系"]
    assert tick(at(10, 20)) == {}  # told once, even a week later
    assert tick(at(16, 9)) == {}  # created at 10:00: 15 days are not over at 09:00
    assert tick(at(16, 11)) == {"escalated": 1}
    assert tick(at(16, 20)) == {}
    township_user = make_user(session, township, Role.TOWNSHIP)
    escalated = late_requests(session, scope_for(session, township_user), "escalated")
    assert [(row.request.id, row.branch) for row in escalated] == [(request.id, branch.name)]
    assert events(session, request.id) == [
        HelpEvent.CONTACT_OVERDUE,
        HelpEvent.STILL_TEXTED,
        HelpEvent.ESCALATED,
    ]
    work()
    assert len(help_texts(sandbox, member.phone)) == 1


def test_a_note_in_time_keeps_it_off_the_task_lists_but_not_off_the_resolution_deadline(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """A housing request noted on day 1 is never overdue for contact; after 30 days unresolved
    it is escalated (and the member told then); a resolved one never is."""
    _, branch, _ = make_tree(session)
    user = make_user(session, branch, Role.BRANCH)
    member = make_member(session, branch)
    other = make_member(session, branch)
    noted = open_help_request(
        session,
        member,
        category=HelpCategory.HOUSING,
        text="",
        channel=Channel.SMS,
        at=at(1, 10),
    )
    settled = open_help_request(
        session,
        other,
        category=HelpCategory.HOUSING,
        text="",
        channel=Channel.SMS,
        at=at(1, 10),
    )
    add_help_note(session, noted, user_id=user.id, text="已电话联系", at=at(2, 9))
    resolve_help_request(session, settled, other, user_id=user.id, resolution="已解决", at=at(2, 9))
    session.commit()
    assert tick(at(5, 20)) == {}
    assert tick(at(30, 20)) == {}  # 29 days and 10 hours
    assert tick(at(1, 20, month=12)) == {"escalated": 1, "still_texted": 1}
    assert late_requests(session, scope_for(session, user), "contact") == []
    assert events(session, noted.id) == [None, HelpEvent.ESCALATED, HelpEvent.STILL_TEXTED]
    assert events(session, settled.id) == [None]


def test_never_more_than_one_still_handled_text_a_week(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Two late requests of one member: the second text waits a full week after the first."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch)
    first = open_help_request(
        session, member, category=HelpCategory.JOBS, text="", channel=Channel.SMS, at=at(1, 10)
    )
    second = open_help_request(
        session, member, category=HelpCategory.JOBS, text="", channel=Channel.SMS, at=at(3, 10)
    )
    session.commit()
    assert tick(at(3, 20)) == {"contact_overdue": 1, "still_texted": 1}
    assert tick(at(5, 20)) == {"contact_overdue": 1}
    assert tick(at(9, 20)) == {}  # six days later: still held
    assert tick(at(10, 20)) == {"still_texted": 1}  # a week and it is in the window
    work()
    assert help_texts(sandbox, member.phone) == [
        f"您的求助QZ{first.id}仍在办理中,村支部会尽快与您联系",
        f"您的求助QZ{second.id}仍在办理中,村支部会尽快与您联系",
    ]


def test_a_member_without_a_reachable_phone_is_escalated_but_not_texted(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """An invalid number: the steps are taken, no text is written."""
    _, branch, _ = make_tree(session)
    member = make_member(session, branch, phone_invalid_at=at(1, 0))
    open_help_request(
        session, member, category=HelpCategory.DISPUTE, text="", channel=Channel.SMS, at=at(1, 10)
    )
    session.commit()
    assert tick(at(3, 20)) == {"contact_overdue": 1}
    assert tick(at(16, 20)) == {"escalated": 1}
    work()
    assert help_texts(sandbox, member.phone) == []


def test_a_townships_own_deadlines_apply(
    session: Session, sandbox: SandboxAPI, work: Callable[[], int]
) -> None:
    """Documents: first contact within 5 days in this township, so day 3 is not late."""
    township, branch, _ = make_tree(session)
    values = {
        c.value: {"first_contact": 2, "resolution": 30 if c is not HelpCategory.WAGES else 15}
        for c in HelpCategory
    }
    values["documents"] = {"first_contact": 5, "resolution": 10}
    set_deadlines(township, check_deadlines(values))
    member = make_member(session, branch)
    open_help_request(
        session,
        member,
        category=HelpCategory.DOCUMENTS,
        text="",
        channel=Channel.SMS,
        at=at(1, 10),
    )
    session.commit()
    assert deadlines_for(township)[HelpCategory.DOCUMENTS].first_contact == 5
    assert tick(at(4, 12)) == {}
    assert tick(at(6, 12)) == {"contact_overdue": 1}
    assert tick(at(11, 12)) == {"escalated": 1}


def _all(first: object, resolution: object) -> dict[str, dict[str, object]]:
    return {c.value: {"first_contact": first, "resolution": resolution} for c in HelpCategory}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (_all(0, 15), "不能少于1天"),
        (_all(2, 366), "不能超过一年"),
        (_all("两天", 15), "整数天"),
        (_all("", 15), "整数天"),
        (_all(20, 15), "不能晚于办结期限"),
        (_all(-1, 15), "不能少于1天"),
    ],
)
def test_deadlines_below_a_day_or_above_a_year_are_refused(
    values: dict[str, dict[str, object]], message: str
) -> None:
    """Bad deadline settings are refused with a message naming the category."""
    with pytest.raises(DeadlineError) as raised:
        check_deadlines(values)  # type: ignore[arg-type]  # the bad inputs are the point
    assert message in raised.value.zh
    assert "工资" in raised.value.zh


def test_the_defaults_are_two_days_then_fifteen_or_thirty() -> None:
    """Defaults: 2 days to first contact; 15 to resolve wages and disputes, 30 the rest."""
    from models.org import Organization

    deadlines = deadlines_for(Organization(name="x", settings={}))
    assert {d.first_contact for d in deadlines.values()} == {2}
    assert {c for c, d in deadlines.items() if d.resolution == 15} == {
        HelpCategory.WAGES,
        HelpCategory.DISPUTE,
    }
    assert {d.resolution for d in deadlines.values()} == {15, 30}
    assert DEADLINES_KEY == "help_deadlines"
