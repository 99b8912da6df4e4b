"""Values from devices over time: when a value is stale, and how long to wait before asking a dead device.

A *polled* source (Modbus, HTTP) is asked on an interval; while it does not answer the next attempt waits
:func:`backoff_s`. A *pushed* source (MQTT, a REST push) delivers when it likes; :class:`Latest` keeps its
last value with the time it arrived and refuses to hand it out once it is older than the timeout — a frozen
value must never pass for a live one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.devices.errors import DeviceStale

T = TypeVar("T")

BACKOFF_CAP_S = 30.0


def backoff_s(interval_s: float, failures: int, cap_s: float = BACKOFF_CAP_S) -> float:
    """Seconds to wait after ``failures`` consecutive failed attempts: the interval, doubling per failure,
    capped (a slowly polled device is never retried less often than its interval)."""
    if failures <= 0:
        return interval_s
    return max(interval_s, min(cap_s, interval_s * 2.0 ** (failures - 1)))


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A value and when it arrived (``Latest``'s clock, monotonic seconds)."""

    value: T
    at_s: float


class Latest(Generic[T]):
    """The last value of a pushed source; stale ``timeout_s`` after it arrived (``None`` = never stale)."""

    def __init__(
        self, name: str, timeout_s: float | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.clock = clock
        self.last: Timed[T] | None = None

    def set(self, value: T) -> None:
        self.last = Timed(value, self.clock())

    def clear(self) -> None:
        self.last = None

    def age_s(self) -> float | None:
        return None if self.last is None else self.clock() - self.last.at_s

    @property
    def fresh(self) -> bool:
        age = self.age_s()
        return age is not None and (self.timeout_s is None or age <= self.timeout_s)

    def get(self) -> T:
        """The value, or :class:`DeviceStale` saying since when nothing arrived."""
        if self.last is None:
            raise DeviceStale(f"{self.name}: no value received yet")
        age = self.clock() - self.last.at_s
        if self.timeout_s is not None and age > self.timeout_s:
            raise DeviceStale(f"{self.name}: no value for {age:.0f} s (timeout {self.timeout_s:g} s)")
        return self.last.value
