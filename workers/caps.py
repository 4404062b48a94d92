"""Per-number caps applied by the sending jobs, counted in Redis across every worker.

The rule (which caps, whose day, where a held text waits) is models.caps'; this is the
counting. A text takes its place in the number's count for the provider's day before it is
claimed, atomically (INCR), so two workers sending to one number never both take the last
place; a text the provider did not accept gives its place back.

Redis holds the day's counts from the day's first text: the first take of a provider day
loads every number's count of texts the provider accepted that day from the database (one
grouped query, nearly empty just after midnight) together with a marker that the day is
loaded, in one script. While the marker stands, a number with no count has had no text
today, so a notice to 100,000 numbers reads no counts at all. A restarted Redis loses the
marker with the counts, and the next take loads the day again: it forgets nothing that
matters. Texts a provider took other than through these jobs (a console, another system)
are not counted; the provider refuses what goes over its cap, and the row waits for the
next day (workers.sending).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.broadcast import RowFacts, Windows
from models.caps import HoldReason, SendCaps, caps_for, provider_day
from models.message import Direction, Message
from models.org import township_settings

DAY_TTL = timedelta(days=2)
# A text with no member (a code to a new phone) waiting for the next day goes at this hour.
MEMBERLESS_HOUR = 9
LOAD_TRIES = 3  # loads of the day's counts in one take before giving up (Redis keeps emptying)

# Each row's place under its caps, in order, atomically. ARGV: the day keys' TTL, the
# provider's day, and the rows as one JSON array of [id, phone, digest of the text, the
# same-content seconds (0: none), the daily cap (0: none)]. The keys are made here from the
# number, the text's digest and the day (a single Redis, so a script may name keys it was
# not handed; one argument for a batch keeps a notice's batch of 100 rows one small
# command). Answers per row: "ok", "same:<ms left>" or "day"; or the one answer "load" when
# a row has a daily cap and the day's counts are not loaded (nothing was taken).
_TAKE = """
local ttl, day = tonumber(ARGV[1]), ARGV[2]
local rows = cjson.decode(ARGV[3])
local loaded = redis.call('EXISTS', 'caps:loaded:' .. day) == 1
local out = {}
for i, row in ipairs(rows) do
  if row[5] > 0 and not loaded then
    return 'load'
  end
end
for i, row in ipairs(rows) do
  local id, phone, digest, same, cap = row[1], row[2], row[3], row[4], row[5]
  local same_key = 'caps:same:' .. phone .. ':' .. digest
  local day_key = 'caps:day:' .. phone .. ':' .. day
  local answer = 'ok'
  local took_same = false
  if same > 0 then
    if redis.call('SET', same_key, tostring(id), 'NX', 'EX', same) then
      took_same = true
    else
      answer = 'same:' .. redis.call('PTTL', same_key)
    end
  end
  if answer == 'ok' and cap > 0 then
    -- A number's first text of the day sets its count (with the key's lifetime) in one call.
    local count = 1
    if not redis.call('SET', day_key, 1, 'NX', 'EX', ttl) then
      count = redis.call('INCR', day_key)
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

# The day's counts from the database, and the marker that they are loaded, in one call (a
# Redis emptied halfway cannot leave the marker without the counts). A count a worker
# already keeps is newer than the database's and stays. ARGV: TTL, day, [[phone, count]].
_LOAD_DAY = """
local ttl, day = tonumber(ARGV[1]), ARGV[2]
for _, row in ipairs(cjson.decode(ARGV[3])) do
  redis.call('SET', 'caps:day:' .. row[1] .. ':' .. day, row[2], 'NX', 'EX', ttl)
end
redis.call('SET', 'caps:loaded:' .. day, 1, 'EX', ttl)
return 1
"""

# A place given back: the count goes down only if it is still there. A count Redis lost
# meanwhile is not made again as -1 with no lifetime (the day's load would keep it, one
# under the truth, and it would never expire). KEYS: the day key.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class CapGate:
    """Whether each text may go to its number now under the caps, and if not, until when."""

    def __init__(self, session: Session, redis: Redis, provider: str) -> None:
        self.session = session
        self.redis = redis
        self.provider = provider
        self.windows = Windows(session)
        self._take_script = redis.register_script(_TAKE)
        self._rows: dict[int, RowFacts] = {}
        self._caps: dict[int | None, SendCaps] = {}
        self._load_script = redis.register_script(_LOAD_DAY)
        self._give_back_script = redis.register_script(_GIVE_BACK)
        self._taken: dict[int, list[str]] = {}  # the Redis keys a row holds a place in

    def know(self, facts: Mapping[int, RowFacts]) -> None:
        """Take in these rows' numbers, texts and members (read with the rows: no query), and
        their townships' caps."""
        self._rows.update(facts)
        # Every new branch's caps at once: one query a level up the tree, not two a branch.
        branches = {
            row.branch_id
            for row in facts.values()
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
        notice's rows costs one round trip; the day's first batch also loads the day); the
        rows that wait, with until when and why."""
        wanted: list[tuple[int, RowFacts, SendCaps]] = []
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
        answers = self._take(wanted, day, digests)
        for _ in range(LOAD_TRIES):
            if answers is not None:
                break
            self._load_day(day, start)
            answers = self._take(wanted, day, digests)
        if answers is None:
            raise RuntimeError(f"the caps of {day} would not stay loaded in Redis")
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
        self, rows: list[tuple[int, RowFacts, SendCaps]], day: str, digests: dict[str, str]
    ) -> dict[int, str] | None:
        """One run of the script over these rows: each row's answer, or None when the day's
        counts are to be loaded first (nothing was taken)."""
        payload = [
            [message_id, row.phone, digests[row.body], caps.same_content_seconds, caps.daily or 0]
            for message_id, row, caps in rows
        ]
        answers = self._take_script(
            keys=[],
            args=[int(DAY_TTL.total_seconds()), day, json.dumps(payload, separators=(",", ":"))],
        )
        if not isinstance(answers, list):  # "load"
            return None
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
                self._give_back_script(keys=[key])
            else:
                self.redis.delete(key)

    def _load_day(self, day: str, start: datetime) -> None:
        """Put the day's counts of every number the provider took a text for since `start`
        into Redis, with the marker that the day is loaded (one query, one script)."""
        rows = self.session.execute(
            select(Message.phone, func.count())
            .where(
                Message.direction == Direction.OUT,
                Message.provider_sid.is_not(None),
                Message.sent_at >= start,
            )
            .group_by(Message.phone)
        ).all()
        counts = [[phone, int(count)] for phone, count in rows]
        self._load_script(
            keys=[],
            args=[int(DAY_TTL.total_seconds()), day, json.dumps(counts, separators=(",", ":"))],
        )

    def next_day(self, message_id: int, now: datetime) -> datetime:
        """When a row the provider refused as over its cap may go: the next day's window."""
        _, tomorrow = provider_day(now)
        row = self._rows.get(message_id)
        if row is None:
            return tomorrow + timedelta(hours=MEMBERLESS_HOUR)
        return self._next_day(row, tomorrow)

    def _next_day(self, row: RowFacts, tomorrow: datetime) -> datetime:
        """The first moment of the next provider day the member may be texted."""
        if row.branch_id is None:
            return tomorrow + timedelta(hours=MEMBERLESS_HOUR)
        later = self.windows.not_before(row.branch_id, row.window_start, row.window_end, tomorrow)
        return later or tomorrow


__all__ = ["CapGate"]
