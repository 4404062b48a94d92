"""The monthly cycle's jobs: the escalation tick, and closing a finished period (its
non-reporters, then its tallies once its figures settle)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Organization,
    OrgKind,
    open_conversation,
    utcnow,
)
from models.cycle import (
    REMINDER_CALL,
    DueStep,
    close_period,
    due_steps,
    record_step,
    rules_for,
)
from models.help_deadlines import sweep_deadlines
from models.outbox import queue_sms
from models.period import month_label, period_of, previous_period
from models.privacy import nightly
from models.question import Question, ReportAnswers, Step, Topic
from models.survey_sms import ask_due
from models.tally import tally_settled
from models.tasks import open_liaison_task
from models.voice import queue_outbound_call
from workers.calls import enqueue_call
from workers.context import app_context
from workers.sending import enqueue_send

log = logging.getLogger(__name__)

TEMPLATES = {"reminder": "reminder", "second_reminder": "reminder_second"}
# Periods are closed on the first days of the next month (a missed day still closes them).
CLOSE_ON_DAYS = 3


def take_step(session: Session, due: DueStep, now: datetime, zone: ZoneInfo) -> int | None:
    """Carry out one escalation step for a member; returns the outbox row id of an SMS step.

    A reminder opens the SMS conversation, so a bare 1 or 2 answers it.
    """
    member, step = due.member, due.step
    message_id: int | None = None
    if step in TEMPLATES:
        message = queue_sms(
            session,
            template_key=TEMPLATES[step],
            params={"name": member.name, "month": month_label(due.period, member.language.value)},
            member=member,
            at=now,
        )
        open_conversation(
            session,
            member.id,
            Question(Topic.REPORT, Step.STUDIED, ReportAnswers(period=due.period)),
            now=now,
            ttl_hours=current_app.config["CONVERSATION_TTL_HOURS"],
        )
        message_id = message.id
    elif step == "ivr_call":
        call = queue_outbound_call(session, member, purpose=REMINDER_CALL, at=now)
        enqueue_call(session, call)
    elif step == "liaison_task":
        open_liaison_task(session, member, due.period, now.astimezone(zone).date(), now)
    record_step(session, member.id, due.period, step, now)
    return message_id


def run_township(session: Session, township: Organization, now: datetime) -> Counter[str]:
    """One tick for one township: every due step, then the SMS handed to the sender."""
    taken: Counter[str] = Counter()
    message_ids: list[int] = []
    zone = rules_for(township).timezone
    for due in due_steps(session, township, now):
        message_id = take_step(session, due, now, zone)
        if message_id is not None:
            message_ids.append(message_id)
        taken[due.step] += 1
    enqueue_send(session, message_ids)
    return taken


def run_deadlines(session: Session, township: Organization, now: datetime) -> Counter[str]:
    """The help requests' deadline steps due now in one township, texts handed to the sender."""
    swept = sweep_deadlines(session, township, now)
    enqueue_send(session, swept.message_ids)
    return swept.taken


def run_surveys(session: Session, township: Organization, now: datetime) -> Counter[str]:
    """Ask the survey questions due now in one township (models.survey_sms.ask_due), after its
    reminders, so a report's reminder opened this tick holds the survey back."""
    config = current_app.config
    asked = ask_due(
        session,
        township,
        now,
        provider=str(config["PROVIDER"]),
        ttl_hours=config["CONVERSATION_TTL_HOURS"],
    )
    enqueue_send(session, asked.message_ids)
    return Counter({"survey_question": asked.questions, "survey_reminder": asked.reminders})


def tick(now_iso: str | None = None) -> dict[str, int]:
    """Job (cron): take every escalation step that is due now, township by township, the
    help requests' deadline steps (models.help_deadlines) and the survey questions due
    (models.survey_sms)."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    total: Counter[str] = Counter()
    with app_context() as session:
        townships = session.scalars(
            select(Organization).where(Organization.kind == OrgKind.TOWNSHIP)
        ).all()
        for township in townships:
            total += run_township(session, township, now)
            session.commit()
            total += run_deadlines(session, township, now)
            session.commit()
            total += run_surveys(session, township, now)
            session.commit()
    return dict(total)


def close_periods(now_iso: str | None = None) -> dict[str, int]:
    """Job (cron): in the first days of a month, fix last month's non-reporters everywhere;
    and tally each period whose figures have settled (`models.tally.tally_settled`: the
    period that settled a week after it ended, and any an earlier run missed), so the pages
    only read them; once a local night, the township's privacy run (`run_privacy_night`). Returns the non-reporters added per township closed."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    closed: dict[str, int] = {}
    with app_context() as session:
        townships = session.scalars(
            select(Organization).where(Organization.kind == OrgKind.TOWNSHIP)
        ).all()
        for township in townships:
            zone = rules_for(township).timezone
            if now.astimezone(zone).day <= CLOSE_ON_DAYS:
                period = previous_period(period_of(now, str(zone)))
                closed[township.name] = close_period(session, township, period, now)
            tally_settled(session, township, now)
            session.commit()
            run_privacy_night(session, township, now)
    return closed


def run_privacy_night(session: Session, township: Organization, now: datetime) -> None:
    """The township's nightly privacy run (retention and unused logins, models.privacy.nightly)
    when it is night there and it has not run this night; logs what it removed."""
    try:
        removed = nightly(session, township, now)
        session.commit()
    except IntegrityError:  # another process took this night first
        session.rollback()
        return
    if removed is not None:
        log.info("privacy retention for %s: %s", township.name, removed.counts())


__all__ = [
    "close_periods",
    "run_deadlines",
    "run_privacy_night",
    "run_surveys",
    "run_township",
    "take_step",
    "tick",
]
