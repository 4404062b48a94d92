"""Pushes from the mainland providers, each item kept once before it is acknowledged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("feed", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_provider_pushes_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_pushes")),
        sa.UniqueConstraint(
            "provider", "feed", "key", name=op.f("uq_provider_pushes_provider_feed_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_pushes")
