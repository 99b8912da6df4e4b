"""Prometheus ``/metrics`` on the gateway: site, loadpoint and session figures and the services' health.

The gateway sees the whole bus, so every figure comes from there and no other service needs an endpoint:

- site and loadpoint gauges are read at scrape time from the state store (nothing is computed per MQTT
  message), sessions from the database;
- each service's health from its retained status (``chargebus/services/<s>/status``: online, start time,
  how often its bus connected — every reconnect republishes it);
- device errors and stale readings are counted from the meter readings and charger statuses as they pass;
- command latency is the time from a ``ChargerCommand`` being issued (optimizer) to the actuator's
  ``CommandApplied`` event for the same sequence number.

Names follow Prometheus' conventions: ``chargebus_`` prefix, base units in the name (``_watts``,
``_joules``, ``_seconds``, ``_amperes``, ``_ratio``), ``_total`` for counters, enums as a label with 1/0.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.gateway.state_store import StateStore
from shared.bus import Bus, BusMessage
from shared.db import ChargingSession
from shared.logging import get_logger
from shared.messages import ChargerCommand, ChargerStatus, CommandApplied, MeterReading
from shared.state import ChargeMode

KWH_J = 3.6e6
"""Joules per kWh (Prometheus' base unit for energy is the joule)."""
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ISSUED_KEPT = 256
"""Issued commands remembered for matching their application (a few minutes of commands)."""


class GatewayMetrics:
    """The gateway's registry (one per app, not Prometheus' global one) and what feeds it."""

    def __init__(self, store: StateStore, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.store = store
        self.command_latency = Histogram(
            "chargebus_command_latency_seconds",
            "Time from the optimizer issuing a charger command to the actuator applying it.",
            ["loadpoint"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.commands = Counter(
            "chargebus_commands",
            "Charger commands the actuator applied, by outcome.",
            ["loadpoint", "result"],
            registry=self.registry,
        )
        self.device_errors = Counter(
            "chargebus_device_errors",
            "Times a meter or charger went from healthy into an error.",
            ["device", "kind"],
            registry=self.registry,
        )
        self.stale_readings = Counter(
            "chargebus_stale_readings",
            "Meter readings published stale (the meter did not answer).",
            ["meter"],
            registry=self.registry,
        )
        self.readings: dict[str, MeterReading] = {}
        self._errors: dict[tuple[str, str], bool] = {}
        self._issued: OrderedDict[tuple[int, int], datetime] = OrderedDict()
        self.registry.register(StateCollector(self, engine))
        self.log = get_logger("gateway", component="metrics")

    def attach(self, bus: Bus) -> None:
        """Subscribe what the counters count (before the bus starts)."""
        topics = bus.topics
        bus.on(topics.all_meters, self._on_meter, qos=0)
        bus.on(topics.all_charger_status, self._on_charger, qos=0)
        bus.on(topics.all_charger_commands, self._on_command, qos=0)
        # the events are the gateway's persistent QoS 1 subscription: the same filter at the same QoS
        bus.on(topics.all_events, self._on_event, qos=1)

    def _error(self, device: str, kind: str, failing: bool) -> None:
        was = self._errors.get((device, kind), False)
        if failing and not was:
            self.device_errors.labels(device=device, kind=kind).inc()
        self._errors[(device, kind)] = failing

    async def _on_meter(self, message: BusMessage) -> None:
        if not message.payload:
            return
        reading = MeterReading.model_validate_json(message.payload)
        self.readings[reading.meter] = reading
        if reading.stale:
            self.stale_readings.labels(meter=reading.meter).inc()
        self._error(reading.meter, "meter", bool(reading.error) or reading.stale)

    async def _on_charger(self, message: BusMessage) -> None:
        if message.payload:
            status = ChargerStatus.model_validate_json(message.payload)
            self._error(status.charger, "charger", bool(status.error))

    async def _on_command(self, message: BusMessage) -> None:
        if not message.payload:
            return
        lp = message.topic.rsplit("/", 2)[-2]
        command = ChargerCommand.model_validate_json(message.payload)
        if lp.isdigit():
            self._issued[(int(lp), command.seq)] = command.issued_at
            while len(self._issued) > ISSUED_KEPT:
                self._issued.popitem(last=False)

    async def _on_event(self, message: BusMessage) -> None:
        if not message.topic.endswith("/command") or not message.payload:
            return
        try:
            applied = CommandApplied.model_validate_json(message.payload)
        except ValidationError:
            return  # the event writer logs what it cannot store
        lp = str(applied.loadpoint)
        self.commands.labels(loadpoint=lp, result="ok" if applied.ok else "error").inc()
        issued = self._issued.pop((applied.loadpoint, applied.seq), None) if applied.seq is not None else None
        if issued is not None and applied.timestamp >= issued:
            self.command_latency.labels(loadpoint=lp).observe((applied.timestamp - issued).total_seconds())

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape body and its content type, as the scraper asks (Prometheus 2/3 text, OpenMetrics)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels or [])


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value) if isinstance(value, (int, float)) else None


class StateCollector(Collector):
    """Gauges read from the state store, the services' statuses and the sessions table at scrape time."""

    def __init__(self, metrics: GatewayMetrics, engine: Engine) -> None:
        self.metrics = metrics
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from self._site()
        yield from self._loadpoints()
        yield from self._services()
        yield from self._meters()
        yield from self._sessions()

    def _site(self) -> Iterator[Metric]:
        site = self.metrics.store.site()
        power = _gauge(
            "chargebus_site_power_watts",
            "Site power flows (grid > 0 import, battery > 0 discharging).",
            ["flow"],
        )
        flows = {
            "grid": site.grid.power if site.grid else None,
            "pv": site.pvPower,
            "home": site.homePower,
            "battery": site.battery.power if site.battery else None,
            "aux": site.auxPower,
        }
        for flow, value in flows.items():
            if (number := _number(value)) is not None:
                power.add_metric([flow], number)
        yield power
        energy = CounterMetricFamily(
            "chargebus_site_energy_joules",
            "Meter totals of the site (grid import/export, PV yield).",
            labels=["meter"],
        )
        totals = {
            "grid_import": site.grid.energy if site.grid else None,
            "grid_export": site.grid.returnEnergy if site.grid else None,
            "pv": site.pvEnergy,
        }
        for meter, kwh in totals.items():
            if (number := _number(kwh)) is not None:
                energy.add_metric([meter], number * KWH_J)
        yield energy
        soc = _gauge("chargebus_site_battery_soc_ratio", "Home battery state of charge (0..1).")
        if site.battery is not None and (value := _number(site.battery.soc)) is not None:
            soc.add_metric([], value / 100)
        yield soc
        share = _gauge(
            "chargebus_site_green_share_ratio", "Share of self-produced energy (0..1).", ["consumer"]
        )
        for consumer, value in (("home", site.greenShareHome), ("loadpoints", site.greenShareLoadpoints)):
            if (number := _number(value)) is not None:
                share.add_metric([consumer], number)
        yield share
        currency = site.currency or ""
        price = _gauge(
            "chargebus_tariff_price_per_kwh", "Current tariff, currency per kWh.", ["usage", "currency"]
        )
        for usage, value in (("grid", site.tariffGrid), ("feedin", site.tariffFeedIn)):
            if (number := _number(value)) is not None:
                price.add_metric([usage, currency], number)
        yield price
        co2 = _gauge("chargebus_tariff_co2_grams_per_kwh", "Current CO₂ intensity of grid energy, g/kWh.")
        if (number := _number(site.tariffCo2)) is not None:
            co2.add_metric([], number)
        yield co2

    def _loadpoints(self) -> Iterator[Metric]:
        labels = ["loadpoint", "title"]
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "chargePower": _gauge("chargebus_loadpoint_charge_power_watts", "Charge power.", labels),
            "offeredCurrent": _gauge(
                "chargebus_loadpoint_offered_current_amperes", "Current offered to the vehicle.", labels
            ),
            "phasesActive": _gauge("chargebus_loadpoint_phases_active", "Phases in use.", labels),
            "connected": _gauge("chargebus_loadpoint_connected", "1 while a vehicle is connected.", labels),
            "charging": _gauge("chargebus_loadpoint_charging", "1 while charging.", labels),
            "enabled": _gauge("chargebus_loadpoint_enabled", "1 while the charger is enabled.", labels),
            "sessionEnergy": _gauge(
                "chargebus_loadpoint_session_energy_joules", "Energy of the current session.", labels
            ),
            "chargeTotalImport": CounterMetricFamily(
                "chargebus_loadpoint_meter_energy_joules", "Charge meter total.", labels=labels
            ),
            "vehicleSoc": _gauge(
                "chargebus_loadpoint_vehicle_soc_ratio", "Vehicle state of charge (0..1).", labels
            ),
        }
        scale = {"sessionEnergy": 3600.0, "chargeTotalImport": KWH_J, "vehicleSoc": 0.01}
        mode = _gauge("chargebus_loadpoint_mode", "1 for the loadpoint's charge mode.", [*labels, "mode"])
        for lp_id in self.metrics.store.loadpoint_ids():
            state = self.metrics.store.loadpoint(lp_id)
            if state is None:
                continue
            values = [str(lp_id), state.title or ""]
            for key, family in families.items():
                if (number := _number(getattr(state, key))) is not None:
                    family.add_metric(values, number * scale.get(key, 1.0))
            if state.mode is not None:
                for option in ChargeMode:
                    mode.add_metric([*values, option.value], 1.0 if state.mode == option else 0.0)
        yield from families.values()
        yield mode

    def _services(self) -> Iterator[Metric]:
        up = _gauge("chargebus_service_up", "1 while the service says it is online.", ["service", "version"])
        started = _gauge(
            "chargebus_service_start_time_seconds", "Unix time the service started.", ["service"]
        )
        reconnects = _gauge(
            "chargebus_service_bus_reconnects",
            "Broker reconnects of the service since it started.",
            ["service"],
        )
        for name, status in sorted(self.metrics.store.services.items()):
            up.add_metric([name, status.version], 1.0 if status.state == "online" else 0.0)
            if status.started is not None:
                started.add_metric([name], status.started.timestamp())
            reconnects.add_metric([name], max(0, status.connects - 1))
        yield up
        yield started
        yield reconnects
        updated = self.metrics.store.updated()
        age = _gauge("chargebus_state_age_seconds", "Seconds since the control loop last updated the state.")
        if updated is not None:
            age.add_metric([], max(0.0, time.time() - updated.timestamp()))
        yield age

    def _meters(self) -> Iterator[Metric]:
        age = _gauge(
            "chargebus_meter_reading_age_seconds", "Seconds since the meter's last reading.", ["meter"]
        )
        stale = _gauge("chargebus_meter_stale", "1 while the meter's readings are stale.", ["meter"])
        now = datetime.now(UTC)
        for name, reading in sorted(self.metrics.readings.items()):
            age.add_metric([name], max(0.0, (now - reading.timestamp).total_seconds()))
            stale.add_metric([name], 1.0 if reading.stale else 0.0)
        yield age
        yield stale

    def _sessions(self) -> Iterator[Metric]:
        count = _gauge(
            "chargebus_sessions_finished", "Finished charging sessions in the database.", ["loadpoint"]
        )
        energy = _gauge("chargebus_sessions_energy_joules", "Energy of the finished sessions.", ["loadpoint"])
        try:
            with Session(self.engine) as session:
                rows = session.exec(
                    select(
                        ChargingSession.loadpoint,
                        func.count(col(ChargingSession.id)),
                        func.sum(ChargingSession.charged_kwh),
                    )
                    .where(col(ChargingSession.finished).is_not(None))
                    .group_by(col(ChargingSession.loadpoint))
                ).all()
        except Exception as error:  # a database hiccup must not fail the whole scrape
            self.metrics.log.warning("session metrics unavailable", error=str(error))
            rows = []
        for title, n, kwh in rows:
            count.add_metric([title], float(n))
            energy.add_metric([title], float(kwh or 0.0) * KWH_J)
        yield count
        yield energy


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition (404 when the gateway runs without metrics)."""
    integrations = request.app.state.ctx.integrations
    if integrations is None or integrations.metrics is None:
        return Response(status_code=404)
    body, content_type = integrations.metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})
