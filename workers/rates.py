"""Pacing: a token bucket in Redis shared by every worker, one per sender and channel.

SMS count segments, calls count calls. Each send reserves its tokens in one Lua call that
reads Redis's own clock, so workers on many machines keep one pace; the answer is how long
to wait before sending. A 429 / 20429 from the provider pauses the bucket and halves its
rate for a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app
from redis import Redis

from infra import clients

KEY_PREFIX = "gateway:rate:"
# Sleep in slices no longer than this, so a job can say it is alive while it waits.
MAX_SLEEP_SLICE = 5.0

# A generic cell rate algorithm that always reserves: the theoretical arrival time (tat)
# moves on by tokens/rate, and the caller waits until tat - burst/rate.
# KEYS: tat key, slow-factor key. ARGV: rate, burst, tokens. Returns the wait in microseconds.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1]) * tonumber(redis.call('GET', KEYS[2]) or '1')
local burst = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + tokens / rate
local wait = new_tat - burst / rate - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat),
           'PX', math.ceil((new_tat - now) * 1000) + 1000)
return math.floor(wait * 1000000)
"""

# KEYS: tat key, slow-factor key. ARGV: pause seconds, factor, lowest factor, hold seconds.
_SLOW_DOWN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local factor = tonumber(redis.call('GET', KEYS[2]) or '1') * tonumber(ARGV[2])
if factor < tonumber(ARGV[3]) then factor = tonumber(ARGV[3]) end
redis.call('SET', KEYS[2], tostring(factor), 'PX', math.floor(tonumber(ARGV[4]) * 1000))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return tostring(factor)
"""


class TokenBucket:
    """A rate shared through Redis: `rate` tokens a second, `burst` of them at once."""

    def __init__(self, redis: Redis, name: str, rate: float, burst: float = 1.0) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.key = KEY_PREFIX + name
        self.slow_key = self.key + ":slow"
        self._reserve = redis.register_script(_RESERVE)
        self._slow_down = redis.register_script(_SLOW_DOWN)

    def reserve(self, tokens: float = 1.0) -> float:
        """Take `tokens` now and return how many seconds to wait before using them."""
        micros = self._reserve(keys=[self.key, self.slow_key], args=[self.rate, self.burst, tokens])
        return int(micros) / 1_000_000

    def acquire(
        self,
        tokens: float = 1.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        alive: Callable[[], None] | None = None,
    ) -> float:
        """Reserve `tokens` and wait until they may be used; return the seconds waited."""
        wait = self.reserve(tokens)
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return wait
            sleep(min(left, MAX_SLEEP_SLICE))
            if alive is not None:
                alive()

    def slow_down(self, pause: float = 1.0, factor: float = 0.5, hold: float = 60.0) -> float:
        """The provider said too many: pause everyone, and send slower for `hold` seconds."""
        lowest = 0.05
        result = self._slow_down(keys=[self.key, self.slow_key], args=[pause, factor, lowest, hold])
        return float(result)

    def factor(self) -> float:
        """The share of the set rate in force now (1.0 unless the provider pushed back)."""
        value = self.redis.get(self.slow_key)
        return 1.0 if value is None else float(value)


def sms_bucket() -> TokenBucket:
    """The SMS bucket of the app's sender number, in segments a second."""
    cfg = current_app.config
    return TokenBucket(
        clients.redis(),
        f"sms:{cfg['TWILIO_FROM_NUMBER']}",
        float(cfg["SEND_RATE_SEGMENTS_PER_S"]),
    )


def call_bucket() -> TokenBucket:
    """The outbound call bucket of the app's sender number, in calls a second."""
    cfg = current_app.config
    return TokenBucket(
        clients.redis(), f"calls:{cfg['TWILIO_FROM_NUMBER']}", float(cfg["CALLS_PER_S"])
    )


__all__ = ["TokenBucket", "call_bucket", "sms_bucket"]
