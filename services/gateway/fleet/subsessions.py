"""Charging sessions and sub-sessions derived from the ``sessions`` table, and boosts.

The event writer keeps one ``sessions`` row per plug-in episode and site (the row ``/api/sessions``
serves at a site). Syncing gives each row a ``cses`` ID and a first SMART sub-session, ends the open
sub-session when the episode is over, and queues the ``charging_sub_session.created``/``.ended`` webhooks
in the same transaction.
A boost ends the SMART sub-session and opens a BOOST one (and back), after the optimizer confirmed the
mode change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, text
from sqlmodel import Session, col, select

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import (
    FleetChargingSession,
    FleetEvse,
    FleetSite,
    FleetSubSession,
    FleetVehicle,
    SyncMark,
    utc,
)
from services.gateway.fleet.problems import conflict
from services.gateway.fleet.sites import manifest_of, site_owner
from services.gateway.fleet.webhooks import enqueue
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


WINDOW = 1000
"""Rows below a table's high-water mark that are looked at again: ids are handed out before a
transaction commits, so a row may become visible after rows with higher ids."""


SYNC_LOCK = "hashtext('chargebus-fleet-sync:' || current_schema())"


def _lock(db: Session) -> None:
    """One sync at a time across the instances sharing a PostgreSQL schema (the others wait their turn,
    which is short: each pass reads only what changed). SQLite: one process anyway."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text(f"SELECT pg_advisory_xact_lock({SYNC_LOCK})"))


def _mark(db: Session, name: str) -> SyncMark:
    mark = db.get(SyncMark, name)
    if mark is None:
        mark = SyncMark(name=name, value=0)
        db.add(mark)
    return mark


def _evse_for(db: Session, row: ChargingSession) -> FleetEvse | None:
    at_site = select(FleetEvse).where(FleetEvse.site_id == row.site_id)
    if row.loadpoint_id is not None:
        evse = db.exec(at_site.where(FleetEvse.loadpoint_id == row.loadpoint_id)).first()
        if evse is not None:
            return evse
    site = db.get(FleetSite, row.site_id)
    if site is None:
        return None
    charger = next((c.name for c in manifest_of(site).chargers if c.title == row.loadpoint), None)
    return db.exec(at_site.where(FleetEvse.charger == charger)).first() if charger else None


def _vehicle_for(db: Session, row: ChargingSession) -> FleetVehicle | None:
    if not row.vehicle:
        return None
    at_site = select(FleetVehicle).where(FleetVehicle.site_id == row.site_id)
    by_name = db.exec(at_site.where(FleetVehicle.name == row.vehicle)).first()
    return by_name or db.exec(at_site.where(FleetVehicle.description == row.vehicle)).first()


def _open_sessions_at(db: Session, site_id: str, loadpoint_id: int | None) -> Any:
    return (
        select(FleetChargingSession)
        .where(FleetChargingSession.site_id == site_id)
        .where(FleetChargingSession.loadpoint_id == loadpoint_id)
        .where(col(FleetChargingSession.end).is_(None))
        .where(col(FleetChargingSession.unplugged_at).is_(None))
    )


def _new_sessions(db: Session, events: SubSessionEvents, now: datetime) -> int:
    """A ``cses`` and its first SMART sub-session for every new ``sessions`` row."""
    mark = _mark(db, "sessions")
    known = select(FleetChargingSession.id).where(
        FleetChargingSession.session_uid == ChargingSession.session_uid
    )
    rows = db.exec(
        select(ChargingSession)
        .where(col(ChargingSession.id) > mark.value - WINDOW)
        .where(~exists(known))
        .order_by(col(ChargingSession.id))
        .limit(500)
    ).all()
    queued = 0
    for row in rows:
        evse = _evse_for(db, row)
        vehicle = _vehicle_for(db, row)
        owner = site_owner(db, row.site_id)
        user_id = evse.user_id if evse else vehicle.user_id if vehicle else owner.id if owner else None
        if user_id is None:  # a session of a site this gateway has no manifest of yet: later
            continue
        start = from_db_time(row.created) or now
        loadpoint = (
            row.loadpoint_id if row.loadpoint_id is not None else (evse.loadpoint_id if evse else None)
        )
        # a newer session on the loadpoint ends the episodes before it
        for older in db.exec(_open_sessions_at(db, row.site_id, loadpoint)).all():
            older.unplugged_at = start
            db.add(older)
        cs = FleetChargingSession(
            id=new_id("cses", start),
            session_uid=row.session_uid,
            site_id=row.site_id,
            loadpoint_id=loadpoint,
            user_id=user_id,
            evse_id=evse.id if evse else None,
            vehicle_id=vehicle.id if vehicle else None,
            start=start,
        )
        db.add(cs)
        first = FleetSubSession(id=new_id("csub", start), charging_session_id=cs.id, mode=SMART, start=start)
        db.add(first)
        queued += events.queue(db, "created", first, user_id, now)
        mark.value = max(mark.value, row.id or 0)
    db.add(mark)
    return queued


def _unplugged(db: Session) -> None:
    """Flag the open sessions whose charger reported a disconnect (status A) after they began."""
    mark = _mark(db, "charger_status_logs")
    newest = db.exec(select(func.max(ChargerStatusLog.id))).one()
    disconnects = db.exec(
        select(ChargerStatusLog)
        .where(col(ChargerStatusLog.id) > mark.value - WINDOW)
        .where(ChargerStatusLog.status == "A")
        .order_by(col(ChargerStatusLog.id))
    ).all()
    for log in disconnects:
        when = from_db_time(log.timestamp)
        for cs in db.exec(_open_sessions_at(db, log.site_id, log.loadpoint)).all():
            if when is not None and utc(cs.start) <= when:
                cs.unplugged_at = when
                db.add(cs)
    mark.value = max(mark.value, newest or 0)
    db.add(mark)


def _close_finished(db: Session, events: SubSessionEvents, now: datetime) -> int:
    """End the flagged sessions whose row is finished, with their open sub-sessions."""
    queued = 0
    flagged = db.exec(
        select(FleetChargingSession)
        .where(col(FleetChargingSession.end).is_(None))
        .where(col(FleetChargingSession.unplugged_at).is_not(None))
    ).all()
    for cs in flagged:
        source = db.exec(select(ChargingSession).where(ChargingSession.session_uid == cs.session_uid)).first()
        end = finished_at(source) if source is not None else None
        if source is None or end is None:
            continue  # finished is written with the disconnect's session event; the next sync sees it
        cs.end = end
        db.add(cs)
        for open_sub in _open_subs(db, cs.id):
            open_sub.end = end
            open_sub.energy_end_kwh = source.charged_kwh
            db.add(open_sub)
            queued += events.queue(db, "ended", open_sub, cs.user_id, now)
    return queued


def sync_sessions(db: Session, events: SubSessionEvents, now: datetime) -> int:
    """Pick up new sessions and ended episodes of every site; returns the webhook messages queued.

    Incremental: each pass reads the ``sessions`` and ``charger_status_logs`` rows past its marks (and a
    window below them), so its cost follows what changed, not how much history there is. The episode of
    a session is over once the charger reported a disconnect after it began, or a newer session started on
    the same loadpoint — and the row says when charging finished (evcc updates ``finished`` at every
    charge stop while the car stays plugged in)."""
    _lock(db)
    queued = _new_sessions(db, events, now)
    db.flush()
    _unplugged(db)
    db.flush()
    queued += _close_finished(db, events, now)
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
    lp = evse.loadpoint_id if evse else None
    site = db.get(FleetSite, cs.site_id)
    if lp is None or evse is None or site is None:
        raise conflict("The charging session's EVSE is not a configured loadpoint.")
    charger = next((c for c in manifest_of(site).chargers if c.name == evse.charger), None)
    configured = (charger.mode if charger else None) or "pv"
    if start:
        live = ctx.sites.live(db, cs.site_id).loadpoint(lp)
        restore = (live.mode if live else None) or configured
        if restore == "now":  # already fast charging outside a boost: restore the configured default
            restore = configured
        await ctx.ask(db, cs.site_id, f"loadpoints/{lp}/mode", "now")
    else:
        await ctx.ask(db, cs.site_id, f"loadpoints/{lp}/mode", current.restore_mode or configured)
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
