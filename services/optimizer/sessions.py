"""Charging sessions (reference §6.2): created at the first charge start of a connection, updated at every
charge stop, finished at disconnect. Emits :class:`SessionEvent` with a stable ``session_uid``.

The tracker holds per-loadpoint session state between cycles; it has no I/O and takes ``now`` explicitly.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from pydantic import AwareDatetime, BaseModel

from services.optimizer.snapshot import Snapshot
from shared.config import Config
from shared.messages import ChargerStatus, SessionEvent
from shared.state import LoadpointState


class CycleFacts(Protocol):
    @property
    def green_share_loadpoints(self) -> float: ...

    @property
    def price_loadpoints(self) -> float | None: ...

    @property
    def co2_loadpoints(self) -> float | None: ...


class OpenSession(BaseModel):
    """One connection's session while it is open (persisted so a restart continues it)."""

    uid: str
    connected_at: AwareDatetime
    last_seen: AwareDatetime
    meter_start_kwh: float | None
    last_meter_kwh: float | None
    identifier: str | None
    vehicle: str | None
    created: AwareDatetime | None = None
    charged_kwh: float = 0.0
    solar_kwh: float = 0.0
    price: float = 0.0
    priced_kwh: float = 0.0
    co2_g: float = 0.0
    co2_kwh: float = 0.0
    charge_duration_s: float = 0.0
    charging_since: AwareDatetime | None = None
    soc_start: float | None = None
    soc_end: float | None = None
    finished: AwareDatetime | None = None

    def duration_s(self, now: datetime) -> float:
        running = (now - self.charging_since).total_seconds() if self.charging_since else 0.0
        return self.charge_duration_s + max(0.0, running)


class OpenSessions(BaseModel):
    """The persisted form of the tracker: open sessions per loadpoint id."""

    open: dict[int, OpenSession] = {}


class SessionTracker:
    def __init__(self, config: Config) -> None:
        self.titles = {i: lp.title for i, lp in enumerate(config.loadpoints, start=1)}
        self.open: dict[int, OpenSession] = {}
        self.last: dict[int, OpenSession] = {}

    def export(self) -> OpenSessions:
        return OpenSessions(open={lp: s.model_copy() for lp, s in self.open.items()})

    def restore(self, saved: OpenSessions, now: datetime) -> None:
        """Continue sessions that were open when the optimizer stopped.

        A charge segment that was running is closed at the last time it was seen (what happened while we
        were away is not known); energy continues from the charge meter total, never integrated over the gap.
        """
        for lp, session in saved.open.items():
            if lp not in self.titles:
                continue
            restored = session.model_copy()
            if restored.charging_since is not None:
                restored.charge_duration_s += max(
                    0.0, (restored.last_seen - restored.charging_since).total_seconds()
                )
                restored.charging_since = None
            restored.last_seen = now
            self.open[lp] = restored
            self.last[lp] = restored

    def session_energy_kwh(self, lp: int) -> float:
        session = self.open.get(lp)
        return session.charged_kwh if session else 0.0

    def update(
        self,
        snapshot: Snapshot,
        facts: CycleFacts,
        now: datetime,
        vehicles: dict[int, str | None] | None = None,
    ) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        for lp, status in snapshot.chargers.items():
            events.extend(self._update_one(lp, status, facts, now, (vehicles or {}).get(lp)))
        return events

    def _update_one(
        self, lp: int, status: ChargerStatus, facts: CycleFacts, now: datetime, vehicle: str | None
    ) -> list[SessionEvent]:
        session = self.open.get(lp)
        events: list[SessionEvent] = []
        if session is None:
            if not status.connected:
                return events
            session = OpenSession(
                uid=uuid.uuid4().hex,
                connected_at=now,
                last_seen=now,
                meter_start_kwh=status.energy_kwh,
                last_meter_kwh=status.energy_kwh,
                identifier=status.identifier,
                vehicle=vehicle,
            )
            self.open[lp] = session
            self.last[lp] = session
        self._add_energy(session, status, facts, now)
        if vehicle:
            session.vehicle = vehicle
        if status.vehicle_soc_pct is not None:
            session.soc_end = status.vehicle_soc_pct
        if status.charging and session.charging_since is None:
            session.charging_since = now
            if session.created is None:
                session.created = now
                session.soc_start = status.vehicle_soc_pct
                events.append(self._event(lp, session, "created"))
        elif not status.charging and session.charging_since is not None:
            session.charge_duration_s += (now - session.charging_since).total_seconds()
            session.charging_since = None
            session.finished = now
            events.append(self._event(lp, session, "updated"))
        if not status.connected:
            if session.created is not None:
                session.finished = session.finished or now
                events.append(self._event(lp, session, "finished"))
            del self.open[lp]
        return events

    def _add_energy(
        self, session: OpenSession, status: ChargerStatus, facts: CycleFacts, now: datetime
    ) -> None:
        added = 0.0
        if status.energy_kwh is not None and session.last_meter_kwh is not None:
            added = max(0.0, status.energy_kwh - session.last_meter_kwh)
            session.last_meter_kwh = status.energy_kwh
        elif status.energy_kwh is not None:
            session.last_meter_kwh = status.energy_kwh
            session.meter_start_kwh = session.meter_start_kwh or status.energy_kwh
        else:
            # No charge meter total: integrate the (possibly estimated) power since the last cycle.
            hours = max(0.0, (now - session.last_seen).total_seconds()) / 3600
            added = max(0.0, status.power_w) * hours / 1000 if status.charging else 0.0
        session.last_seen = now
        if added <= 0:
            return
        session.charged_kwh += added
        session.solar_kwh += added * facts.green_share_loadpoints
        if facts.price_loadpoints is not None:
            session.price += added * facts.price_loadpoints
            session.priced_kwh += added
        if facts.co2_loadpoints is not None:
            session.co2_g += added * facts.co2_loadpoints
            session.co2_kwh += added

    def _event(self, lp: int, session: OpenSession, kind: str) -> SessionEvent:
        assert session.created is not None
        charged = session.charged_kwh
        return SessionEvent(
            event_id=uuid.uuid4().hex,
            kind=kind,
            session_uid=session.uid,
            loadpoint=self.titles.get(lp, f"lp-{lp}"),
            loadpoint_id=lp,
            identifier=session.identifier,
            vehicle=session.vehicle,
            created=session.created,
            finished=session.finished,
            meter_start_kwh=session.meter_start_kwh,
            meter_end_kwh=session.last_meter_kwh,
            charged_kwh=round(charged, 6),
            charge_duration_s=round(session.charge_duration_s, 3),
            soc_start_pct=session.soc_start,
            soc_end_pct=session.soc_end,
            solar_percentage=round(session.solar_kwh / charged * 100, 3) if charged > 0 else None,
            price=round(session.price, 6) if session.priced_kwh > 0 else None,
            price_per_kwh=round(session.price / session.priced_kwh, 6) if session.priced_kwh > 0 else None,
            co2_per_kwh=round(session.co2_g / session.co2_kwh, 3) if session.co2_kwh > 0 else None,
        )

    def state(self, lp: int, now: datetime) -> LoadpointState:
        """The loadpoint's session keys (Wh, s, %, currency) for the current or last session."""
        session = self.open.get(lp) or self.last.get(lp)
        if session is None:
            return LoadpointState(sessionEnergy=0.0, chargedEnergy=0.0, chargeDuration=0, connectedDuration=0)
        connected = lp in self.open
        charged_wh = session.charged_kwh * 1000
        return LoadpointState(
            sessionEnergy=charged_wh,
            chargedEnergy=charged_wh,
            chargeDuration=int(session.duration_s(now)),
            connectedDuration=int((now - session.connected_at).total_seconds()) if connected else 0,
            sessionSolarPercentage=session.solar_kwh / session.charged_kwh * 100
            if session.charged_kwh > 0
            else 0.0,
            sessionPrice=session.price if session.priced_kwh > 0 else None,
            sessionPricePerKWh=session.price / session.priced_kwh if session.priced_kwh > 0 else None,
            sessionCo2PerKWh=session.co2_g / session.co2_kwh if session.co2_kwh > 0 else None,
        )
