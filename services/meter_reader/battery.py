"""Battery mode control: put a Modbus battery into the optimizer's mode (normal / hold / charge).

The optimizer publishes the site's mode as the evcc key ``<root>/site/batteryMode``. For every meter with a
``battery_control`` block the meter-reader writes that mode's registers, reads them back to verify, retries
with the poll backoff while the device refuses or is away, and writes again after the device reconnected
(it may have restarted and forgotten). ``normal`` is the safe state — the battery runs on its own — and is
applied when the optimizer reports offline or has been silent for ``watchdog_s`` (any ``batteryMode`` or
``<root>/updated`` message counts as a sign of life; the last mode is re-applied once it speaks again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from shared.config_devices import BatteryControl, BatteryControlWrite, MeterConfig
from shared.devices.codec import WIDTH, DataType, encode
from shared.devices.errors import DeviceError, describe_error
from shared.devices.source import backoff_s
from shared.encoding import decode_model
from shared.messages import ServiceStatus
from shared.state import BatteryMode, SiteState
from shared.tasks import cancel_and_wait

ModeName = Literal["normal", "hold", "charge"]
MODES: tuple[ModeName, ...] = ("normal", "hold", "charge")


class ModeLink(Protocol):
    """Reads and writes registers of one device (a :class:`~shared.devices.modbus.ModbusUnit`)."""

    @property
    def connections(self) -> int:
        """Connections opened so far; a change means the device may have forgotten what was written."""
        ...

    async def read(self, source: str, address: int, count: int) -> list[int]: ...

    async def write(self, address: int, words: list[int]) -> None: ...


_APPLIED: dict[BatteryMode, ModeName] = {BatteryMode.HOLD: "hold", BatteryMode.CHARGE: "charge"}


def mode_name(payload: str) -> ModeName:
    """The mode to apply for an optimizer ``site/batteryMode`` payload (decoded by the state schema);
    anything but hold/charge — unknown, holdcharge, an unreadable payload — means normal."""
    mode = decode_model(SiteState, {"site/batteryMode": payload}, "site").batteryMode
    return _APPLIED.get(mode, "normal") if mode is not None else "normal"


def optimizer_offline(payload: str) -> bool | None:
    """Whether a ``chargebus/services/optimizer/status`` payload says offline; an empty one (the retained
    status cleared) counts as offline, one that is not a :class:`ServiceStatus` says nothing (``None``)."""
    if not payload.strip():
        return True
    try:
        return ServiceStatus.model_validate_json(payload).state == "offline"
    except ValidationError:
        return None


@dataclass
class ModeSource:
    """What the optimizer asks for, with the watchdog; times are ``time.monotonic()`` seconds (pure)."""

    watchdog_s: float
    started_s: float
    mode: ModeName | None = None
    seen_s: float | None = None
    offline: bool = False

    def on_mode(self, payload: str, now_s: float) -> None:
        self.mode = mode_name(payload)
        self.seen_s = now_s

    def on_alive(self, now_s: float) -> None:
        self.seen_s = now_s

    def on_status(self, payload: str) -> None:
        offline = optimizer_offline(payload)
        if offline is not None:
            self.offline = offline

    def wanted(self, now_s: float) -> ModeName | None:
        """The mode to apply now; ``None`` while waiting for the optimizer's first word after start."""
        if self.offline:
            return "normal"
        if self.mode is None or self.seen_s is None:
            return "normal" if now_s - self.started_s >= self.watchdog_s else None
        if now_s - self.seen_s >= self.watchdog_s:
            return "normal"
        return self.mode

    def expires_in(self, now_s: float) -> float:
        """Seconds until the watchdog could change :meth:`wanted` by time alone (≥ 0)."""
        since = self.seen_s if self.seen_s is not None and self.mode is not None else self.started_s
        return max(0.0, since + self.watchdog_s - now_s)


def _words(write: BatteryControlWrite) -> list[int]:
    return encode(write.value, DataType(write.type), write.word_order)


class BatteryModeController:
    """Keeps one battery in the wanted mode; never raises out of :meth:`run` (except cancellation)."""

    def __init__(
        self,
        meter: MeterConfig,
        link: ModeLink,
        on_change: Callable[[], Awaitable[None]],
        *,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert meter.battery_control is not None  # only built for meters with a battery_control block
        self.meter = meter
        self.control: BatteryControl = meter.battery_control
        self.link = link
        self.on_change = on_change
        self.log = log
        self.clock = clock
        self.source = ModeSource(self.control.watchdog_s, clock())
        self.applied: ModeName | None = None
        """Mode last written and verified; ``None`` = unknown (not yet written, or the last write failed)."""
        self.error: str | None = None
        self.failures = 0
        self._applied_on: int | None = None
        self._wake = asyncio.Event()
        self.apply_timeout_s = meter.modbus.timeout_s * 20 + 1.0

    # --- inputs from the bus ---

    def on_mode(self, payload: str) -> None:
        self.source.on_mode(payload, self.clock())
        self._wake.set()

    def on_alive(self) -> None:
        self.source.on_alive(self.clock())
        self._wake.set()

    def on_status(self, payload: str) -> None:
        self.source.on_status(payload)
        self._wake.set()

    def reading_fields(self) -> dict[str, Any]:
        """What the published meter reading carries about the mode."""
        return {"battery_mode": self.applied, "battery_mode_error": self.error}

    # --- device side ---

    async def _apply(self, mode: ModeName) -> None:
        writes: list[BatteryControlWrite] = getattr(self.control, mode)
        for write in writes:
            await self.link.write(write.address, _words(write))
        for write in writes:
            expected = _words(write)
            got = await self.link.read("holding", write.address, WIDTH[DataType(write.type)])
            if got != expected:
                raise DeviceError(
                    f"read back {got} from holding {write.address} after writing {expected}: not applied"
                )

    async def step(self) -> float:
        """Apply the wanted mode if it is not in place; return the seconds until the next check."""
        now = self.clock()
        expires = self.source.expires_in(now)
        check_s = min(self.meter.interval_s, expires) if expires > 0 else self.meter.interval_s
        wanted = self.source.wanted(now)
        if wanted is None:
            return check_s
        reconnected = self._applied_on is not None and self.link.connections != self._applied_on
        if wanted == self.applied and not reconnected and self.error is None:
            return check_s
        before = (self.applied, self.error)
        try:
            await asyncio.wait_for(self._apply(wanted), self.apply_timeout_s)
        except Exception as error:  # refused, away, wrong read-back: report and retry, never assume
            message = f"{wanted}: {describe_error(error)}"
            self.failures += 1
            retry = backoff_s(self.meter.interval_s, self.failures)
            if self.failures == 1 or message != self.error:
                self.log.warning("battery mode not applied", mode=wanted, error=message, retry_s=retry)
            self.applied, self.error, self._applied_on = None, message, None
            delay = retry
        else:
            if reconnected and wanted == before[0]:
                self.log.info("battery mode written again after reconnect", mode=wanted)
            else:
                self.log.info("battery mode applied", mode=wanted, previous=before[0])
            self.applied, self.error, self.failures = wanted, None, 0
            self._applied_on = self.link.connections
            delay = check_s
        if (self.applied, self.error) != before:
            try:
                await self.on_change()
            except Exception as error:  # publishing must never end the control loop
                self.log.warning("publishing battery mode failed", error=describe_error(error))
        return delay

    async def run(self, stop: asyncio.Event) -> None:
        """Control until ``stop`` is set."""
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                attempt = asyncio.create_task(self.step())
                await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not attempt.done():
                    await cancel_and_wait([attempt])
                    return
                woken = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=attempt.result(), return_when=asyncio.FIRST_COMPLETED
                )
                await cancel_and_wait([woken])
        finally:
            stopped.cancel()
