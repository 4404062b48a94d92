"""Lesson campaigns: call each member inside their window, retry those not reached, then text.

A campaign's members are CampaignMember rows. The tick places the calls that are due (never
in a busy season, only inside the member's window), and reads how placed calls ended (the
voice webhooks write that on the Call row): a person answered -> done; no answer, busy,
failed or a machine -> call again (+30 min, the next evening, the evening after), and after
the last one an SMS says how to call in and hear the lesson.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    Call,
    CallStatus,
    CampaignStatus,
    Lesson,
    LessonCampaign,
    Member,
    Organization,
    utcnow,
)
from models.call import CALL_FINAL, CallPurpose
from models.cycle import (
    CycleRules,
    in_busy_season,
    may_contact,
    may_place_call,
    next_contact_time,
    rules_for,
)
from models.lesson import (
    CampaignMember,
    CampaignMemberStatus,
    add_campaign_members,
    call_reached_member,
    next_attempt_at,
)
from models.org import township_of
from models.outbox import queue_sms
from models.voice import queue_outbound_call
from workers.calls import call_job_id, enqueue_call, place_call
from workers.context import app_context
from workers.queues import CALLS, enqueue, enqueue_after_commit
from workers.sending import enqueue_send
from workers.survey_calls import place_survey_calls

BATCH = 1000  # campaign members placed per tick at most
# A call with no final status this long after it was made lost its callbacks: judge it as is.
CALL_GIVE_UP = timedelta(hours=2)


def start_campaign(session: Session, campaign: LessonCampaign) -> None:
    """Write the campaign's members and start calling, once the session commits."""
    enqueue_after_commit(
        session, open_campaign, campaign.id, queue=CALLS, job_id=f"campaign-open-{campaign.id}"
    )


def open_campaign(campaign_id: int) -> int:
    """Job: write a campaign's members (again is harmless), then run one tick."""
    with app_context() as session:
        campaign = session.get(LessonCampaign, campaign_id)
        if campaign is None or campaign.status is CampaignStatus.CANCELLED:
            return 0
        added = add_campaign_members(session, campaign, utcnow())
        session.commit()
        # Inside the app context: a worker's job has no other app to reach Redis through.
        enqueue(campaign_tick, queue=CALLS, job_id="campaign-tick")
    return added


class _Rules:
    """Township rules per branch, read once per tick."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[int, CycleRules] = {}

    def of(self, member: Member) -> CycleRules:
        if member.branch_id not in self.cache:
            branch = self.session.get(Organization, member.branch_id)
            assert branch is not None  # branch_id is a non-null foreign key
            self.cache[member.branch_id] = rules_for(township_of(self.session, branch), branch)
        return self.cache[member.branch_id]


def _follow_up(session: Session, rules: _Rules, now: datetime) -> Counter[str]:
    """Judge the campaign calls that ended: done, call again later, or text the member."""
    counts: Counter[str] = Counter()
    rows = session.execute(
        select(CampaignMember, Call)
        .join(Call, Call.id == CampaignMember.call_id)
        .where(CampaignMember.status == CampaignMemberStatus.CALLING)
    ).all()
    texts: list[int] = []
    for entry, call in rows:
        ended = call.status in CALL_FINAL
        if not ended and call.created_at > now - CALL_GIVE_UP:
            continue
        outcome = _judge(session, rules, entry, call, texts, now)
        if outcome is not None:
            counts[outcome] += 1
    enqueue_send(session, texts)
    return counts


def _judge(
    session: Session,
    rules: _Rules,
    entry: CampaignMember,
    call: Call,
    texts: list[int],
    now: datetime,
) -> str | None:
    """Move one campaign member on after its call ended: `done`, `retry` or `missed` (the SMS
    id goes into `texts`); None if another job judged this call first."""
    member = session.get(Member, entry.member_id)
    assert member is not None  # a foreign key
    answered = call.status is CallStatus.IN_PROGRESS or call.status is CallStatus.COMPLETED
    retry_at = None
    if answered and call_reached_member("completed", call.answered_by):
        status, outcome = CampaignMemberStatus.DONE, "done"
    else:
        # A call ends after it is made; the later of the two is when it ended.
        last = max(call.ended_at or call.created_at, call.created_at)
        retry_at = next_attempt_at(entry.attempts, last, member, rules.of(member))
        if retry_at is None:
            status, outcome = CampaignMemberStatus.MISSED, "missed"
        else:
            status, outcome = CampaignMemberStatus.PENDING, "retry"
    values: dict[str, object] = {"status": status, "updated_at": now}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    # A conditional update: the tick and the status callback's follow-up judge a call once.
    claimed = session.execute(
        update(CampaignMember)
        .where(
            CampaignMember.id == entry.id,
            CampaignMember.status == CampaignMemberStatus.CALLING,
            CampaignMember.call_id == call.id,
        )
        .values(**values)
    )
    if not getattr(claimed, "rowcount", 0):
        return None
    if status is CampaignMemberStatus.MISSED:
        texts.append(_text_missed(session, entry, member, now))
    return outcome


def follow_up_after_commit(session: Session, call_id: int) -> None:
    """Judge a campaign call that just ended, once the session commits (the status callback)."""
    enqueue_after_commit(
        session, follow_up_call, call_id, queue=CALLS, job_id=f"campaign-follow-up-{call_id}"
    )


def follow_up_call(call_id: int) -> str | None:
    """Job: move the campaign member of an ended call on now, not at the next tick."""
    with app_context() as session:
        row = session.execute(
            select(CampaignMember, Call)
            .join(Call, Call.id == CampaignMember.call_id)
            .where(Call.id == call_id, CampaignMember.status == CampaignMemberStatus.CALLING)
        ).first()
        if row is None or row.Call.status not in CALL_FINAL:
            return None
        texts: list[int] = []
        outcome = _judge(session, _Rules(session), row.CampaignMember, row.Call, texts, utcnow())
        enqueue_send(session, texts)
        session.commit()
        return outcome


def _text_missed(session: Session, entry: CampaignMember, member: Member, now: datetime) -> int:
    campaign = session.get(LessonCampaign, entry.campaign_id)
    lesson = session.get(Lesson, campaign.lesson_id) if campaign is not None else None
    message = queue_sms(
        session,
        template_key="lesson_missed",
        # A call back by text (`XX n`), which every provider can place: a member cannot ring
        # into the lesson menu through a mainland provider, and a call back costs them nothing.
        params={
            "number": lesson.id if lesson is not None else "",
            "title": lesson.title if lesson is not None else "",
        },
        member=member,
        at=now,
    )
    return message.id


def _place_due(session: Session, rules: _Rules, now: datetime) -> Counter[str]:
    """Place the calls that are due, inside windows and outside busy seasons."""
    counts: Counter[str] = Counter()
    due = session.execute(
        select(CampaignMember, LessonCampaign)
        .join(LessonCampaign, LessonCampaign.id == CampaignMember.campaign_id)
        .where(
            CampaignMember.status == CampaignMemberStatus.PENDING,
            CampaignMember.next_attempt_at <= now,
            LessonCampaign.status == CampaignStatus.RUNNING,
        )
        .order_by(CampaignMember.next_attempt_at, CampaignMember.id)
        .limit(BATCH)
    ).all()
    for entry, campaign in due:
        member = session.get(Member, entry.member_id)
        assert member is not None  # a foreign key
        entry.updated_at = now
        if not may_place_call(member, CallPurpose.LESSON):
            entry.status = CampaignMemberStatus.SKIPPED
            counts["skipped"] += 1
            continue
        member_rules = rules.of(member)
        if in_busy_season(member_rules, now):
            tomorrow = now.astimezone(member_rules.timezone).date() + timedelta(days=1)
            entry.next_attempt_at = datetime.combine(tomorrow, time(0), member_rules.timezone)
            counts["busy_season"] += 1
            continue
        if not may_contact(member, member_rules, now):
            entry.next_attempt_at = next_contact_time(member, member_rules, now)
            counts["outside_window"] += 1
            continue
        # A conditional update: two ticks that overlap place one call.
        attempt = entry.attempts + 1
        claimed = session.execute(
            update(CampaignMember)
            .where(
                CampaignMember.id == entry.id,
                CampaignMember.status == CampaignMemberStatus.PENDING,
                CampaignMember.attempts == entry.attempts,
            )
            .values(status=CampaignMemberStatus.CALLING, attempts=attempt, updated_at=now)
        )
        if not getattr(claimed, "rowcount", 0):
            continue
        call = queue_outbound_call(
            session,
            member,
            purpose=CallPurpose.LESSON,
            lesson_id=campaign.lesson_id,
            campaign_id=campaign.id,
            attempt=attempt,
            at=now,
        )
        entry.call_id = call.id
        enqueue_call(session, call)
        counts["placed"] += 1
    return counts


def _finish(session: Session, now: datetime) -> int:
    finished = 0
    for campaign in session.scalars(
        select(LessonCampaign).where(LessonCampaign.status == CampaignStatus.RUNNING)
    ):
        open_entry = session.scalar(
            select(CampaignMember.id)
            .where(
                CampaignMember.campaign_id == campaign.id,
                CampaignMember.status.in_(
                    (CampaignMemberStatus.PENDING, CampaignMemberStatus.CALLING)
                ),
            )
            .limit(1)
        )
        if open_entry is None:
            campaign.status = CampaignStatus.DONE
            finished += 1
    return finished


def campaign_tick(now_iso: str | None = None) -> dict[str, int]:
    """Job (cron): follow up ended campaign calls, place the due ones and the survey calls
    (`workers.survey_calls`), close finished campaigns."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    with app_context() as session:
        rules = _Rules(session)
        counts = _follow_up(session, rules, now)
        session.commit()
        counts += _place_due(session, rules, now)
        session.commit()
        counts += place_survey_calls(session, rules.of, now)
        session.commit()
        counts["finished"] = _finish(session, now)
        session.commit()
        _requeue_lost_calls(session, now)
    return dict(counts)


def _requeue_lost_calls(session: Session, now: datetime) -> None:
    """Calls still queued a while after they were made lost their job (Redis emptied)."""
    for call_id in session.scalars(
        select(Call.id).where(
            Call.status == CallStatus.QUEUED,
            Call.campaign_id.is_not(None)
            | Call.purpose.in_((CallPurpose.REMINDER, CallPurpose.SURVEY)),
            Call.created_at < now - timedelta(minutes=2),
        )
    ):
        enqueue(place_call, call_id, queue=CALLS, job_id=call_job_id(call_id))


__all__ = [
    "campaign_tick",
    "follow_up_after_commit",
    "follow_up_call",
    "open_campaign",
    "start_campaign",
]
