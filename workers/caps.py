"""Per-number caps applied by the sending jobs, counted in Redis across every worker.

The rule (which caps, whose day, where a held text waits) is models.caps'; this is the
counting. A text takes its place in the number's count for the provider's day before it is
claimed, atomically (INCR), so two workers sending to one number never both take the last
place; a text the provider did not accept gives its place back. The count starts from the
database (texts the provider accepted today) the first time a number is seen in a day, so a
restarted Redis forgets nothing that matters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.broadcast import Windows
from models.caps import HoldReason, SendCaps, caps_for, provider_day
from models.message import Direction, Message
from models.org import township_settings
from models.sql import Raw, Sql

DAY_TTL = timedelta(days=2)
# A text with no member (a code to a new phone) waiting for the next day goes at this hour.
MEMBERLESS_HOUR = 9
COUNT_CHUNK = 500  # numbers counted in one query

# Each row's place under its caps, in order, atomically. ARGV: the day keys' TTL, the
# provider's day, and the rows as one JSON array of [id, phone, digest of the text, the
# same-content seconds (0: none), the daily cap (0: none), the day's count to start from
# (-1: not read)]. The keys are made here from the number, the text's digest and the day (a
# single Redis, so a script may name keys it was not handed; one argument for a batch keeps
# a notice's batch of 100 rows one small command). Answers per row: "ok", "same:<ms left>",
# "day", or "count" when the number has no count for the day and none was given: nothing
# was taken, and the row is asked again with the count read from the database.
_TAKE = """
local ttl, day = tonumber(ARGV[1]), ARGV[2]
local rows = cjson.decode(ARGV[3])
local out = {}
for i, row in ipairs(rows) do
  local id, phone, digest, same, cap, seed = row[1], row[2], row[3], row[4], row[5], row[6]
  local same_key = 'caps:same:' .. phone .. ':' .. digest
  local day_key = 'caps:day:' .. phone .. ':' .. day
  local answer = 'ok'
  if cap > 0 and seed < 0 and redis.call('EXISTS', day_key) == 0 then
    answer = 'count'
  end
  local took_same = false
  if answer == 'ok' and same > 0 then
    if redis.call('SET', same_key, tostring(id), 'NX', 'EX', same) then
      took_same = true
    else
      answer = 'same:' .. redis.call('PTTL', same_key)
    end
  end
  if answer == 'ok' and cap > 0 then
    -- A number met for the first time today starts at its count plus this text, in one call.
    local count = seed + 1
    if seed < 0 or not redis.call('SET', day_key, count, 'NX', 'EX', ttl) then
      count = redis.call('INCR', day_key)
      if redis.call('TTL', day_key) < 0 then
        redis.call('EXPIRE', day_key, ttl)
      end
    end
    if count > cap then
      redis.call('DECR', day_key)
      if took_same then
        redis.call('DEL', same_key)
      end
      answer = 'day'
    end
  end
  out[i] = answer
end
return out
"""


# A part's rows with their members' branch and window, read on the driver (models.sql): a
# notice's 2,000 rows through the ORM cost more than the query. The ids are whole numbers
# written into the text.
_LOAD = """
    SELECT messages.id, messages.phone, messages.body,
           members.branch_id, members.window_start, members.window_end
    FROM messages LEFT OUTER JOIN members ON members.id = messages.member_id
    WHERE messages.id IN (IDS)
"""


@dataclass(frozen=True)
class _Row:
    phone: str
    body: str
    branch_id: int | None
    window_start: str | None
    window_end: str | None


class CapGate:
    """Whether each text may go to its number now under the caps, and if not, until when."""

    def __init__(self, session: Session, redis: Redis, provider: str) -> None:
        self.session = session
        self.redis = redis
        self.provider = provider
        self.windows = Windows(session)
        self._take_script = redis.register_script(_TAKE)
        self._rows: dict[int, _Row] = {}
        self._caps: dict[int | None, SendCaps] = {}
        self._taken: dict[int, list[str]] = {}  # the Redis keys a row holds a place in
        # Numbers' counts of the day read from the database: (phone, day start) -> count,
        # until used; and every (phone, day start) read so far.
        self._accepted: dict[tuple[str, datetime], int] = {}
        self._counted: set[tuple[str, datetime]] = set()

    def load(self, message_ids: list[int]) -> None:
        """Read the number, text and member's window of these rows (one query)."""
        missing = [m for m in message_ids if m not in self._rows]
        if not missing:
            return
        listed = ",".join(str(int(message_id)) for message_id in missing)
        raw = Raw.of(self.session.connection())
        rows = raw.run(Sql(_LOAD.replace("IDS", listed)), {}).fetchall()
        for message_id, phone, body, branch_id, start, end in rows:
            self._rows[message_id] = _Row(phone, body, branch_id, start, end)
        # Every branch's caps at once: one query a level up the tree, not two a branch.
        branches = {
            row.branch_id
            for row in self._rows.values()
            if row.branch_id is not None and row.branch_id not in self._caps
        }
        for branch, settings in township_settings(self.session, branches).items():
            self._caps[branch] = caps_for(self.provider, settings)

    def caps(self, branch_id: int | None) -> SendCaps:
        """The caps for a branch's township (the provider's for a text without a member)."""
        if branch_id not in self._caps:
            settings = None
            if branch_id is not None:
                settings = township_settings(self.session, [branch_id]).get(branch_id)
            self._caps[branch_id] = caps_for(self.provider, settings)
        return self._caps[branch_id]

    def take(self, message_id: int, now: datetime) -> tuple[datetime, HoldReason] | None:
        """Take the row's place under the caps; or say until when it waits, and why."""
        return self.take_many([message_id], now).get(message_id)

    def take_many(
        self, message_ids: list[int], now: datetime
    ) -> dict[int, tuple[datetime, HoldReason]]:
        """Take each row's place under the caps, in order, in one Redis script (a batch of a
        notice's rows costs one round trip, two the first time its numbers are counted);
        the rows that wait, with until when and why."""
        wanted: list[tuple[int, _Row, SendCaps]] = []
        for message_id in message_ids:
            row = self._rows.get(message_id)
            if row is None:
                continue
            caps = self.caps(row.branch_id)
            if caps.any:
                wanted.append((message_id, row, caps))
        if not wanted:
            return {}
        day, tomorrow = provider_day(now)
        start = tomorrow - timedelta(days=1)
        digests: dict[str, str] = {}  # a notice's rows share one text
        for _, row, _ in wanted:
            if row.body not in digests:
                digests[row.body] = hashlib.sha1(row.body.encode()).hexdigest()[:20]
        answers = self._take(wanted, day, digests, start, recount=False)
        recount = [entry for entry in wanted if answers[entry[0]] == "count"]
        if recount:  # numbers Redis had no count for, though one was read: read again
            answers.update(self._take(recount, day, digests, start, recount=True))
        held: dict[int, tuple[datetime, HoldReason]] = {}
        for message_id, row, caps in wanted:
            answer = answers[message_id]
            if answer.startswith("same:"):
                wait_ms = max(int(answer.removeprefix("same:")), 1000)
                held[message_id] = (now + timedelta(milliseconds=wait_ms), HoldReason.SAME_CONTENT)
            elif answer == "day":
                held[message_id] = (self._next_day(row, tomorrow), HoldReason.DAILY_CAP)
            elif answer == "ok":
                taken = []
                if caps.same_content_seconds > 0:
                    taken.append(f"caps:same:{row.phone}:{digests[row.body]}")
                if caps.daily:
                    taken.append(f"caps:day:{row.phone}:{day}")
                self._taken[message_id] = taken
            else:
                raise RuntimeError(f"the caps script answered {answer!r}")
        return held

    def _take(
        self,
        rows: list[tuple[int, _Row, SendCaps]],
        day: str,
        digests: dict[str, str],
        start: datetime,
        *,
        recount: bool,
    ) -> dict[int, str]:
        """One run of the script over these rows; each row's answer. A number's count of
        the day is handed in the first time this gate meets it (and again on `recount`)."""
        payload = []
        for message_id, row, caps in rows:
            seed = -1
            key = (row.phone, start)
            if caps.daily and (recount or key not in self._counted or key in self._accepted):
                seed = self._accepted_on(row.phone, start)
            payload.append(
                [
                    message_id,
                    row.phone,
                    digests[row.body],
                    caps.same_content_seconds,
                    caps.daily or 0,
                    seed,
                ]
            )
        answers = self._take_script(
            keys=[],
            args=[int(DAY_TTL.total_seconds()), day, json.dumps(payload, separators=(",", ":"))],
        )
        return {
            message_id: answer.decode() if isinstance(answer, bytes) else str(answer)
            for (message_id, _, _), answer in zip(rows, answers, strict=True)
        }

    def give_back(self, message_id: int) -> None:
        """The provider did not take the row (or it was not sent): free its places."""
        self._give_back(self._taken.pop(message_id, []))

    def keep(self, message_id: int) -> None:
        """The provider accepted the row: its places stay counted."""
        self._taken.pop(message_id, None)

    def keep_many(self, message_ids: list[int]) -> None:
        """The provider accepted these rows: their places stay counted."""
        for message_id in message_ids:
            self._taken.pop(message_id, None)

    def _give_back(self, keys: list[str]) -> None:
        for key in keys:
            if key.startswith("caps:day:"):
                self.redis.decr(key)
            else:
                self.redis.delete(key)

    def _accepted_on(self, phone: str, start: datetime) -> int:
        """Texts the provider accepted for this number since `start` (the database's count).

        Counted for every loaded row's number at once, the first time one is needed: a
        notice to many numbers reads the messages once per batch of rows, not once a number.
        A count is used once; a number asked for again (Redis lost its key) is counted again.
        """
        key = (phone, start)
        if key in self._accepted:
            return self._accepted.pop(key)
        if key in self._counted:
            return self._count([phone], start)[phone]
        pending = {
            row.phone for row in self._rows.values() if (row.phone, start) not in self._counted
        }
        counts = self._count(sorted(pending | {phone}), start)
        for each, count in counts.items():
            self._counted.add((each, start))
            self._accepted[(each, start)] = count
        return self._accepted.pop(key)

    def _count(self, phones: list[str], start: datetime) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(phones, 0)
        for first in range(0, len(phones), COUNT_CHUNK):
            rows = self.session.execute(
                select(Message.phone, func.count())
                .where(
                    Message.phone.in_(phones[first : first + COUNT_CHUNK]),
                    Message.direction == Direction.OUT,
                    Message.provider_sid.is_not(None),
                    Message.sent_at >= start,
                )
                .group_by(Message.phone)
            ).all()
            counts.update((phone, int(count)) for phone, count in rows)
        return counts

    def next_day(self, message_id: int, now: datetime) -> datetime:
        """When a row the provider refused as over its cap may go: the next day's window."""
        _, tomorrow = provider_day(now)
        row = self._rows.get(message_id)
        if row is None:
            return tomorrow + timedelta(hours=MEMBERLESS_HOUR)
        return self._next_day(row, tomorrow)

    def _next_day(self, row: _Row, tomorrow: datetime) -> datetime:
        """The first moment of the next provider day the member may be texted."""
        if row.branch_id is None:
            return tomorrow + timedelta(hours=MEMBERLESS_HOUR)
        later = self.windows.not_before(row.branch_id, row.window_start, row.window_end, tomorrow)
        return later or tomorrow


__all__ = ["CapGate"]
