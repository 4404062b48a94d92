"""Index the two references to messages that had none (privacy notices, provider pushes).

A message's row is checked against every table that refers to it when it is deleted or its
id changes; without an index each check reads the whole referring table.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_privacy_notices_message_id"), "privacy_notices", ["message_id"], unique=False
    )
    op.create_index(
        op.f("ix_provider_pushes_message_id"), "provider_pushes", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_provider_pushes_message_id"), table_name="provider_pushes")
    op.drop_index(op.f("ix_privacy_notices_message_id"), table_name="privacy_notices")
