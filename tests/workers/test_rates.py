"""The shared token bucket: pacing by segments, shared by workers, slowed by a 429."""

from __future__ import annotations

import itertools
import time

import pytest
from redis import Redis

from workers.rates import TokenBucket


def test_sends_are_spaced_by_the_rate(redis_client: Redis) -> None:
    """At 10 a second, each reservation waits 0.1 s longer than the one before."""
    bucket = TokenBucket(redis_client, "test", rate=10)
    waits = [bucket.reserve() for _ in range(5)]
    assert waits[0] == pytest.approx(0.0, abs=0.02)
    for before, after in itertools.pairwise(waits):
        assert after - before == pytest.approx(0.1, abs=0.02)


def test_segments_count_as_tokens(redis_client: Redis) -> None:
    """A 3-segment message holds the bucket three times as long as a 1-segment one."""
    bucket = TokenBucket(redis_client, "test", rate=10)
    bucket.reserve(3)
    assert bucket.reserve(1) == pytest.approx(0.3, abs=0.02)


def test_two_workers_share_one_pace(redis_client: Redis, redis_url: str) -> None:
    """Buckets with the same name, as in two worker processes, share the tokens."""
    first = TokenBucket(redis_client, "sender", rate=5)
    second = TokenBucket(Redis.from_url(redis_url), "sender", rate=5)
    first.reserve()
    assert second.reserve() == pytest.approx(0.2, abs=0.02)
    assert TokenBucket(redis_client, "other", rate=5).reserve() == pytest.approx(0.0, abs=0.02)


def test_a_rate_limit_pauses_and_halves_the_rate(redis_client: Redis) -> None:
    """After a 429 everyone waits the pause, then goes at half the rate until the hold ends."""
    bucket = TokenBucket(redis_client, "test", rate=10)
    assert bucket.slow_down(pause=1.0, factor=0.5, hold=30) == 0.5
    first = bucket.reserve()
    assert first == pytest.approx(1.0, abs=0.05)  # the pause
    assert bucket.reserve() - first == pytest.approx(0.2, abs=0.02)  # 5 a second now
    assert bucket.slow_down(factor=0.5) == 0.25


def test_acquire_waits_and_says_it_is_alive(redis_client: Redis) -> None:
    """acquire sleeps until the tokens may be used, calling back while it waits."""
    bucket = TokenBucket(redis_client, "test", rate=20)
    ticks: list[float] = []
    bucket.acquire()
    started = time.monotonic()
    bucket.acquire(2, alive=lambda: ticks.append(time.monotonic()))
    assert time.monotonic() - started == pytest.approx(0.1, abs=0.05)
    assert ticks


def test_a_bucket_needs_a_positive_rate(redis_client: Redis) -> None:
    """A rate of zero is a configuration mistake, said at once."""
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(redis_client, "test", rate=0)
