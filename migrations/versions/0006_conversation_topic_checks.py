"""SMS questions are typed: conversations.topic and .step hold only the known values.

The columns stay VARCHAR(24) (models.base.enum_type); each gets the CHECK constraint an enum
column promises. Stored questions with another topic or step could not be read anyway (they
counted as no open question), so they are removed first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The values of models.question.Topic and Step as this revision knows them.
TOPICS = ("report", "status", "help", "phone")
STEPS = ("studied", "same", "place", "category", "details", "number")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    conversations = sa.table("conversations", sa.column("topic"), sa.column("step"))
    op.execute(
        conversations.delete().where(
            sa.or_(
                conversations.c.topic.not_in(TOPICS),
                conversations.c.step.not_in(STEPS),
            )
        )
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_conversations_topic"), _in("topic", TOPICS))
        batch_op.create_check_constraint(op.f("ck_conversations_step"), _in("step", STEPS))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_conversations_step"), type_="check")
        batch_op.drop_constraint(op.f("ck_conversations_topic"), type_="check")
