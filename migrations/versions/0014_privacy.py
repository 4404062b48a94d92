"""Privacy (个人信息保护): the notice members were given, the nightly retention runs, erased
members, recordings whose audio was let go, and when each user last logged in.

`privacy_notices` records that a member was told what is kept (the wording's version, by text
or at registration). `retention_runs` keeps one row per township and local night, so the
nightly run happens once. `members.erased_at` marks a tombstone, `recordings.deleted_at` a
recording whose audio was deleted (the row stays), `users.last_login_at` feeds the access
review and the disabling of unused logins. Audit entries gain the actions `reveal`, `erase`
and `retention`; the CHECK is made again with every value written out (as 0007 does).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

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
    "approve",
    "return",
)
ACTIONS = (*OLD_ACTIONS, "reveal", "erase", "retention")
CHANNELS = ("sms", "register")


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _recheck(table: str, column: str, values: tuple[str, ...]) -> None:
    name = f"ck_{table}_{column}"
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, f"{column} IN ({_listed(values)})")


def upgrade() -> None:
    op.create_table(
        "privacy_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            f"channel IN ({_listed(CHANNELS)})", name=op.f("ck_privacy_notices_channel")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_privacy_notices_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_privacy_notices_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_notices")),
    )
    op.create_index(
        op.f("ix_privacy_notices_member_id"), "privacy_notices", ["member_id"], unique=False
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("at", models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["organizations.id"],
            name=op.f("fk_retention_runs_township_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
        sa.UniqueConstraint(
            "township_id", "night", name=op.f("uq_retention_runs_township_id_night")
        ),
    )
    op.create_index("ix_retention_runs_at", "retention_runs", ["at"], unique=False)
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", models.base.UTCDateTime(), nullable=True))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", models.base.UTCDateTime(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_login_at", models.base.UTCDateTime(), nullable=True))
    _recheck("audit_logs", "action", ACTIONS)


def downgrade() -> None:
    _recheck("audit_logs", "action", OLD_ACTIONS)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    op.drop_index("ix_retention_runs_at", table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_index(op.f("ix_privacy_notices_member_id"), table_name="privacy_notices")
    op.drop_table("privacy_notices")
