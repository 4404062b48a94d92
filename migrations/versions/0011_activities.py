"""Activities: deeds for home (五个一) and the tips board, the exemplary mark (树形象).

`deeds` keeps each deed a member logged by SMS or keypad (item 1 of 五个一 is a tip for the
tips board, also typed by staff), its status and who confirmed or declined it, and a tip's
listens. `exemplars` keeps the branch's exemplary mark per member and year. A spoken deed is a
recording of kind `deed`; an SMS deed without text asks for it under the topic `deed`; a user
who is also a member is linked by `users.member_id` (no foreign key: members refer to users).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The values as this revision knows them (later revisions may change the enums).
CHANNELS = ("sms", "ivr", "admin")
TOPICS = ("farming", "jobs", "business", "market", "other")
STATUSES = ("pending", "confirmed", "declined", "unoffered")
RECORDING_KINDS = (
    "thought_report",
    "help",
    "message",
    "unknown_caller",
    "new_city",
    "new_employer",
)
QUESTION_TOPICS = ("report", "status", "help", "phone")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "deeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("recording_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_org_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("listens", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(_in("channel", CHANNELS), name=op.f("ck_deeds_channel")),
        sa.CheckConstraint(_in("topic", TOPICS), name=op.f("ck_deeds_topic")),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_deeds_status")),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_deeds_author_id_users")),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_deeds_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_org_id"],
            ["organizations.id"],
            name=op.f("fk_deeds_decided_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_deeds_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_deeds_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_deeds_recording_id_recordings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deeds")),
    )
    op.create_index("ix_deeds_member_created", "deeds", ["member_id", "created_at"])
    op.create_index("ix_deeds_status_created", "deeds", ["status", "created_at"])
    op.create_index(op.f("ix_deeds_org_id"), "deeds", ["org_id"])
    op.create_table(
        "exemplars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("marked_by", sa.Integer(), nullable=True),
        sa.Column("marked_at", models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["marked_by"], ["users.id"], name=op.f("fk_exemplars_marked_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_exemplars_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemplars")),
        sa.UniqueConstraint("member_id", "year", name=op.f("uq_exemplars_member_id_year")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_recordings_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_recordings_kind"), _in("kind", (*RECORDING_KINDS, "deed"))
        )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_conversations_topic"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_conversations_topic"), _in("topic", (*QUESTION_TOPICS, "deed"))
        )


def downgrade() -> None:
    conversations = sa.table("conversations", sa.column("topic"))
    op.execute(conversations.delete().where(conversations.c.topic == "deed"))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_conversations_topic"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_conversations_topic"), _in("topic", QUESTION_TOPICS)
        )
    op.drop_table("exemplars")
    op.drop_index(op.f("ix_deeds_org_id"), table_name="deeds")
    op.drop_index("ix_deeds_status_created", table_name="deeds")
    op.drop_index("ix_deeds_member_created", table_name="deeds")
    op.drop_table("deeds")
    recordings = sa.table("recordings", sa.column("kind"))
    op.execute(recordings.delete().where(recordings.c.kind == "deed"))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_recordings_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_recordings_kind"), _in("kind", RECORDING_KINDS))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("member_id")
