"""Per-token rate limiting: an in-memory token bucket with an injected clock.

The bucket holds ``limit`` requests and refills continuously at ``limit`` per ``period_s`` — a smooth
stand-in for ev.energy's "1000 per rolling hour". State is per process: several gateway instances each
enforce the limit on their own share of the traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]
"""Seconds from an arbitrary origin (``time.monotonic`` in production)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    """Whole seconds until one request is available again (0 when allowed)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Monotonic, period_s: float = 3600.0) -> None:
        self._clock = clock
        self._period_s = period_s
        self._buckets: dict[str, _Bucket] = {}

    def peek(self, key: str, limit: int) -> Decision:
        """The bucket's state without spending (for responses that were not charged, e.g. a bad token)."""
        bucket = self._refill(key, limit)
        return Decision(bucket.tokens >= 1.0, limit, math.floor(bucket.tokens), 0)

    def _refill(self, key: str, limit: int) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit), now)
        bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * limit / self._period_s)
        bucket.updated = now
        return bucket

    def take(self, key: str, limit: int) -> Decision:
        """Spend one request of ``key``'s bucket of size ``limit``."""
        bucket = self._refill(key, limit)
        rate = limit / self._period_s
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True, limit, math.floor(bucket.tokens), 0)
        wait = (1.0 - bucket.tokens) / rate if rate > 0 else self._period_s
        return Decision(False, limit, 0, max(1, math.ceil(wait)))
