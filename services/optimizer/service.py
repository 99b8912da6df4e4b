"""The optimizer's event-driven shell: bus in, snapshot, pure core, bus out.

It keeps the latest meter readings, charger statuses and tariffs, runs a control cycle on every input
change and on a timer tick, publishes a :class:`ChargerCommand` per loadpoint (re-sent every tick so the
actuator's failsafe never trips while we are alive), publishes the evcc keys it owns, handles every
writable key through the one setter table (MQTT ``/set`` and request/reply alike), persists settings and
emits session events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.optimizer import queries
from services.optimizer.commands import Outgoing
from services.optimizer.cycle import CycleInputs, CycleMemory, CycleResult, run_cycle
from services.optimizer.facts import loadpoint_facts
from services.optimizer.sessions import OpenSessions, SessionTracker
from services.optimizer.setters import SetterContext, apply_setter
from services.optimizer.settings import Settings, default_settings, merge_persisted, recover_settings
from services.optimizer.snapshot import Snapshot
from services.optimizer.state_view import site_static_state, vehicle_state
from services.optimizer.store import JsonStore, M, StoreError, settings_store, sibling
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.encoding import encode_mqtt
from shared.logging import get_logger
from shared.messages import (
    ChargerCommand,
    ChargerStatus,
    MeterReading,
    RateSeries,
    Reply,
    Request,
    Signal,
    VehicleReading,
    utcnow,
)
from shared.setters.table import set_topics
from shared.setters.values import MAX_PAYLOAD_BYTES, Invalid, shown
from shared.state import VehicleState
from shared.topics import EVENT_SESSION
from shared.tree import SITE, loadpoint_scope, vehicle_scope

Clock = Callable[[], datetime]
SERVICE = "optimizer"
DIMMING_WORDS = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}
"""Payloads of a §14a signal topic (a relay's state as Shelly, Tasmota or a Node-RED flow publish it)."""


class Optimizer:
    """The shell's state: the snapshot, settings, timers and command sequence numbers."""

    def __init__(self, config: Config, bus: Bus, clock: Clock = utcnow) -> None:
        self.config = config
        self.bus = bus
        self.clock = clock
        self.log = get_logger(SERVICE)
        self.store = settings_store(config.optimizer.state_file)
        self.defaults = default_settings(config)
        self.problems: list[str] = []
        """Stored settings refused at start (each replaced by its default)."""
        self.settings: Settings = self._load_settings()
        self.published_vehicles: dict[str, VehicleState] = {}
        self.snapshot = Snapshot()
        self.memory = CycleMemory()
        # This instance's commands are (epoch, seq): the epoch (our start, unix ms) tells the actuator a
        # restarted optimizer from a replay, so seq can count from 0 (control.py in the actuator).
        self.epoch = int(clock().timestamp() * 1000)
        self.seq = 0
        self.sessions = SessionTracker(config)
        self.session_store = JsonStore(sibling(config.optimizer.state_file, "sessions"), OpenSessions)
        saved_sessions = self._load(self.session_store)
        if saved_sessions is not None:
            self.sessions.restore(saved_sessions, clock())
        self.saved_sessions: OpenSessions | None = saved_sessions
        self.lock = asyncio.Lock()
        self.last_updated = 0.0
        self.started_up = False

    def _load(self, store: JsonStore[M]) -> M | None:
        try:
            return store.load()
        except StoreError as error:
            self._set_aside(store.path, str(error))
            return None

    def _set_aside(self, path: Path, error: str) -> None:
        # Keep the unreadable file for inspection instead of overwriting it with defaults.
        aside = path.with_suffix(path.suffix + ".unreadable")
        self.log.error("stored state unreadable, starting from defaults", error=error, kept=str(aside))
        with contextlib.suppress(OSError):
            path.replace(aside)

    def _load_settings(self) -> Settings:
        """The stored settings over the configured defaults; a stored value the setters would refuse is
        replaced by its default (logged, kept in :attr:`problems`) and the rest is used."""
        path = self.store.path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return self.defaults
        except OSError as error:
            self.log.error("stored settings unreadable, starting from defaults", error=str(error))
            return self.defaults
        try:
            stored, self.problems = recover_settings(raw, self.defaults)
        except ValueError as error:
            self._set_aside(path, f"{path}: {error}")
            return self.defaults
        for problem in self.problems:
            self.log.error("stored setting refused", path=str(path), problem=problem)
        return merge_persisted(self.defaults, stored)

    def _vehicle_title(self, name: str | None) -> str | None:
        vehicle = self.settings.vehicles.get(name) if name else None
        return vehicle.title if vehicle else None

    # --- inputs ---------------------------------------------------------------------------------------

    async def on_meter(self, message: BusMessage) -> None:
        if not message.payload:
            return
        reading = MeterReading.model_validate_json(message.payload)
        self.snapshot = self.snapshot.with_meter(reading)
        await self.cycle(tick=False)

    async def on_vehicle(self, message: BusMessage) -> None:
        if not message.payload:
            return
        reading = VehicleReading.model_validate_json(message.payload)
        if reading.vehicle not in self.settings.vehicles:
            return
        async with self.lock:
            self.snapshot = self.snapshot.with_vehicle(reading)
        await self.cycle(tick=False)

    async def on_signal(self, message: BusMessage) -> None:
        """An external control input from another service (the meter-reader's §14a relay input)."""
        if not message.payload:
            return
        self.snapshot = self.snapshot.with_signal(Signal.model_validate_json(message.payload))
        await self.cycle(tick=False)

    async def on_dimming_topic(self, message: BusMessage) -> None:
        """The §14a signal on a device's own MQTT topic (``dimming.topic``): on/off words or 1/0."""
        active = DIMMING_WORDS.get(message.text.strip().strip('"').lower()[:16])
        if active is None:
            self.log.warning("dimming signal not understood, ignored", topic=message.topic,
                             value=shown(message.payload[:40]))  # fmt: skip
            return
        signal = Signal(name="dimming-topic", active=active, timestamp=self.clock())
        if self.snapshot.signals.get(signal.name, signal).active != active:
            self.log.info("§14a dimming signal", active=active, topic=message.topic)
        self.snapshot = self.snapshot.with_signal(signal)
        await self.cycle(tick=False)

    async def on_charger(self, message: BusMessage) -> None:
        if not message.payload:
            return
        status = ChargerStatus.model_validate_json(message.payload)
        if status.loadpoint not in self.settings.loadpoints:
            self.log.warning("status of unknown loadpoint ignored", loadpoint=status.loadpoint)
            return
        async with self.lock:
            self.snapshot = self.snapshot.with_charger(status)
        await self.cycle(tick=False)

    async def on_tariff(self, message: BusMessage) -> None:
        if not message.payload:
            return
        series = RateSeries.model_validate_json(message.payload)
        self.snapshot = self.snapshot.with_tariff(series)
        await self.cycle(tick=False)

    # --- settings -------------------------------------------------------------------------------------

    def _save(self, settings: Settings) -> None:
        if settings == self.settings:
            return
        self.settings = settings
        try:
            self.store.save(settings)
        except OSError as error:
            self.log.error("settings not persisted", path=str(self.store.path), error=str(error))
            self.bus.report_problem("settings", f"settings not persisted: {error}")
        else:
            self.bus.report_problem("settings", None)

    def save_sessions(self) -> None:
        """Persist open sessions (on every session event and tick) so a restart continues them."""
        current = self.sessions.export()
        if current == self.saved_sessions:
            return
        try:
            self.session_store.save(current)
            self.saved_sessions = current
        except OSError as error:
            self.log.error("open sessions not persisted", path=str(self.session_store.path), error=str(error))
            self.bus.report_problem("sessions", f"open sessions not persisted: {error}")
        else:
            self.bus.report_problem("sessions", None)

    def setter_context(self) -> SetterContext:
        return SetterContext(
            now=self.clock(),
            battery_configured=bool(self.config.site.battery)
            or any(m.usage.value == "battery" for m in self.snapshot.meters.values()),
            loadpoints={
                lp: loadpoint_facts(self.config, lp, self.snapshot.chargers.get(lp))
                for lp in self.settings.loadpoints
            },
            session_energy_kwh={lp: self.sessions.session_energy_kwh(lp) for lp in self.settings.loadpoints},
        )

    async def on_set(self, message: BusMessage) -> None:
        if not message.payload:
            return  # evcc ignores empty payloads (also our own clearing of the retained /set)
        path = self.bus.tree.setter_path(message.topic)
        if path is None:
            return
        try:
            if len(message.payload) > MAX_PAYLOAD_BYTES:
                raise Invalid(
                    f"payload too large ({len(message.payload)} bytes; at most {MAX_PAYLOAD_BYTES})"
                )
            try:
                text = message.payload.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("payload is not UTF-8 text") from None
            await self.change(path, text, mqtt=True)
        except Invalid as error:
            self.log.warning(
                "setting rejected", key=path, value=shown(message.payload[:100]), reason=str(error)
            )
        finally:
            await self.bus.clear(message.topic)

    async def change(self, path: str, value: Any, *, mqtt: bool) -> Any:
        """Apply one setter, persist, re-run the cycle; returns the confirmed value."""
        async with self.lock:
            outcome = apply_setter(self.settings, self.setter_context(), path, value, mqtt=mqtt)
            self._save(outcome.settings)
        self.log.info("setting changed", key=outcome.key, value=outcome.value)
        await self.cycle(tick=False)
        return outcome.value

    async def on_request(self, request: Request) -> Reply:
        try:
            query = queries.find_query(request.key)
            if query is not None:
                async with self.lock:
                    value = query(self.query_view(), request.key, request.value)
            else:
                value = await self.change(request.key, request.value, mqtt=False)
        except Invalid as error:
            self.log.info("request rejected", key=request.key, reason=str(error), code=error.code)
            return Reply(id=request.id, ok=False, error=str(error), code=error.code)
        return Reply(id=request.id, ok=True, value=value)

    def query_view(self) -> queries.QueryView:
        return queries.QueryView(
            config=self.config,
            settings=self.settings,
            snapshot=self.snapshot,
            now=self.clock(),
            session_energy_wh={
                lp: self.sessions.session_energy_kwh(lp) * 1000 for lp in self.settings.loadpoints
            },
            plan_active={lp: m.plan_active for lp, m in self.memory.loadpoints.items()},
        )

    # --- the cycle ------------------------------------------------------------------------------------

    async def cycle(self, *, tick: bool) -> None:
        async with self.lock:
            now = self.clock()
            inputs = CycleInputs(
                config=self.config,
                settings=self.settings,
                defaults=self.defaults,
                snapshot=self.snapshot,
                now=now,
                session_energy_wh={
                    lp: self.sessions.session_energy_kwh(lp) * 1000 for lp in self.settings.loadpoints
                },
                refresh=tick,
            )
            result = run_cycle(inputs, self.memory)
            self.memory = result.memory
            if result.settings_after is not None:
                self._save(result.settings_after)
            for change in result.events:
                self.log.info(
                    f"vehicle {change.transition.value}", loadpoint=change.loadpoint, vehicle=change.vehicle
                )
            for lp, outgoing in result.commands.items():
                await self._command(lp, outgoing, now)
            vehicles = {lp: self._vehicle_title(v.vehicle) for lp, v in self.settings.loadpoints.items()}
            events = self.sessions.update(self.snapshot, result, now, vehicles)
        for event in events:
            await self.bus.publish_model(self.bus.topics.event(EVENT_SESSION), event, retain=False, qos=1)
        if events or tick:
            self.save_sessions()
        await self._publish_state(result, now)

    async def _command(self, lp: int, outgoing: Outgoing, now: datetime) -> None:
        self.seq += 1
        sent = outgoing.command
        command = ChargerCommand(
            epoch=self.epoch,
            seq=self.seq,
            enabled=sent.enabled,
            current_a=round(sent.current_a, 3),
            phases=sent.phases,
            reason=sent.reason,
            issued_at=now,
            valid_until=now + timedelta(seconds=self.config.optimizer.command_validity_s),
            ceiling_a=sent.ceiling_a,
        )
        await self.bus.publish_model(self.bus.topics.charger_command(lp), command, retain=False, qos=1)
        if outgoing.changed:
            self.log.info(
                "charger command",
                loadpoint=lp,
                enabled=sent.enabled,
                current_a=command.current_a,
                phases=sent.phases,
                reason=sent.reason.value,
                case=sent.case,
            )

    async def _publish_vehicles(self) -> int:
        """Vehicle trees, the vehicle count, and erasing the tree of a vehicle deleted at run time."""
        tree = self.bus.tree
        changed = 0
        for name, old in list(self.published_vehicles.items()):
            if name not in self.settings.vehicles:
                for topic, _ in encode_mqtt(tree.vehicle(name), old):
                    await self.bus.clear(topic)
                del self.published_vehicles[name]
                changed += 1
        for name, vehicle in self.settings.vehicles.items():
            state = vehicle_state(vehicle)
            self.published_vehicles[name] = state
            changed += await self.bus.publish_state(vehicle_scope(name), state)
        changed += self.bus.publish_nowait(tree.vehicle_count, str(len(self.settings.vehicles)))
        return changed

    async def _publish_state(self, result: CycleResult, now: datetime) -> None:
        changed = await self.bus.publish_state(SITE, result.site_state)
        for lp, state in result.loadpoint_states.items():
            changed += await self.bus.publish_state(loadpoint_scope(lp), state)
            changed += await self.bus.publish_state(loadpoint_scope(lp), self.sessions.state(lp, now))
        changed += await self._publish_vehicles()
        if not self.started_up:
            self.started_up = True
            changed += await self.bus.publish_state(
                SITE, site_static_state(self.config, startup_completed=True, now=now)
            )
        # `updated` is the control loop's heartbeat (gateway health, the meter-reader's battery watchdog and
        # evcc clients watch it): on change, and at least once per tick when nothing changed.
        since = time.monotonic() - self.last_updated
        if since >= 1.0 and (changed or since >= self.config.optimizer.interval_s):
            self.last_updated = time.monotonic()
            await self.bus.publish(self.bus.tree.updated, str(int(now.timestamp())))

    async def publish_static(self) -> None:
        tree = self.bus.tree
        await self.bus.publish(tree.loadpoint_count, str(len(self.config.loadpoints)))
        await self.bus.publish(tree.vehicle_count, str(len(self.settings.vehicles)))
        await self.bus.publish_state(
            SITE, site_static_state(self.config, startup_completed=False, now=self.clock())
        )


def _handler(log: Any, fn: Callable[[BusMessage], Any]) -> Callable[[BusMessage], Any]:
    async def handle(message: BusMessage) -> None:
        try:
            await fn(message)
        except ValidationError as error:
            log.warning("bad payload ignored", topic=message.topic, error=str(error).splitlines()[0])

    return handle


async def run(config: Config, stop: asyncio.Event) -> None:
    """Run the optimizer until ``stop`` is set."""
    log = get_logger(SERVICE)
    bus = Bus(config.mqtt, SERVICE, root_presence=True)
    optimizer = Optimizer(config, bus)
    # Every handler before the bus starts: <root>/status says online once all of them are subscribed.
    topics = bus.topics
    bus.on(topics.all_meters, _handler(log, optimizer.on_meter))
    bus.on(topics.all_charger_status, _handler(log, optimizer.on_charger))
    bus.on(topics.all_tariffs, _handler(log, optimizer.on_tariff))
    bus.on(topics.all_vehicles, _handler(log, optimizer.on_vehicle))
    bus.on(topics.all_signals, _handler(log, optimizer.on_signal))
    if config.dimming.topic:
        bus.on(config.dimming.topic, optimizer.on_dimming_topic)
    for pattern in set_topics(bus.tree, SERVICE):
        bus.on(pattern, optimizer.on_set)
    bus.serve_requests(optimizer.on_request)
    async with bus:
        await optimizer.publish_static()
        log.info("optimizer running", loadpoints=len(config.loadpoints), vehicles=len(config.vehicles))
        while not stop.is_set():
            try:
                await optimizer.cycle(tick=True)
            except Exception as error:  # a bug in one cycle must not stop the commands of the next
                log.exception("control cycle failed")
                bus.report_problem("cycle", f"control cycle failed: {type(error).__name__}: {error}")
            else:
                bus.report_problem("cycle", None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), config.optimizer.interval_s)
        optimizer.save_sessions()
