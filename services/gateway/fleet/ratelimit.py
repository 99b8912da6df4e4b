"""Rate limits of the fleet API: token buckets shared by every instance serving one fleet.

A bucket holds ``limit`` requests and refills continuously at ``limit`` per ``period_s`` — a smooth
stand-in for ev.energy's "1000 per rolling hour". Buckets live in the database (one atomic upsert per
request, so any number of gateway instances on one PostgreSQL enforce one limit) or in Redis when
``fleet.redis_url`` is set (one Lua script per request). Time is wall-clock seconds from the context's
clock, so instances agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine

PERIOD_S = 3600.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    """Whole seconds until one request is available again (0 when allowed)."""


class RateLimits(Protocol):
    def take(self, key: str, limit: int) -> Decision:
        """Spend one request of ``key``'s bucket of size ``limit``."""
        ...

    def peek(self, key: str, limit: int) -> Decision:
        """The bucket's state without spending (for responses that were not charged)."""
        ...


def decision(allowed: bool, tokens: float, limit: int, period_s: float = PERIOD_S) -> Decision:
    """What a bucket holding ``tokens`` (after this request) answers."""
    if allowed:
        return Decision(True, limit, max(0, math.floor(tokens)), 0)
    rate = limit / period_s
    wait = (1.0 - tokens) / rate if rate > 0 else period_s
    return Decision(False, limit, 0, max(1, math.ceil(wait)))


# One statement: refill by the elapsed time (capped at the limit), spend one token when there is one, and
# remember whether it was spent — atomic in PostgreSQL and SQLite alike (row lock / database lock).
_REFILLED = "CASE WHEN {t} + (:now - {u}) * :rate > :limit THEN :limit ELSE {t} + (:now - {u}) * :rate END"
_TAKE = text(
    f"""
    INSERT INTO fleet_rate_buckets (key, tokens, updated_s, allowed)
    VALUES (:key, :limit - 1, :now, :limit >= 1)
    ON CONFLICT (key) DO UPDATE SET
        tokens = CASE WHEN {_REFILLED.format(t="fleet_rate_buckets.tokens", u="fleet_rate_buckets.updated_s")}
            >= 1 THEN {_REFILLED.format(t="fleet_rate_buckets.tokens", u="fleet_rate_buckets.updated_s")} - 1
            ELSE {_REFILLED.format(t="fleet_rate_buckets.tokens", u="fleet_rate_buckets.updated_s")} END,
        allowed = {_REFILLED.format(t="fleet_rate_buckets.tokens", u="fleet_rate_buckets.updated_s")} >= 1,
        updated_s = :now
    RETURNING tokens, allowed
    """
)
_PEEK = text("SELECT tokens, updated_s FROM fleet_rate_buckets WHERE key = :key")


class SqlRateLimits:
    """Buckets in ``fleet_rate_buckets`` of the fleet's database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], period_s: float = PERIOD_S) -> None:
        self._engine = engine
        self._clock = clock
        self._period_s = period_s

    def take(self, key: str, limit: int) -> Decision:
        params = {"key": key, "limit": float(limit), "now": self._clock().timestamp()}
        params["rate"] = limit / self._period_s
        with self._engine.begin() as conn:
            tokens, allowed = conn.execute(_TAKE, params).one()
        return decision(bool(allowed), float(tokens), limit, self._period_s)

    def peek(self, key: str, limit: int) -> Decision:
        with self._engine.connect() as conn:
            row = conn.execute(_PEEK, {"key": key}).first()
        if row is None:
            return Decision(True, limit, limit, 0)
        elapsed = max(0.0, self._clock().timestamp() - float(row[1]))
        tokens = min(float(limit), float(row[0]) + elapsed * limit / self._period_s)
        return Decision(tokens >= 1.0, limit, math.floor(tokens), 0)


# KEYS[1] = bucket; ARGV = limit, now (s), rate (tokens/s), ttl (s). Returns {allowed, tokens * 1000}.
_REDIS_TAKE = """
local limit, now, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens = limit; updated = now end
tokens = math.min(limit, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {allowed, math.floor(tokens * 1000)}
"""


class RedisRateLimits:
    """Buckets as Redis hashes ``<prefix>:<key>`` (expiring once full again)."""

    def __init__(
        self,
        client: Any,
        clock: Callable[[], datetime],
        period_s: float = PERIOD_S,
        prefix: str = "chargebus:fleet:rate",
    ) -> None:
        self._client = client
        self._clock = clock
        self._period_s = period_s
        self._prefix = prefix
        self._script = client.register_script(_REDIS_TAKE)

    def take(self, key: str, limit: int) -> Decision:
        now = self._clock().timestamp()
        allowed, milli = self._script(
            keys=[f"{self._prefix}:{key}"],
            args=[limit, now, limit / self._period_s, math.ceil(self._period_s) + 60],
        )
        return decision(bool(allowed), int(milli) / 1000, limit, self._period_s)

    def peek(self, key: str, limit: int) -> Decision:
        tokens_raw, updated_raw = self._client.hmget(f"{self._prefix}:{key}", "tokens", "updated")
        if tokens_raw is None:
            return Decision(True, limit, limit, 0)
        elapsed = max(0.0, self._clock().timestamp() - float(updated_raw))
        tokens = min(float(limit), float(tokens_raw) + elapsed * limit / self._period_s)
        return Decision(tokens >= 1.0, limit, math.floor(tokens), 0)
