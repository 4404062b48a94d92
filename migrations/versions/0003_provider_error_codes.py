"""Providers' error codes kept as text: the mainland providers' codes are words, not numbers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("messages", "calls")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "error_code",
                existing_type=sa.Integer(),
                type_=sa.String(length=64),
                existing_nullable=True,
                postgresql_using="error_code::text",
            )


def downgrade() -> None:
    # A code that is not a number has no integer form: it is dropped, the rest kept.
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                sa.text(f"UPDATE {table} SET error_code = NULL WHERE error_code !~ '^[0-9]+$'")
            )
        else:
            op.execute(
                sa.text(f"UPDATE {table} SET error_code = NULL WHERE error_code GLOB '*[^0-9]*'")
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "error_code",
                existing_type=sa.String(length=64),
                type_=sa.Integer(),
                existing_nullable=True,
                postgresql_using="error_code::integer",
            )
