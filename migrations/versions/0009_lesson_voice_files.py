"""Lessons keep their audio's code and approval state at the township's voice provider.

Alibaba Cloud voice plays only audio files it approved: a lesson is uploaded (its voiceCode
kept in `voice_code`), reviewed for about two hours (`voice_state`: uploading, in_review,
approved, rejected, failed; `voice_note` says why a file was refused), and checked again by the
outbox sweep (`voice_checked_at`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STATES = ("uploading", "in_review", "approved", "rejected", "failed")


def upgrade() -> None:
    listed = ", ".join(f"'{state}'" for state in STATES)
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voice_code", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("voice_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("voice_note", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("voice_checked_at", models.base.UTCDateTime(), nullable=True))
        batch_op.create_check_constraint("ck_lessons_voice_state", f"voice_state IN ({listed})")


def downgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_constraint("ck_lessons_voice_state", type_="check")
        batch_op.drop_column("voice_checked_at")
        batch_op.drop_column("voice_note")
        batch_op.drop_column("voice_state")
        batch_op.drop_column("voice_code")
