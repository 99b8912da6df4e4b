"""Polling one meter: read on its interval, back off exponentially while it does not answer, never stop.

Every attempt yields a reading: a fresh one, or — while the device is away — the last good values marked
``stale`` with the error, so nothing downstream ever trusts a frozen value without knowing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.meter_reader.drivers import Driver
from services.meter_reader.measurement import reading, stale
from shared.config_devices import MeterConfig
from shared.devices.errors import describe_error
from shared.devices.modbus import RegisterReader
from shared.devices.source import backoff_s
from shared.messages import MeterReading
from shared.tasks import cancel_and_wait

Clock = Callable[[], datetime]
Publish = Callable[[MeterReading], Awaitable[None]]


class MeterPoller:
    """Polls one meter through ``driver`` over ``link`` and hands every reading to ``publish``."""

    def __init__(
        self,
        config: MeterConfig,
        driver: Driver,
        link: RegisterReader,
        publish: Publish,
        *,
        clock: Clock,
        log: Any,
    ) -> None:
        self.config = config
        self.driver = driver
        self.link = link
        self.publish = publish
        self.clock = clock
        self.log = log
        self.last_good: MeterReading | None = None
        self.last_error: str | None = None
        self.failures = 0
        # A generous backstop: each read has its own timeout; discovery may need several reads.
        self.poll_timeout_s = config.modbus.timeout_s * 20 + 1.0

    async def poll_once(self) -> MeterReading:
        """One attempt; never raises (except cancellation)."""
        try:
            sample = await asyncio.wait_for(self.driver.read(self.link), self.poll_timeout_s)
        except Exception as error:  # any failure — link, device, decoding — makes the meter stale
            return self._failed(describe_error(error))
        fresh = reading(
            self.config.name,
            self.config.usage,
            sample.measured,
            sample.convention,
            now=self.clock(),
            capacity_kwh=self.config.capacity_kwh,
        )
        if self.failures:
            self.log.info("meter answers again", after_failures=self.failures)
        self.failures = 0
        self.last_error = None
        self.last_good = fresh
        return fresh

    def _failed(self, message: str) -> MeterReading:
        self.failures += 1
        self.driver.reset()
        retry = backoff_s(self.config.interval_s, self.failures)
        # One warning per outage (and per new kind of failure), not one per retry.
        if self.failures == 1 or message != self.last_error:
            self.log.warning("meter not answering", error=message, retry_s=retry)
        else:
            self.log.debug("meter still not answering", error=message, failures=self.failures, retry_s=retry)
        self.last_error = message
        return stale(self.last_good, self.config.name, self.config.usage, message, now=self.clock())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                await self._cycle(stopped)
        finally:
            stopped.cancel()

    async def _cycle(self, stopped: asyncio.Task[bool]) -> None:
        started = time.monotonic()
        # A poll waiting for a dead device must not delay shutdown by its timeout.
        attempt = asyncio.create_task(self.poll_once())
        await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():
            await cancel_and_wait([attempt])
            return
        try:
            await self.publish(attempt.result())
        except Exception as error:  # publishing must never end the poll loop
            self.log.warning("publishing reading failed", error=describe_error(error))
        if self.failures:
            delay = backoff_s(self.config.interval_s, self.failures)
        else:
            delay = max(0.0, self.config.interval_s - (time.monotonic() - started))
        await asyncio.wait({stopped}, timeout=delay)
