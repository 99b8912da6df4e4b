"""Rate limits and idempotency keys shared by instances: PostgreSQL (two engines, as two instances would
have, racing from threads) and Redis when one is reachable; an exact limit, refill with time, replay."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.fleet.idempotency import RedisIdempotency, SqlIdempotency, Stored
from services.gateway.fleet.models import migrate_fleet
from services.gateway.fleet.ratelimit import RateLimits, RedisRateLimits, SqlRateLimits
from shared.db import make_engine

REDIS_URL = "redis://127.0.0.1:6379/15"


@dataclass
class Clock:
    now: datetime = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _redis() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis not reachable")
    return client


def race(limiters: list[RateLimits], key: str, limit: int, requests: int) -> int:
    """``requests`` takes spread over the limiters from 8 threads; returns how many were allowed."""
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: limiters[n % len(limiters)].take(key, limit), range(requests)))
    return sum(r.allowed for r in results)


def check_limits(limiters: list[RateLimits], clock: Clock) -> None:
    key = f"client-{uuid.uuid4().hex[:6]}"
    assert race(limiters, key, 10, 30) == 10  # exactly the limit, however the instances interleave
    refused = limiters[0].take(key, 10)
    assert not refused.allowed and refused.retry_after_s == 360  # one request per 6 minutes at 10/h
    assert limiters[1].peek(key, 10).remaining == 0
    clock.now += timedelta(minutes=12)
    assert race(limiters, key, 10, 5) == 2  # two refilled, for every instance
    assert limiters[0].take("someone-else", 10).remaining == 9


def test_postgres_rate_limits_across_instances(pg_url: str) -> None:
    clock = Clock()
    engines = [make_engine(pg_url) for _ in range(2)]
    migrate_fleet(engines[0])
    try:
        check_limits([SqlRateLimits(e, clock) for e in engines], clock)
    finally:
        for engine in engines:
            engine.dispose()


def test_redis_rate_limits_across_instances() -> None:
    clock = Clock()
    clients = [_redis() for _ in range(2)]
    prefix = f"test:{uuid.uuid4().hex[:8]}"
    check_limits([RedisRateLimits(c, clock, prefix=prefix) for c in clients], clock)


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_idempotency_keys(store: str, request: pytest.FixtureRequest) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    if store == "postgres":
        engine = make_engine(request.getfixturevalue("pg_url"))
        migrate_fleet(engine)
        first: Any = SqlIdempotency(engine)
        second: Any = SqlIdempotency(make_engine(request.getfixturevalue("pg_url")))
    else:
        prefix = f"test:{uuid.uuid4().hex[:8]}"
        first, second = RedisIdempotency(_redis(), prefix), RedisIdempotency(_redis(), prefix)
    key = f"client:{uuid.uuid4().hex}"
    assert first.claim(key, "f1", now).outcome == "new"
    assert second.claim(key, "f1", now).outcome == "running"  # the first is still at it
    assert second.claim(key, "other", now).outcome == "mismatch"
    first.complete(key, Stored(201, b'{"id": "x"}', {"content-type": "application/json"}))
    replay = second.claim(key, "f1", now + timedelta(seconds=5))
    assert replay.outcome == "replay" and replay.stored == Stored(
        201, b'{"id": "x"}', {"content-type": "application/json"}
    )
    failed = f"client:{uuid.uuid4().hex}"
    assert first.claim(failed, "f", now).outcome == "new"
    first.release(failed)  # a 5xx: the retry runs again
    assert second.claim(failed, "f", now).outcome == "new"
