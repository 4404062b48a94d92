"""Surveys by phone (三项调查, 五个摸清): questions by SMS and keypad, answers into the card.

`surveys` keeps a survey, its target and how it is asked; `survey_questions` its questions in
order; `survey_recipients` each member asked and how far they are; `survey_answers` one answer
per member and question. The member's card gains four fields the five things need (how they
work and live, whether the workplace has a Party organisation, the part they play there); a
line of history may come from a survey (`member_changes.survey_id`, source `survey`) and name
any card field a survey fills. The SMS question gets the topic `survey` with the step `answer`;
a survey's spoken answer is a recording of kind `survey`; a call that asks a survey has the
purpose `survey`. The CHECKs of the changed enums are made again with every value written out.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD_FIELDS = ("city", "employer", "phone", "host_org")
FIELDS = (
    *OLD_FIELDS,
    "other_phone",
    "departure_year",
    "reason",
    "province",
    "occupation",
    "industry",
    "work_form",
    "living",
    "education",
    "workplace_party_org",
    "party_role",
)
OLD_SOURCES = ("sms", "ivr", "admin", "import")
SOURCES = (*OLD_SOURCES, "survey")
OLD_TOPICS = ("report", "status", "help", "phone", "deed")
TOPICS = (*OLD_TOPICS, "survey")
OLD_STEPS = ("studied", "same", "place", "category", "details", "number")
STEPS = (*OLD_STEPS, "answer")
OLD_KINDS = (
    "thought_report",
    "help",
    "message",
    "unknown_caller",
    "new_city",
    "new_employer",
    "deed",
)
KINDS = (*OLD_KINDS, "survey")
OLD_PURPOSES = ("menu", "lesson", "reminder", "missed_call", "callback", "notice")
PURPOSES = (*OLD_PURPOSES, "survey")
CARD = ("work_form", "living", "workplace_party_org", "party_role")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _recheck(table: str, column: str, values: tuple[str, ...]) -> None:
    name = f"ck_{table}_{column}"
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="check")
        batch_op.create_check_constraint(name, _in(column, values))


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("title_en", sa.String(length=120), nullable=True),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("by_sms", sa.Boolean(), nullable=False),
        sa.Column("by_call", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remind_after_days", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("sent_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("closed_at", models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            _in("status", ("draft", "sending", "open", "closed")), name=op.f("ck_surveys_status")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_surveys_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_surveys_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_surveys_org_id"), ["org_id"], unique=False)
    op.create_table(
        "survey_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("text_en", sa.String(length=200), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            _in("kind", ("choice", "number", "text")), name=op.f("ck_survey_questions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_questions_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_questions")),
        sa.UniqueConstraint(
            "survey_id", "position", name=op.f("uq_survey_questions_survey_id_position")
        ),
    )
    op.create_table(
        "survey_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asked_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("asked_count", sa.Integer(), nullable=False),
        sa.Column("started_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("completed_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["organizations.id"],
            name=op.f("fk_survey_recipients_branch_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_survey_recipients_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_recipients_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_recipients")),
        sa.UniqueConstraint(
            "survey_id", "member_id", name=op.f("uq_survey_recipients_survey_id_member_id")
        ),
    )
    with op.batch_alter_table("survey_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_recipients_member", ["member_id", "completed_at"], unique=False
        )
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("answered_at", models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            _in("channel", ("sms", "ivr", "admin")), name=op.f("ck_survey_answers_channel")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["organizations.id"],
            name=op.f("fk_survey_answers_branch_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_survey_answers_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["survey_questions.id"],
            name=op.f("fk_survey_answers_question_id_survey_questions"),
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_survey_answers_recording_id_recordings"),
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_answers_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint(
            "question_id", "member_id", name=op.f("uq_survey_answers_question_id_member_id")
        ),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_answers_survey_question", ["survey_id", "question_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_answers_results",
            ["survey_id", "question_id", "branch_id", "choice", "number"],
            unique=False,
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        for name in CARD:
            batch_op.add_column(sa.Column(name, sa.String(length=64), nullable=True))
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_member_changes_survey_id_surveys", "surveys", ["survey_id"], ["id"]
        )
    _recheck("member_changes", "field", FIELDS)
    _recheck("member_changes", "source", SOURCES)
    _recheck("conversations", "topic", TOPICS)
    _recheck("conversations", "step", STEPS)
    _recheck("recordings", "kind", KINDS)
    _recheck("calls", "purpose", PURPOSES)


def downgrade() -> None:
    conversations = sa.table("conversations", sa.column("topic"))
    op.execute(conversations.delete().where(conversations.c.topic == "survey"))
    _recheck("calls", "purpose", OLD_PURPOSES)
    _recheck("recordings", "kind", OLD_KINDS)
    _recheck("conversations", "step", OLD_STEPS)
    _recheck("conversations", "topic", OLD_TOPICS)
    changes = sa.table("member_changes", sa.column("field"), sa.column("source"))
    op.execute(
        changes.delete().where(
            sa.or_(changes.c.field.not_in(OLD_FIELDS), changes.c.source == "survey")
        )
    )
    _recheck("member_changes", "source", OLD_SOURCES)
    _recheck("member_changes", "field", OLD_FIELDS)
    with op.batch_alter_table("member_changes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_member_changes_survey_id_surveys", type_="foreignkey")
        batch_op.drop_column("survey_id")
    with op.batch_alter_table("members", schema=None) as batch_op:
        for name in reversed(CARD):
            batch_op.drop_column(name)
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_results")
        batch_op.drop_index("ix_survey_answers_survey_question")
    op.drop_table("survey_answers")
    with op.batch_alter_table("survey_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_recipients_member")
    op.drop_table("survey_recipients")
    op.drop_table("survey_questions")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_org_id"))
    op.drop_table("surveys")
