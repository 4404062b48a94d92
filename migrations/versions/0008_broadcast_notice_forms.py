"""A notice with fields: the broadcast keeps its template key and the values.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_key", sa.String(length=64), nullable=True))
        # Broadcasts made before hold free text: no values.
        batch_op.add_column(
            sa.Column("params", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("params")
        batch_op.drop_column("template_key")
