"""Enum columns refuse values outside their enum: one CHECK constraint per column.

Every enum column is a VARCHAR holding the enum's value; until now nothing but the application
kept other text out. Each gets a CHECK named `ck_<table>_<column>` (models.base.NAMING).
Calls' direction and purpose, callbacks' reason and status, history's source, help requests'
channel, escalation steps, host organisations' kind and audit actions became enums in the
same change; their stored values did not change. (Conversations' topic and step got theirs in
0006.) SQLite cannot add a constraint to a table,
so each table is copied (batch mode); PostgreSQL adds them in place.

The values are written out here, not read from the models: this revision stays what it was
when later revisions change an enum.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "audit_logs": {
        "action": (
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
        ),
    },
    "broadcasts": {
        "status": ("scheduled", "resolving", "sending", "done", "cancelled"),
    },
    "callback_requests": {
        "reason": ("missed_call", "lesson"),
        "status": ("pending", "calling", "placed", "failed"),
    },
    "calls": {
        "direction": ("inbound", "outbound"),
        "purpose": ("menu", "lesson", "reminder", "missed_call", "callback"),
        "status": (
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
            "busy",
            "no-answer",
            "failed",
            "canceled",
        ),
    },
    "campaign_members": {
        "status": ("pending", "calling", "done", "missed", "skipped"),
    },
    "contact_logs": {
        "kind": ("monthly_contact", "home_visit", "host_feedback", "liaison_task"),
    },
    "help_requests": {
        "category": ("wages", "housing", "schooling", "jobs", "dispute", "documents", "other"),
        "channel": ("sms", "ivr", "admin"),
        "status": ("open", "in_progress", "resolved"),
    },
    "lesson_campaigns": {
        "status": ("scheduled", "running", "done", "cancelled"),
    },
    "lessons": {
        "category": ("policy", "skills", "experience", "market", "science"),
    },
    "member_changes": {
        "field": ("city", "employer", "phone", "host_org"),
        "source": ("sms", "ivr", "admin", "import"),
    },
    "member_ratings": {
        "grade": ("excellent", "qualified", "basically_qualified", "unqualified"),
    },
    "members": {
        "status": ("full", "probationary"),
        "language": ("zh_CN", "en"),
    },
    "messages": {
        "direction": ("in", "out"),
        "hold_reason": ("window", "daily_cap", "same_content"),
        "status": (
            "received",
            "queued",
            "sending",
            "sent",
            "delivered",
            "undelivered",
            "failed",
            "skipped",
        ),
    },
    "organizations": {
        "kind": ("township", "branch", "host"),
        "host_kind": ("migrant_branch", "joint_industry", "community"),
    },
    "recordings": {
        "kind": ("thought_report", "help", "message", "unknown_caller", "new_city", "new_employer"),
    },
    "reminder_steps": {
        "step": ("reminder", "second_reminder", "ivr_call", "liaison_task"),
    },
    "report_revisions": {
        "channel": ("sms", "ivr", "admin"),
    },
    "reports": {
        "channel": ("sms", "ivr", "admin"),
    },
    "users": {
        "role": ("township", "branch", "liaison", "host"),
    },
}


def _condition(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(f"ck_{table}_{column}", _condition(column, values))


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(f"ck_{table}_{column}", type_="check")
