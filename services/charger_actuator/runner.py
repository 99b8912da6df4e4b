"""One charger's loop: poll, decide (pure :mod:`control`), write with read-back, publish.

All device I/O of a charger happens in this one task: commands arriving on the bus only update the control
state and wake the loop, so a write never races a poll. A charger that stops answering is polled with
backoff; its status says why, and the other chargers and the service carry on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from ulid import ULID

from services.charger_actuator import control
from services.charger_actuator.control import Apply, ControlState, Verdict
from services.charger_actuator.driver import Capabilities, ChargerDriver, ChargerReading, quantize
from services.charger_actuator.status import build_status, loadpoint_state
from shared.bus import Bus, BusMessage
from shared.config_devices import ChargerConfig
from shared.devices.errors import DeviceError
from shared.devices.source import backoff_s
from shared.logging import get_logger
from shared.messages import (
    ChargerCommand,
    ChargerStatusChanged,
    ChargeStatus,
    CommandApplied,
    CommandReason,
    ServiceStatus,
)
from shared.tasks import cancel_and_wait
from shared.topics import EVENT_CHARGER_STATUS, EVENT_COMMAND
from shared.tree import loadpoint_scope

Clock = Callable[[], datetime]

WRITE_ATTEMPTS = 3
"""Tries per write before it is reported failed (then re-tried by sync with backoff)."""
WRITE_RETRY_S = 0.2
CLOCK_STEP_S = 2.0
"""A jump of the wall clock against the monotonic clock this large is a step (NTP), not drift."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class ChargerRunner:
    def __init__(
        self,
        bus: Bus,
        config: ChargerConfig,
        loadpoint: int,
        driver: ChargerDriver,
        *,
        voltage_v: float = 230.0,
        clock: Clock = utc_now,
    ) -> None:
        self.bus = bus
        self.config = config
        self.loadpoint = loadpoint
        self.driver = driver
        self.voltage_v = voltage_v
        self.clock = clock
        self.log = get_logger("charger-actuator", loadpoint=loadpoint, device=config.name)
        self.state: ControlState = control.initial_state(clock())
        # Only the real wall clock steps; an injected test clock moves as the test says.
        self._clock_ref = (time.monotonic(), clock()) if clock is utc_now else None
        self._queued: list[Apply] = []
        self._wake = asyncio.Event()
        self._reading: ChargerReading | None = None
        self._device_error: str | None = None
        self._dead_polls = 0
        self._published_error: str | None = None
        self._error_published = False
        self._in_control = False
        """Whether a write of ours went through since the start: the first one writes every register (it
        takes over a charger left in a mode of its own, e.g. go-e's neutral), later ones only differences."""
        driver.watch(self._wake.set)

    # --- bus input --------------------------------------------------------------------------------------

    async def on_command(self, message: BusMessage) -> None:
        if not message.payload:
            return
        try:
            command = ChargerCommand.model_validate_json(message.payload)
        except ValidationError as error:
            self.log.warning("malformed command ignored", error=str(error).splitlines()[0])
            return
        self._follow_clock()
        self.state, verdict, action = control.receive_command(self.state, command, self.clock())
        if verdict in (Verdict.EXPIRED, Verdict.STALE, Verdict.IMPLAUSIBLE):
            self.log.warning(
                f"command {verdict.value}, not applied",
                epoch=command.epoch,
                seq=command.seq,
                issued_at=command.issued_at.isoformat(),
                valid_until=command.valid_until.isoformat(),
                last_epoch=self.state.last_epoch,
                last_seq=self.state.last_seq,
            )
        if action is not None:
            self._queue(action)

    async def on_optimizer_status(self, message: BusMessage) -> None:
        if not message.payload:
            return
        try:
            status = ServiceStatus.model_validate_json(message.payload)
        except ValidationError as error:
            self.log.warning("malformed optimizer status ignored", error=str(error).splitlines()[0])
            return
        self.state, action = control.optimizer_status(
            self.state, status.state == "online", self.config.failsafe
        )
        if action is not None:
            self.log.warning("optimizer offline: entering failsafe", mode=self.config.failsafe.mode)
            self._queue(action)

    def _queue(self, action: Apply) -> None:
        self._queued.append(action)
        self._wake.set()

    # --- device I/O -------------------------------------------------------------------------------------

    async def _poll(self) -> ChargerReading | None:
        try:
            reading = await self.driver.read()
        except DeviceError as error:
            self.driver.close()
            self._dead_polls += 1
            message = f"charger not reachable: {error}"
            if message != self._device_error:
                self.log.warning("charger not reachable", error=str(error), address=self.driver.address)
            self._device_error = message
            return None
        if self._device_error is not None:
            self.log.info("charger reachable again", address=self.driver.address)
        self._device_error = None
        self._dead_polls = 0
        previous = self._reading.status if self._reading else None
        self._reading = reading
        if reading.status != previous:
            await self._status_changed(reading.status, previous)
        return reading

    async def _write(self, action: Apply, reading: ChargerReading | None) -> ChargerReading | None:
        """Perform one target, writing only what differs from ``reading`` (the charger's read-back state;
        None: unknown, write everything): current before enable; disabling writes only the enable state.
        Returns what the charger holds now, for the next action of the same round."""
        target = action.target
        caps = self.driver.capabilities
        if not target.enabled:
            if reading is None or reading.enabled:
                await self.driver.set_enabled(False)
            return None if reading is None else replace(reading, enabled=False)
        current = quantize(target.current_a, caps.current_step_a)
        if current < caps.min_current_a:
            raise DeviceError(f"{current:g} A is below the charger's minimum of {caps.min_current_a:g} A")
        # Enabled with no current read back (or 0 A) is not trusted: the enable is written again.
        held = reading.current_a if reading is not None else None
        enabled = reading is not None and reading.enabled and held is not None and held > 0
        phases = reading.phases if reading is not None else None
        if target.phases in (1, 3) and caps.phase_switching and phases != target.phases:
            # Never switch phases under load: stop charging first (the enable below restarts it).
            if reading is None or reading.enabled:
                await self.driver.set_enabled(False)
            enabled = False
            await self.driver.set_phases(target.phases)
            phases = target.phases
        if action.refresh or held is None or not _same_current(held, current, caps):
            await self.driver.set_current(current)
        if not enabled:
            await self.driver.set_enabled(True)
        if reading is None:
            return None
        return replace(reading, enabled=True, current_a=current, phases=phases)

    async def _apply(self, action: Apply, reading: ChargerReading | None) -> ChargerReading | None:
        """Write ``action`` with retries; returns what the charger holds afterwards (None: unknown)."""
        error: str | None = None
        if not self._in_control:
            reading = None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                reading = await self._write(action, reading)
                error = None
                break
            except DeviceError as failure:
                error = str(failure)
                self.driver.close()
                # A failed write may have changed part of the state: the retry writes everything.
                reading = None
                if attempt + 1 < WRITE_ATTEMPTS:
                    await asyncio.sleep(WRITE_RETRY_S * 2**attempt)
        now = self.clock()
        self._in_control = self._in_control or error is None
        self.state = control.applied(self.state, error is None, error, now)
        target = action.target
        if error is None:
            self.log.info(
                _applied_message(action),
                reason=action.reason.value,
                seq=target.seq,
                enabled=target.enabled,
                current_a=target.current_a,
                phases=target.phases,
                **({"detail": action.detail} if action.detail else {}),
            )
        else:
            self.log.warning("command not applied", reason=action.reason.value, seq=target.seq, error=error)
        if action.event or error is not None:
            event = CommandApplied(
                event_id=str(ULID()),
                loadpoint=self.loadpoint,
                charger=self.config.name,
                seq=target.seq,
                enabled=target.enabled,
                current_a=target.current_a,
                phases=target.phases,
                reason=action.reason,
                ok=error is None,
                error=error,
                timestamp=now,
            )
            await self.bus.publish_model(self.bus.topics.event(EVENT_COMMAND), event, retain=False, qos=1)
        return reading if error is None else None

    # --- publishing -------------------------------------------------------------------------------------

    async def _status_changed(self, status: ChargeStatus, previous: ChargeStatus | None) -> None:
        self.log.info("charger status changed", status=status.value, previous=previous and previous.value)
        event = ChargerStatusChanged(
            event_id=str(ULID()),
            loadpoint=self.loadpoint,
            charger=self.config.name,
            status=status,
            previous=previous,
            timestamp=self.clock(),
        )
        await self.bus.publish_model(self.bus.topics.event(EVENT_CHARGER_STATUS), event, retain=False, qos=1)

    async def _publish(self) -> None:
        status = build_status(
            loadpoint=self.loadpoint,
            charger=self.config.name,
            reading=self._reading,
            device_error=self._device_error,
            state=self.state,
            physical_phases=self.config.phases,
            voltage_v=self.voltage_v,
            now=self.clock(),
            phase_switching=self.driver.capabilities.phase_switching,
            current_step_a=self.driver.capabilities.current_step_a,
            min_current_a=self.driver.capabilities.min_current_a or None,
        )
        await self.bus.publish_model(self.bus.topics.charger_status(self.loadpoint), status, retain=True)
        with_error = not self._error_published or status.error != self._published_error
        state = loadpoint_state(status, with_error=with_error)
        await self.bus.publish_state(loadpoint_scope(self.loadpoint), state)
        self._published_error, self._error_published = status.error, True

    # --- the loop ---------------------------------------------------------------------------------------

    def _wait_s(self) -> float:
        return backoff_s(self.config.interval_s, self._dead_polls)

    def _follow_clock(self) -> None:
        """Carry our timers across a step of the wall clock (see :func:`control.clock_stepped`)."""
        if self._clock_ref is None:
            return
        mono, wall = self._clock_ref
        now_mono, now = time.monotonic(), self.clock()
        self._clock_ref = (now_mono, now)
        step = (now - wall) - timedelta(seconds=now_mono - mono)
        if abs(step.total_seconds()) >= CLOCK_STEP_S:
            self.log.warning("wall clock stepped; timers carried over", step_s=round(step.total_seconds(), 1))
            self.state = control.clock_stepped(self.state, step)

    async def cycle(self) -> None:
        """One round: poll → write queued commands → decide (failsafe, sync, heartbeat) → write → publish."""
        self._follow_clock()
        reading = await self._poll()
        while self._queued:
            queued, self._queued = self._queued, []
            for action in queued:
                reading = await self._apply(action, reading)
            # Decide on what the charger does after the writes, or a command would look like a sync;
            # a command arriving meanwhile is written first, for the same reason.
            reading = await self._poll()
        self.state, actions = control.tick(
            self.state, reading, self.driver.capabilities, self.config.failsafe, self.clock()
        )
        written = reading
        for action in actions:
            written = await self._apply(action, written)
        if actions:
            reading = await self._poll()
        await self._publish()

    async def run(self, stop: asyncio.Event) -> None:
        self.log.info("charger started", type=self.config.type, address=self.driver.address)
        try:
            while not stop.is_set():
                try:
                    await self.cycle()
                except Exception:  # a bug in one charger's round must not end the service
                    self.log.exception("charger cycle failed")
                await self._sleep(stop)
        finally:
            self.driver.close()

    async def _sleep(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        if self._queued:
            return
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(stop.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=self._wait_s(), return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(waits)


def _same_current(held_a: float, wanted_a: float, caps: Capabilities) -> bool:
    """Whether the charger already holds ``wanted_a`` (within its register's rounding)."""
    return abs(held_a - wanted_a) <= max(caps.current_step_a / 2, 0.01)


def _applied_message(action: Apply) -> str:
    if not action.event:
        return "heartbeat written"
    if action.reason is CommandReason.FAILSAFE:
        return "failsafe applied"
    return "sync written" if action.reason is CommandReason.SYNC else "command applied"
