"""Liaison tasks: the contacts the escalation asks for, and marking them done."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from admin_ui.auth import FOLLOW_UP, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.forms import TaskDoneForm
from admin_ui.helpers import arg_page
from infra.db import get_session
from models import reads, utcnow
from models.tasks import complete_task, visible_task
from models.tasks import tasks as list_tasks

# The lists a user can show: open tasks, only the branch's own (members without a liaison),
# and the tasks already done.
SHOWS = ("open", "branch", "done")


def _page(status: int = 200, failed: tuple[int, TaskDoneForm] | None = None) -> tuple[str, int]:
    scope = current_scope()
    db = get_session()
    show = request.args.get("show", "open")
    if show not in SHOWS:
        show = "open"
    page = list_tasks(
        db, scope, done=show == "done", unassigned_only=show == "branch", page=arg_page()
    )
    names = reads.common.user_names(
        db, {row.liaison_id for row in page.items} | {row.task.user_id for row in page.items}
    )
    late_help = reads.help_requests.late_requests(db, scope, "contact") if show != "done" else []
    record("view", "tasks", {"show": show, "page": page.page})
    db.commit()
    return (
        render_template(
            "admin/tasks.html",
            page=page,
            late_help=late_help,
            names=names,
            show=show,
            shows=SHOWS,
            failed_id=failed[0] if failed else None,
            failed_form=failed[1] if failed else None,
            form=TaskDoneForm(),
        ),
        status,
    )


@bp.get("/tasks")
@require(*FOLLOW_UP)
def tasks() -> tuple[str, int]:
    """The liaison tasks of the user's members; a branch also sees those nobody was given.
    Above them, the help requests nobody followed up by their first-contact deadline."""
    return _page()


@bp.post("/tasks/<int:task_id>/done")
@require(*FOLLOW_UP)
def task_done(task_id: int) -> Any:
    """Mark a task done with a note: the contact goes into the member's contact log."""
    scope = current_scope()
    db = get_session()
    task = visible_task(db, scope, task_id)
    if task is None:
        abort(404)
    form = TaskDoneForm()
    if not form.validate_on_submit():
        return _page(400, (task.id, form))
    now = utcnow()
    contact = complete_task(
        db,
        task,
        user_id=current_account().id,
        note=form.note.data or "",
        today=_today(scope.timezone, now),
        now=now,
    )
    if contact is not None:
        record("contact", f"member:{task.member_id}", {"task": task.id})
        db.commit()
        flash(_("Task done; the contact is in the member's contact log."), "success")
    else:
        flash(_("This task was already done."), "info")
    return redirect(url_for("admin.tasks", show=request.args.get("show", "open")))


def _today(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()
