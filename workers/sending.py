"""Sending the outbox: pace, claim a row, hand it to the provider, record what happened.

Each row moves queued -> sending by a conditional UPDATE that also checks the member has not
opted out, so two workers never send one row and a STOP that committed first wins. The
provider's answer moves it on to sent (or back to queued with backoff, or to failed). A worker
that dies between the provider's answer and our write leaves the row in `sending`; those rows
are reconciled against the provider (workers/reconcile.py), never blindly sent again.

A provider that takes several rows in one request (infra.providers.base.BatchSender: Alibaba's
SendBatchSms) gets the claimed rows together, up to a second of pacing's worth and 200 rows
at a time (in as many requests as it needs); every row is still paced, checked against its
caps and claimed before its request, and each row's answer is applied to that row as a
single send's would be. While a batch's requests are out (on the run's hand-over thread),
the next batch is paced, checked and claimed.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from flask import current_app
from redis import Redis
from rq import get_current_job
from sqlalchemy import (
    Connection,
    String,
    Table,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from infra import clients
from infra.providers import OutboundSms, Provider, ProviderError, SentMessage
from infra.providers.base import BatchSender
from models import Message, MessageStatus, utcnow
from models.broadcast import RowFacts, WindowGate, hold_rows, row_facts
from models.caps import HoldReason, provider_day
from models.delivery import Failure, advance_status, apply_failure
from models.message import Direction
from models.sql import Raw, Sql
from workers.caps import MEMBERLESS_HOUR, CapGate
from workers.context import app_context
from workers.queues import (
    BULK,
    DEFAULT,
    HIGH,
    QUEUE_NAMES,
    enqueue,
    enqueue_after_commit,
    get_queue,
    hold_lease,
    release_lease,
)
from workers.rates import TokenBucket, sms_bucket

MAX_ATTEMPTS = 3
# Wait before the second and the third attempt after a transient error.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=5))
# A 429 puts the row back and slows the bucket; after this many in a row it counts as an attempt.
RATE_LIMIT_RETRIES = 5
# Rows marked sent wait for the next claim's transaction, or are written on their own once
# there are more than this many (or than a provider's batch, if larger): a worker that dies
# loses at most these to reconciliation.
SENT_FLUSH_EVERY = 20
# Rows are claimed at most this far (in seconds of pacing) ahead of their send, and at most
# MAX_BATCH at a time: few enough that a STOP is still honoured, many enough that a fast
# sender does not take a database lock and a Redis round trip per message.
CLAIM_AHEAD = 0.05
MAX_BATCH = 20
# A provider that takes many rows a request gets up to this many seconds of pacing's worth
# at once, and at most BATCH_CLAIM_ROWS (or one request, if it takes more): the rows are
# claimed just before their requests, which go one after another (Alibaba's 100 numbers a
# request make two). A claim costs a transaction, a token reservation and a caps script
# whatever its size, and at full speed these, not the rows, were most of a batch's work.
BATCH_CLAIM_AHEAD = 1.0
BATCH_CLAIM_ROWS = 200
RANGE_SIZE = 500  # outbox rows (not broadcasts) per range job, by id
# Send jobs yield to waiting high and default jobs after this long, and stop well inside
# their RQ timeout; what is left is still queued in the database and the sweep hands it on.
JOB_TIMEOUT = 3600
YIELD_AFTER = 120.0
STOP_AFTER = JOB_TIMEOUT * 0.8
LEASE_EVERY = 15.0
# A row queued this recently is someone's job to enqueue; the sweep leaves it a moment.
SWEEP_GRACE = timedelta(seconds=30)


class Claimed(NamedTuple):
    """A row this worker took for sending."""

    id: int
    phone: str
    body: str
    member_id: int | None
    attempts: int
    created_at: datetime
    template_key: str | None = None
    params: dict[str, Any] | None = None

    def outbound(self) -> OutboundSms:
        """The row as the provider takes it."""
        return OutboundSms(
            message_id=self.id,
            to=self.phone,
            body=self.body,
            template=self.template_key,
            # Shared by a notice's rows, read once (_claim_rows); no provider changes it.
            params=self.params if self.params is not None else {},
        )


_messages = cast(Table, Message.__table__)
# "The row is queued", written so no index serves it. Given `id IN (...) AND status =
# 'queued'`, SQLite would rather walk the (status, next_attempt_at) index over every queued
# row (all of a notice's, for each batch it claims) than look the listed ids up by primary key.
_QUEUED_BY_ID = type_coerce(_messages.c.status, String).concat("") == MessageStatus.QUEUED.value
# Claiming runs once a batch of rows, on the driver (models.sql): a row becomes `sending`, or
# `skipped` if its member may not be sent to (a non-essential row whose member opted out, left
# or has no valid number), only if it is still queued (tested as _QUEUED_BY_ID is, for the
# same reason) and due. The ids are whole numbers written into the statement's text.
_CLAIM = f"""
    UPDATE messages
    SET status = CASE
            WHEN essential = :no AND EXISTS (
                SELECT 1 FROM members
                WHERE members.id = messages.member_id
                  AND (members.opted_out_at IS NOT NULL OR members.active = :no
                       OR members.phone_invalid_at IS NOT NULL))
            THEN '{MessageStatus.SKIPPED.value}' ELSE '{MessageStatus.SENDING.value}' END,
        claimed_at = :now,
        attempts = attempts + 1
    WHERE id IN (IDS)
      AND status || '' = '{MessageStatus.QUEUED.value}'
      AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
    RETURNING id, status, phone, body, member_id, attempts, created_at, template_key, params
"""


def _claim_rows(connection: Connection, ids: list[int], now: datetime) -> dict[int, Claimed]:
    """Claim these rows (see _CLAIM), in the connection's transaction; the rows now `sending`
    by id (a row skipped, not due or not queued is not among them)."""
    if not ids:
        return {}
    raw = Raw.of(connection)
    listed = ",".join(str(int(message_id)) for message_id in ids)
    cursor = raw.run(Sql(_CLAIM.replace("IDS", listed)), {"no": False, "now": raw.time(now)})
    rows = cursor.fetchall()
    # A notice's rows carry one set of parameters and were written at one moment: each
    # distinct value is read once.
    params: dict[str, Any] = {}
    times: dict[Any, datetime] = {}
    claimed = {}
    for message_id, status, phone, body, member_id, attempts, created, key, values in rows:
        if status != MessageStatus.SENDING.value:
            continue
        if isinstance(values, str):
            if values not in params:
                params[values] = raw.read_json(values)
            values = params[values]
        if created not in times:
            times[created] = cast(datetime, raw.read_time(created))
        claimed[message_id] = Claimed(
            message_id,
            phone,
            body,
            member_id,
            attempts,
            times[created],
            key,
            values,
        )
    return claimed


# Run on the driver (models.sql) for every row a provider took: SQLAlchemy's own work for
# each row of an executemany is most of what marking a notice's rows sent costs.
_MARK_SENT = Sql(
    f"""
    UPDATE messages
    SET provider_sid = :sid, sent_at = :at, status_at = :at, hold_reason = NULL,
        status = CASE WHEN status = '{MessageStatus.SENDING.value}'
                      THEN '{MessageStatus.SENT.value}' ELSE status END
    WHERE id = :id
    """
)  # A status callback may have moved the row on already: never move it back.


def _write_sent(connection: Connection, sent: list[tuple[int, str, datetime]]) -> None:
    """Record the provider's sid and the time it took each row, in the connection's
    transaction."""
    raw = Raw.of(connection)
    times: dict[datetime, Any] = {}  # a batch's rows share the moment it was answered
    for _, _, at in sent:
        if at not in times:
            times[at] = raw.time(at)
    raw.run_many(
        _MARK_SENT,
        [{"id": message_id, "sid": sid, "at": times[at]} for message_id, sid, at in sent],
    )


def claim(session: Session, message_id: int, now: datetime) -> Claimed | None:
    """Move one due row queued -> sending (or -> skipped if its member may not be sent to).

    One statement: a concurrent claim or a STOP committed before it cannot be missed.
    Commits. None when the row was not ours to send.
    """
    claimed = _claim_rows(session.connection(), [message_id], now)
    session.commit()
    return claimed.get(message_id)


_Answers = tuple[list[SentMessage | ProviderError | None], datetime | None]


class _Flight:
    """A claimed batch handed to the provider: its answers, now or (on the hand-over thread)
    once the request returns."""

    def __init__(
        self,
        claimed: list[Claimed],
        segments: dict[int, int],
        *,
        answered: _Answers | None = None,
        future: Future[_Answers] | None = None,
    ) -> None:
        self.claimed = claimed
        self.segments = segments
        self._answered = answered
        self._future = future

    def answers(self) -> _Answers:
        """Each row's answer (waiting for the request if it is still out), and when the
        provider answered a batch request."""
        if self._future is not None:
            self._answered = self._future.result()
            self._future = None
        assert self._answered is not None
        return self._answered


class SendRun:
    """One job's sending: rows sent one by one, paced, claimed, marked sent in small batches."""

    def __init__(
        self,
        session: Session,
        *,
        provider: Provider,
        bucket: TokenBucket,
        redis: Redis | None = None,
        job_id: str | None = None,
        gate: WindowGate | None = None,
        caps: CapGate | None = None,
        now: datetime | None = None,
    ) -> None:
        self.session = session
        self.gate = gate
        self.caps = caps
        self._now = now  # a fixed time to send as of (tests, `--now`); None: the clock
        self.provider = provider
        self.batcher = provider if isinstance(provider, BatchSender) else None
        self.bucket = bucket
        self.redis = redis
        self.job_id = job_id
        self.started = time.monotonic()
        self._lease_at = 0.0
        self._checked_at = 0.0
        self._sent: list[tuple[int, str, datetime]] = []  # (id, sid, when), not yet written
        self._hands: ThreadPoolExecutor | None = None  # the hand-over thread, while sending
        self.counts = {"sent": 0, "skipped": 0, "retry": 0, "failed": 0, "unknown": 0, "held": 0}
        self.outcomes: dict[int, str] = {}
        self._held: dict[int, tuple[datetime, HoldReason]] = {}

    def now(self) -> datetime:
        """The time rows are sent as of."""
        return self._now or utcnow()

    def alive(self) -> None:
        """Renew the job's lease now and then, so the sweep knows this job still works."""
        if self.redis is None or time.monotonic() - self._lease_at < LEASE_EVERY:
            return
        hold_lease(self.redis, self.job_id)
        self._lease_at = time.monotonic()

    def should_stop(self) -> bool:
        """Past the time budget: leave the rest queued for the next job."""
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed > STOP_AFTER:
            return True
        if elapsed < YIELD_AFTER or self.redis is None or now - self._checked_at < LEASE_EVERY:
            return False
        self._checked_at = now
        return any(get_queue(name, self.redis).count for name in (HIGH, DEFAULT))

    def batch_size(self) -> int:
        """Rows claimed together: as many as the pace lets out in CLAIM_AHEAD seconds.

        At 1 segment a second that is one row, claimed right before it is sent; at hundreds a
        second a few rows share one transaction and one token reservation. A provider that
        takes many rows a request gets up to BATCH_CLAIM_AHEAD seconds' worth, and at most
        BATCH_CLAIM_ROWS or one request.
        """
        if self.batcher is not None:
            ahead = int(self.bucket.rate * BATCH_CLAIM_AHEAD)
            return max(1, min(max(self.batcher.max_batch, BATCH_CLAIM_ROWS), ahead))
        return max(1, min(MAX_BATCH, int(self.bucket.rate * CLAIM_AHEAD)))

    def send(self, message_id: int, segments: int) -> str:
        """Send one row if it is still queued and due; say what became of it."""
        self.send_all([(message_id, segments)])
        return self.outcomes.get(message_id, "skipped")

    def send_all(
        self, rows: Iterable[tuple[int, int]], facts: Mapping[int, RowFacts] | None = None
    ) -> bool:
        """Send (id, segments) rows in order; False if the time budget stopped it early.
        `facts`: the rows' facts for the gates, when read with them (else read here).

        To a provider that takes a batch in one request, the next batch is paced, checked and
        claimed while the batch's requests are out (see _Flight): the worker's own work
        overlaps the provider's instead of waiting for it, and a STOP is still honoured up to
        a batch (200 rows at most) before its request goes. A batch's answers are applied
        before the next batch goes. Rows sent one by one are claimed only once the previous
        batch's are all answered.
        """
        waiting = list(rows)
        limited: dict[int, int] = {}
        if self.gate is not None or self.caps is not None:
            if facts is None:
                facts = row_facts(self.session, [message_id for message_id, _ in waiting])
            if self.gate is not None:
                self.gate.know(facts)
            if self.caps is not None:
                self.caps.know(facts)
        flight: _Flight | None = None
        try:
            while waiting or flight is not None:
                if waiting and self.should_stop():
                    return False
                claimed: list[Claimed] = []
                segments: dict[int, int] = {}
                if waiting:
                    self.alive()
                    claimed, segments, waiting = self._prepare(waiting)
                if flight is not None:
                    landing, flight = flight, None
                    waiting = self._land(landing, limited) + waiting
                if claimed:
                    flight = self._launch(
                        claimed, segments, overlap=bool(waiting) and self.batcher is not None
                    )
            return True
        finally:
            try:
                if flight is not None:
                    self._land(flight, limited)  # rows to retry stay queued for the sweep
            finally:
                if self._hands is not None:
                    self._hands.shutdown(wait=True)
                    self._hands = None
                self.flush()

    def _prepare(
        self, waiting: list[tuple[int, int]]
    ) -> tuple[list[Claimed], dict[int, int], list[tuple[int, int]]]:
        """Pace, check and claim the next batch of the waiting rows: the rows claimed, the
        segments of the batch's rows, and the rows still waiting."""
        size = self.batch_size()
        batch, rest = waiting[:size], waiting[size:]
        batch = self._in_window(batch)
        if not batch:
            return [], {}, rest
        # Pace first and claim after: a STOP arriving while we wait still wins.
        self.bucket.acquire(sum(max(seg, 1) for _, seg in batch), alive=self.alive)
        batch = self._in_window(batch)  # a window may have closed while we waited
        batch = self._under_caps(batch)
        if not batch:
            return [], {}, rest
        return self._claim(batch), dict(batch), rest

    def _launch(
        self, claimed: list[Claimed], segments: dict[int, int], *, overlap: bool
    ) -> _Flight:
        """Hand the claimed rows to the provider: on the hand-over thread when another batch
        is to be prepared meanwhile, else here and now."""
        if not overlap:
            return _Flight(claimed, segments, answered=self._hand_over(claimed))
        if self._hands is None:
            self._hands = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hand-over")
        # The job's context (its app, its log fields) goes along to the thread.
        future = self._hands.submit(contextvars.copy_context().run, self._hand_over, claimed)
        return _Flight(claimed, segments, future=future)

    def _land(self, flight: _Flight, limited: dict[int, int]) -> list[tuple[int, int]]:
        """Apply the provider's answers to a batch; the rows to send again now, first (the
        provider said "too many": everyone slows down and those rows wait for the pause)."""
        answers, answered_at = flight.answers()
        pairs = list(zip(flight.claimed, answers, strict=True))
        self._took(
            [(row, answer) for row, answer in pairs if isinstance(answer, SentMessage)], answered_at
        )
        back = [
            row
            for row, answer in pairs
            if answer is None
            or (isinstance(answer, ProviderError) and self._settle(row, answer) == "rate_limited")
        ]
        if not back:
            return []
        self.bucket.slow_down()
        self._unclaim(back, attempt_counts=False)
        retry = []
        for item in back:
            self._cap_outcome(item.id, "rate_limited")
            limited[item.id] = limited.get(item.id, 0) + 1
            if limited[item.id] > RATE_LIMIT_RETRIES:
                self._later(item.id)  # counts as a transient attempt after all
            else:
                retry.append((item.id, flight.segments[item.id]))
        return retry

    def _in_window(self, batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The rows of the batch whose member may be texted now; the others are held."""
        if self.gate is None:
            return batch
        later = self.gate.held([message_id for message_id, _ in batch], self.now())
        for message_id, at in later.items():
            self._hold(message_id, at, HoldReason.WINDOW)
        return [(message_id, segments) for message_id, segments in batch if message_id not in later]

    def _under_caps(self, batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The rows of the batch that take a place under their number's caps; the others wait."""
        if self.caps is None:
            return batch
        waits = self.caps.take_many([message_id for message_id, _ in batch], self.now())
        for message_id, (until, reason) in waits.items():
            self._hold(message_id, until, reason)
        return [(message_id, segments) for message_id, segments in batch if message_id not in waits]

    def _hold(self, message_id: int, until: datetime, reason: HoldReason) -> None:
        self._held[message_id] = (until, reason)
        self.outcomes[message_id] = "held"
        self.counts["held"] += 1

    def _cap_outcome(self, message_id: int, outcome: str) -> None:
        """Keep the row's place under the caps if the provider may have taken it."""
        if self.caps is None:
            return
        if outcome in ("sent", "unknown"):
            self.caps.keep(message_id)
        else:
            self.caps.give_back(message_id)

    def _claim(self, batch: list[tuple[int, int]]) -> list[Claimed]:
        """Claim a batch in one transaction, which also records the rows sent before it."""
        ids = [message_id for message_id, _ in batch]
        connection = self.session.connection()
        if self._sent:
            _write_sent(connection, self._sent)
            self._sent = []
        claimed = _claim_rows(connection, ids, self.now())
        self.session.commit()
        for message_id in ids:
            if message_id not in claimed:
                self.outcomes[message_id] = "skipped"
                self.counts["skipped"] += 1
                self._cap_outcome(message_id, "skipped")
        return [claimed[message_id] for message_id in ids if message_id in claimed]

    def _hand_over(self, claimed: list[Claimed]) -> _Answers:
        """The provider's answer for each claimed row: in requests of as many rows as it takes
        at once where it takes several (with the moment it answered), else one by one; in
        either way until it says "too many" (None: a row not handed over). Touches neither the
        session nor the run's state: it may run on the hand-over thread."""
        answers: list[SentMessage | ProviderError | None] = []
        if self.batcher is not None and len(claimed) > 1:
            size = self.batcher.max_batch
            for first in range(0, len(claimed), size):
                batch = [row.outbound() for row in claimed[first : first + size]]
                taken = self.batcher.send_batch(batch)
                answers.extend(taken)
                if any(isinstance(each, ProviderError) and each.rate_limited for each in taken):
                    break
            # When the provider took the rows (a claim's requests go within moments).
            return answers + [None] * (len(claimed) - len(answers)), utcnow()
        for row in claimed:
            try:
                answers.append(self.provider.send_sms(row.outbound()))
            except ProviderError as exc:
                answers.append(exc)
                if exc.rate_limited:
                    break
        return answers + [None] * (len(claimed) - len(answers)), None  # each row's own moment

    def _took(self, rows: list[tuple[Claimed, SentMessage]], at: datetime | None) -> None:
        """The provider accepted these rows (at `at`, a batch request's moment; None: now):
        their sids wait to be written, their places under the caps stay counted."""
        if not rows:
            return
        at = at or utcnow()
        ids = [row.id for row, _ in rows]
        self._sent.extend((row.id, sent.sid, at) for row, sent in rows)
        self.outcomes.update(dict.fromkeys(ids, "sent"))
        self.counts["sent"] += len(ids)
        if self.caps is not None:
            self.caps.keep_many(ids)
        self._flush_if_full()

    def _settle(self, claimed: Claimed, refused: ProviderError) -> str:
        """Apply the provider's refusal to the row; say what became of it ("rate_limited": the
        row is to go back, which the caller does for the whole batch)."""
        if refused.rate_limited:
            return "rate_limited"
        if refused.failure is Failure.OVER_CAP:
            outcome = self._over_cap(claimed)
        else:
            outcome = self._failed_attempt(claimed, refused)
        self._cap_outcome(claimed.id, outcome)
        self.outcomes[claimed.id] = outcome
        self.counts[outcome] += 1
        return outcome

    def _mark_sent(self, claimed: Claimed, sent: SentMessage) -> None:
        self._sent.append((claimed.id, sent.sid, utcnow()))
        self._flush_if_full()

    def _flush_if_full(self) -> None:
        # The sent marks are written with the next claim, in its transaction (one commit a
        # batch, not two), or here once more than a batch waits; the last ones when the run
        # ends.
        if len(self._sent) > max(SENT_FLUSH_EVERY, self.batch_size()):
            self.flush()

    def flush(self) -> None:
        """Write the sids of rows sent since the last flush, and their move to `sent`; rows
        held for their member's window wait, queued, until it opens."""
        if not self._sent and not self._held:
            return
        if self._sent:
            _write_sent(self.session.connection(), self._sent)
        hold_rows(self.session, self._held)
        self.session.commit()
        self._sent = []
        self._held = {}

    def _over_cap(self, claimed: Claimed) -> str:
        """The provider refused the row as over the number's cap (ours did not know of texts
        sent some other way): it goes back, its attempt not counted, for the next day."""
        self._unclaim([claimed], attempt_counts=False)
        now = self.now()
        if self.caps is not None:
            until = self.caps.next_day(claimed.id, now)
        else:
            until = provider_day(now)[1] + timedelta(hours=MEMBERLESS_HOUR)
        self._held[claimed.id] = (until, HoldReason.DAILY_CAP)
        return "held"

    def _unclaim(
        self, rows: list[Claimed], *, attempt_counts: bool, delay: timedelta | None = None
    ) -> None:
        now = utcnow()
        self.session.execute(
            update(Message)
            .where(
                Message.id.in_([row.id for row in rows]), Message.status == MessageStatus.SENDING
            )
            .values(
                status=MessageStatus.QUEUED,
                attempts=Message.attempts - (0 if attempt_counts else 1),
                next_attempt_at=None if delay is None else now + delay,
            )
            .execution_options(synchronize_session=False)
        )
        self.session.commit()

    def _later(self, message_id: int) -> str:
        self.session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
            .values(next_attempt_at=utcnow() + BACKOFF[0])
            .execution_options(synchronize_session=False)
        )
        schedule_retry(self.session, message_id, utcnow() + BACKOFF[0])
        self.session.commit()
        self.outcomes[message_id] = "retry"
        self.counts["retry"] += 1
        return "retry"

    def _failed_attempt(self, claimed: Claimed, exc: ProviderError) -> str:
        now = utcnow()
        if exc.connection_error:
            # The request may have reached the provider before the connection broke: look.
            try:
                found = find_sent(
                    self.session,
                    self.provider,
                    claimed.id,
                    claimed.phone,
                    claimed.body,
                    claimed.created_at,
                )
            except ProviderError:
                return "unknown"  # stays in `sending`: reconciliation decides later
            if found is not None:
                self._mark_sent(claimed, found)
                return "sent"
        if exc.transient and claimed.attempts < MAX_ATTEMPTS:
            delay = BACKOFF[min(claimed.attempts, len(BACKOFF)) - 1]
            self._unclaim([claimed], attempt_counts=True, delay=delay)
            schedule_retry(self.session, claimed.id, now + delay)
            self.session.commit()
            return "retry"
        advance_status(self.session, claimed.id, MessageStatus.FAILED, at=now, error_code=exc.code)
        apply_failure(self.session, claimed.member_id, claimed.phone, exc.failure, now)
        self.session.commit()
        return "failed"


def find_sent(
    session: Session,
    provider: Provider,
    message_id: int,
    phone: str,
    body: str,
    created_at: datetime,
) -> SentMessage | None:
    """The provider's record of this row, if it has one: a message to the same number with
    the same body (or, where the provider keeps our id, with this row's id, or sent in a batch
    of rows that includes this one), made since the row was, whose sid no other row has taken.

    A record with neither text nor our id (Tencent's) is taken only when nothing can be
    confused: it is the one such record no row holds, and this row is the one row to that
    number since then still without a sid.
    """
    since = created_at - timedelta(minutes=1)
    listed = provider.list_messages(phone, since)
    candidates = [
        m
        for m in listed
        if m.message_id == message_id
        or message_id in m.batch_ids
        or (m.message_id is None and not m.batch_ids and m.body == body)
    ]
    anonymous = [m for m in listed if m.message_id is None and not m.batch_ids and not m.body]
    if not candidates and anonymous:
        candidates = anonymous if _only_row_without_sid(session, message_id, phone, since) else []
    if not candidates:
        return None
    taken = set(
        session.scalars(
            select(Message.provider_sid).where(
                Message.provider_sid.in_([m.sid for m in candidates]), Message.id != message_id
            )
        )
    )
    free = [m for m in candidates if m.sid not in taken]
    if candidates is anonymous and len(free) != 1:
        return None
    free.sort(key=lambda m: (m.date_created is None, m.date_created))
    return free[0] if free else None


def _only_row_without_sid(session: Session, message_id: int, phone: str, since: datetime) -> bool:
    others = session.scalar(
        select(Message.id)
        .where(
            Message.direction == Direction.OUT,
            Message.phone == phone,
            Message.provider_sid.is_(None),
            Message.created_at >= since,
            Message.id != message_id,
        )
        .limit(1)
    )
    return others is None


def make_sender(session: Session, now: datetime | None = None) -> SendRun:
    """A SendRun (this job's sending) for the current job, with the app's provider, bucket and Redis; broadcast rows
    go only inside their member's contact window. `now`: send as of this time (tests)."""
    job = get_current_job()
    redis = clients.redis()
    if job is not None:
        hold_lease(redis, job.id)
    return SendRun(
        session,
        provider=clients.provider(),
        bucket=sms_bucket(),
        redis=redis,
        job_id=job.id if job is not None else None,
        gate=WindowGate(session),
        caps=CapGate(session, redis, str(current_app.config["PROVIDER"])),
        now=now,
    )


def finish_job(sender: SendRun) -> None:
    """Drop the job's lease: it is done."""
    if sender.redis is not None:
        release_lease(sender.redis, sender.job_id)


def _due_rows(session: Session, ids: list[int], now: datetime) -> list[tuple[int, int]]:
    rows = session.execute(
        select(Message.id, Message.segments)
        .where(
            Message.id.in_(ids),
            _QUEUED_BY_ID,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        .order_by(Message.id)
    ).all()
    return [(row.id, row.segments) for row in rows]


def send_message(message_id: int) -> str:
    """Job: send one outbox row now (a reply, a code, a retry); say what became of it."""
    with app_context() as session:
        sender = make_sender(session)
        try:
            rows = _due_rows(session, [message_id], utcnow())
            if not rows:
                return "nothing"
            outcome = sender.send(*rows[0])
            sender.flush()
            return outcome
        finally:
            finish_job(sender)


def send_batch(message_ids: list[int]) -> dict[str, int]:
    """Job: send these outbox rows in order."""
    with app_context() as session:
        sender = make_sender(session)
        try:
            sender.send_all(_due_rows(session, list(message_ids), utcnow()))
            return sender.counts
        finally:
            finish_job(sender)


def send_range(first_id: int) -> dict[str, int]:
    """Job: send every due queued row (not a broadcast's) with id in [first_id, +RANGE_SIZE)."""
    with app_context() as session:
        sender = make_sender(session)
        try:
            while True:
                now = utcnow()
                rows = session.execute(
                    select(Message.id, Message.segments)
                    .where(
                        Message.id >= first_id,
                        Message.id < first_id + RANGE_SIZE,
                        Message.broadcast_id.is_(None),
                        Message.status == MessageStatus.QUEUED,
                        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                    )
                    .order_by(Message.id)
                ).all()
                session.commit()
                pending = [(r.id, r.segments) for r in rows]
                # Rows written into the range while we worked are ours too: look once more.
                if not pending or not sender.send_all(pending):
                    return sender.counts
        finally:
            finish_job(sender)


def range_job_id(message_id: int) -> str:
    """The job id of the range a non-broadcast row belongs to."""
    return f"send-range-{message_id // RANGE_SIZE}"


def _enqueue_ids(message_ids: list[int], *, after_commit: Session | None) -> None:
    ids = sorted(set(message_ids))
    if not ids:
        return
    jobs: list[tuple[Any, tuple[Any, ...], str, str]] = []
    if len(ids) == 1:
        jobs.append((send_message, (ids[0],), HIGH, f"send-message-{ids[0]}"))
    else:
        for first in sorted({i // RANGE_SIZE * RANGE_SIZE for i in ids}):
            jobs.append((send_range, (first,), DEFAULT, range_job_id(first)))
    for func, args, queue, job_id in jobs:
        if after_commit is not None:
            enqueue_after_commit(
                after_commit, func, *args, queue=queue, job_id=job_id, timeout=JOB_TIMEOUT
            )
        else:
            enqueue(func, *args, queue=queue, job_id=job_id, timeout=JOB_TIMEOUT)


def enqueue_send(session: Session, message_ids: list[int]) -> None:
    """Send these (non-broadcast) outbox rows once the session commits.

    One row goes to the high queue on its own; more go by id range to the default queue.
    """
    _enqueue_ids(message_ids, after_commit=session)


def enqueue_many(message_ids: list[int]) -> None:
    """Send these committed outbox rows (called after the commit, e.g. by the SMS webhook)."""
    _enqueue_ids(message_ids, after_commit=None)


def schedule_retry(session: Session, message_id: int, at: datetime) -> None:
    """Send a row again at `at` (RQ's scheduler), once the session commits."""
    enqueue_after_commit(
        session,
        send_message,
        message_id,
        queue=HIGH,
        job_id=f"send-retry-{message_id}",
        at=at,
        timeout=JOB_TIMEOUT,
    )


__all__ = [
    "BULK",
    "MAX_ATTEMPTS",
    "QUEUE_NAMES",
    "Claimed",
    "SendRun",
    "claim",
    "enqueue_many",
    "enqueue_send",
    "find_sent",
    "make_sender",
    "schedule_retry",
    "send_batch",
    "send_message",
    "send_range",
]
