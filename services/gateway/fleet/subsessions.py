"""Charging sessions and sub-sessions derived from the gateway's ``sessions`` table, and boosts.

The gateway writes one ``sessions`` row per plug-in episode (the row ``/api/sessions`` serves). Syncing
gives each row a ``cses`` ID and a first SMART sub-session, ends the open sub-session when the row is
finished, and queues the ``charging_sub_session.created``/``.ended`` webhooks in the same transaction.
A boost ends the SMART sub-session and opens a BOOST one (and back), after the optimizer confirmed the
mode change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetChargingSession, FleetEvse, FleetSubSession, FleetVehicle, utc
from services.gateway.fleet.problems import conflict
from services.gateway.fleet.records import loadpoint_of, site_owner
from services.gateway.fleet.webhooks import enqueue
from shared.config import Config
from shared.db import ChargerStatusLog, ChargingSession, from_db_time

SubSessionJson = Callable[[Session, FleetSubSession, str], dict[str, Any]]
"""Renders a sub-session exactly as ``GET /v2/charging_sub_sessions/{id}``, links below the given root."""


@dataclass(frozen=True)
class SubSessionEvents:
    """Queues the ``charging_sub_session.*`` webhooks of a change, in the caller's transaction."""

    render: SubSessionJson
    public_url: str | None

    def queue(self, db: Session, kind: str, sub: FleetSubSession, user_id: str, now: datetime) -> int:
        db.flush()
        return enqueue(
            db,
            f"charging_sub_session.{kind}",
            lambda root: self.render(db, sub, root),
            user_id,
            now,
            self.public_url,
        )


SMART = "SMART"
BOOST = "BOOST"


def finished_at(row: ChargingSession) -> datetime | None:
    """The last charge stop; evcc writes year 1 for "none yet", the gateway may write NULL."""
    finished = from_db_time(row.finished)
    return finished if finished is not None and finished.year > 1 else None


def episode_over(db: Session, row: ChargingSession) -> bool:
    """Whether the plug-in episode of ``row`` has ended.

    ``finished`` alone does not say so: like evcc it is updated at every charge stop while the car is still
    plugged in. The episode is over once the charger reported a disconnect (status A) after the session
    began, or a newer session started on the same loadpoint."""
    if finished_at(row) is None:
        return False
    if row.loadpoint_id is None:
        return True
    unplugged = select(ChargerStatusLog.id).where(
        ChargerStatusLog.loadpoint == row.loadpoint_id,
        ChargerStatusLog.status == "A",
        col(ChargerStatusLog.timestamp) >= row.created,
    )
    newer = select(ChargingSession.id).where(
        ChargingSession.loadpoint_id == row.loadpoint_id,
        col(ChargingSession.created) > row.created,
    )
    return db.exec(unplugged.limit(1)).first() is not None or db.exec(newer.limit(1)).first() is not None


def _evse_for(db: Session, config: Config, row: ChargingSession) -> FleetEvse | None:
    charger: str | None = None
    if row.loadpoint_id is not None and 1 <= row.loadpoint_id <= len(config.loadpoints):
        charger = config.loadpoints[row.loadpoint_id - 1].charger
    else:
        charger = next((lp.charger for lp in config.loadpoints if lp.title == row.loadpoint), None)
    if charger is None:
        return None
    return db.exec(select(FleetEvse).where(FleetEvse.charger == charger)).first()


def _vehicle_for(db: Session, config: Config, row: ChargingSession) -> FleetVehicle | None:
    if not row.vehicle:
        return None
    names = [row.vehicle] + [v.name for v in config.vehicles if v.title == row.vehicle]
    for name in names:
        vehicle = db.exec(select(FleetVehicle).where(FleetVehicle.name == name)).first()
        if vehicle is not None:
            return vehicle
    return db.exec(select(FleetVehicle).where(FleetVehicle.description == row.vehicle)).first()


def sync_sessions(db: Session, config: Config, events: SubSessionEvents, now: datetime) -> int:
    """Pick up new and finished ``sessions`` rows; returns the number of webhook messages queued."""
    queued = 0
    known = select(FleetChargingSession.session_uid)
    new_rows = db.exec(
        select(ChargingSession)
        .where(col(ChargingSession.session_uid).not_in(known))
        .order_by(col(ChargingSession.id))
    ).all()
    for row in new_rows:
        evse = _evse_for(db, config, row)
        vehicle = _vehicle_for(db, config, row)
        user_id = evse.user_id if evse else (vehicle.user_id if vehicle else site_owner(db, now).id)
        start = from_db_time(row.created) or now
        cs = FleetChargingSession(
            id=new_id("cses", start),
            session_uid=row.session_uid,
            user_id=user_id,
            evse_id=evse.id if evse else None,
            vehicle_id=vehicle.id if vehicle else None,
            start=start,
        )
        db.add(cs)
        first = FleetSubSession(id=new_id("csub", start), charging_session_id=cs.id, mode=SMART, start=start)
        db.add(first)
        queued += events.queue(db, "created", first, user_id, now)
    open_sessions = db.exec(select(FleetChargingSession).where(col(FleetChargingSession.end).is_(None))).all()
    for cs in open_sessions:
        source = db.exec(select(ChargingSession).where(ChargingSession.session_uid == cs.session_uid)).first()
        if source is None or not episode_over(db, source):
            continue
        end = finished_at(source) or now
        cs.end = end
        db.add(cs)
        for open_sub in _open_subs(db, cs.id):
            open_sub.end = end
            open_sub.energy_end_kwh = source.charged_kwh
            db.add(open_sub)
            queued += events.queue(db, "ended", open_sub, cs.user_id, now)
    db.commit()
    return queued


def _open_subs(db: Session, cs_id: str) -> list[FleetSubSession]:
    return list(
        db.exec(
            select(FleetSubSession)
            .where(FleetSubSession.charging_session_id == cs_id)
            .where(col(FleetSubSession.end).is_(None))
        ).all()
    )


async def switch_boost(
    ctx: FleetContext, db: Session, cs: FleetChargingSession, events: SubSessionEvents, *, start: bool
) -> None:
    """Start (``start=True``) or end a boost on the session's loadpoint; the caller re-renders."""
    now = ctx.now()
    if cs.end is not None:
        raise conflict("The charging session has ended.")
    subs = _open_subs(db, cs.id)
    if not subs:
        raise conflict("The charging session has no current sub-session.")
    current = subs[0]
    if start and current.mode == BOOST:
        raise conflict("The charging session is already boosting.")
    if not start and current.mode != BOOST:
        raise conflict("The charging session is not boosting.")
    vehicle = db.get(FleetVehicle, cs.vehicle_id) if cs.vehicle_id else None
    if start and vehicle is not None and not vehicle.smart_charging_enabled:
        raise conflict("Smart charging is disabled for this vehicle, so there is nothing to boost.")
    evse = db.get(FleetEvse, cs.evse_id) if cs.evse_id else None
    lp = loadpoint_of(ctx.config, evse.charger) if evse else None
    if lp is None:
        raise conflict("The charging session's EVSE is not a configured loadpoint.")
    configured = ctx.config.loadpoints[lp - 1].mode.value
    if start:
        restore = ctx.live.loadpoint_mode(lp) or configured
        if restore == "now":  # already fast charging outside a boost: restore the configured default
            restore = configured
        await ctx.ask(f"loadpoints/{lp}/mode", "now")
    else:
        await ctx.ask(f"loadpoints/{lp}/mode", current.restore_mode or configured)
        restore = None
    row = db.exec(select(ChargingSession).where(ChargingSession.session_uid == cs.session_uid)).first()
    charged = row.charged_kwh if row else 0.0
    now = max(now, utc(current.start))
    current.end = now
    current.energy_end_kwh = charged
    db.add(current)
    events.queue(db, "ended", current, cs.user_id, now)
    following = FleetSubSession(
        id=new_id("csub", now),
        charging_session_id=cs.id,
        mode=BOOST if start else SMART,
        start=now,
        energy_start_kwh=charged,
        restore_mode=restore,
    )
    db.add(following)
    events.queue(db, "created", following, cs.user_id, now)
    db.commit()
    ctx.outbox_ready.set()
