"""Follow-up that does not wait for someone to act: help-request deadlines, notices approved
up the chain.

Help requests keep when they were first followed up (`first_contact_at`), put on the branch's
task lists for want of that (`contact_overdue_at`), escalated to the township for want of a
resolution (`escalated_at`), and when the member was told the request is still being handled
(`still_texted_at`). A note may be a step the deadlines took by themselves (`event`).

A broadcast may wait for a township user's approval (status `pending`) or be returned to its
author (`returned`): it keeps why it had to wait, its estimated cost, who decided when, and
the reason of a return. Audit entries gain the actions `approve` and `return`. The CHECKs of
the two changed enums are made again with every value written out (as 0007 does).

Texts that fail become calls: a call may stand in for one failed text (`calls.message_id`,
unique), with the purpose `notice` when it reads a notice out; a broadcast may be `essential`
(a member whose text fails is called).

Lessons that resume: a listen keeps the second of the lesson it ended at (`position`).

The inspection (考核检查) asks whether a liaison task was done in time: `contact_logs.done_at`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

EVENTS = ("contact_overdue", "escalated", "still_texted")
OLD_BROADCAST_STATUSES = ("scheduled", "resolving", "sending", "done", "cancelled")
BROADCAST_STATUSES = ("pending", "returned", *OLD_BROADCAST_STATUSES)
OLD_ACTIONS = (
    "view",
    "export",
    "play",
    "edit",
    "contact",
    "flag",
    "attend",
    "send",
    "upload",
    "resolve",
    "note",
    "assign",
    "link",
    "handle",
    "login",
    "logout",
    "login_failed",
    "password_changed",
    "user_disabled",
    "simulate",
    "check",
    "import",
    "rate",
    "settings",
)
ACTIONS = (*OLD_ACTIONS, "approve", "return")
OLD_PURPOSES = ("menu", "lesson", "reminder", "missed_call", "callback")
PURPOSES = (*OLD_PURPOSES, "notice")


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _recheck(table: str, column: str, values: tuple[str, ...]) -> None:
    name = f"ck_{table}_{column}"
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, f"{column} IN ({_listed(values)})")


HELP_TIMES = ("first_contact_at", "contact_overdue_at", "escalated_at", "still_texted_at")


def upgrade() -> None:
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        for name in HELP_TIMES:
            batch_op.add_column(sa.Column(name, models.base.UTCDateTime(), nullable=True))
    listed = ", ".join(f"'{event}'" for event in EVENTS)
    with op.batch_alter_table("help_notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.String(length=24), nullable=True))
        batch_op.create_check_constraint("ck_help_notes_event", f"event IN ({listed})")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approval_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("cost", sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column("decided_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("return_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_broadcasts_decided_by_id_users", "users", ["decided_by_id"], ["id"]
        )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("essential", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _recheck("broadcasts", "status", BROADCAST_STATUSES)
    _recheck("audit_logs", "action", ACTIONS)
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_calls_message_id_messages", "messages", ["message_id"], ["id"]
        )
        batch_op.create_unique_constraint("uq_calls_message_id", ["message_id"])
    _recheck("calls", "purpose", PURPOSES)
    with op.batch_alter_table("lesson_listens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
    with op.batch_alter_table("contact_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_at", models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_logs", schema=None) as batch_op:
        batch_op.drop_column("done_at")
    with op.batch_alter_table("lesson_listens", schema=None) as batch_op:
        batch_op.drop_column("position")
    _recheck("calls", "purpose", OLD_PURPOSES)
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint("uq_calls_message_id", type_="unique")
        batch_op.drop_constraint("fk_calls_message_id_messages", type_="foreignkey")
        batch_op.drop_column("message_id")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("essential")
    _recheck("audit_logs", "action", OLD_ACTIONS)
    _recheck("broadcasts", "status", OLD_BROADCAST_STATUSES)
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_broadcasts_decided_by_id_users", type_="foreignkey")
        batch_op.drop_column("return_reason")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by_id")
        batch_op.drop_column("cost")
        batch_op.drop_column("approval_reasons")
    with op.batch_alter_table("help_notes", schema=None) as batch_op:
        batch_op.drop_constraint("ck_help_notes_event", type_="check")
        batch_op.drop_column("event")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        for name in reversed(HELP_TIMES):
            batch_op.drop_column(name)
