"""Follow-up that does not wait for someone to act: help-request deadlines.

Help requests keep when they were first followed up (`first_contact_at`), put on the branch's
task lists for want of that (`contact_overdue_at`), escalated to the township for want of a
resolution (`escalated_at`), and when the member was told the request is still being handled
(`still_texted_at`). A note may be a step the deadlines took by themselves (`event`).

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

EVENTS = ("contact_overdue", "escalated", "still_texted")
HELP_TIMES = ("first_contact_at", "contact_overdue_at", "escalated_at", "still_texted_at")


def upgrade() -> None:
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        for name in HELP_TIMES:
            batch_op.add_column(sa.Column(name, models.base.UTCDateTime(), nullable=True))
    listed = ", ".join(f"'{event}'" for event in EVENTS)
    with op.batch_alter_table("help_notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.String(length=24), nullable=True))
        batch_op.create_check_constraint("ck_help_notes_event", f"event IN ({listed})")


def downgrade() -> None:
    with op.batch_alter_table("help_notes", schema=None) as batch_op:
        batch_op.drop_constraint("ck_help_notes_event", type_="check")
        batch_op.drop_column("event")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        for name in reversed(HELP_TIMES):
            batch_op.drop_column(name)
