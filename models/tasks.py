"""Liaison tasks: the escalation's last step, a contact the branch owes a member who has not
reported. A task goes to the member's liaison, or to the branch when the member has none; it
is done when someone logs the contact. Tasks are ContactLog rows of kind LIAISON_TASK that
are not done yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models.contact import MAX_NOTE_CHARS, ContactKind, ContactLog, log_contact
from models.member import Member
from models.reads.common import Page
from models.scope import Scope

PER_PAGE = 50


def open_liaison_task(
    session: Session, member: Member, period: str, today: date, now: datetime
) -> ContactLog:
    """Ask the member's liaison (none: the branch) to reach a member who has not reported."""
    task = ContactLog(
        member_id=member.id,
        user_id=member.liaison_id,
        kind=ContactKind.LIAISON_TASK,
        period=period,
        contact_date=today,
        note="",  # the kind and the period say it all; the page words it in the reader's language
        done=False,
        created_at=now,
    )
    session.add(task)
    session.flush()
    return task


def visible_task(session: Session, scope: Scope, task_id: int) -> ContactLog | None:
    """A liaison task of a member the user may see, else None."""
    task = session.get(ContactLog, task_id)
    if task is None or task.kind is not ContactKind.LIAISON_TASK:
        return None
    member = session.get(Member, task.member_id)
    if member is None or not scope.sees_member(member):
        return None
    return task


def complete_task(
    session: Session, task: ContactLog, *, user_id: int, note: str, today: date, now: datetime
) -> ContactLog | None:
    """Mark a task done and log the contact it asked for (a monthly contact by this user);
    returns that contact, or None for a task already done (nothing is logged twice).

    A task nobody was given (a member without a liaison) becomes the task of whoever did it.
    """
    if task.done:
        return None
    task.done = True
    task.done_at = now
    if task.user_id is None:
        task.user_id = user_id
    return log_contact(
        session,
        task.member_id,
        kind=ContactKind.MONTHLY_CONTACT,
        contact_date=today,
        note=note[:MAX_NOTE_CHARS],
        user_id=user_id,
        at=now,
    )


@dataclass(frozen=True)
class TaskRow:
    """One task on the task page, with its member and who it is for."""

    task: ContactLog
    member: Member
    liaison_id: int | None  # the member's liaison now; None: the branch's task


def tasks(
    session: Session,
    scope: Scope,
    *,
    done: bool = False,
    unassigned_only: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[TaskRow]:
    """The liaison tasks of the user's members: open ones oldest first, the branch's own
    (members without a liaison) before the others; done ones newest first."""
    query = (
        select(ContactLog, Member)
        .join(Member, Member.id == ContactLog.member_id)
        .where(
            ContactLog.kind == ContactKind.LIAISON_TASK,
            ContactLog.done.is_(done),
            scope.member_clause(),
        )
    )
    if unassigned_only:
        query = query.where(Member.liaison_id.is_(None))
    if done:
        query = query.order_by(ContactLog.id.desc())
    else:
        query = query.order_by(case((Member.liaison_id.is_(None), 0), else_=1), ContactLog.id)
    page = max(1, page)
    counter = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = session.scalar(counter) or 0
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    items = [TaskRow(task, member, member.liaison_id) for task, member in rows]
    return Page(items, page, per_page, total)


__all__ = [
    "TaskRow",
    "complete_task",
    "open_liaison_task",
    "tasks",
    "visible_task",
]
