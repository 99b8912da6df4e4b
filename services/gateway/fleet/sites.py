"""The sites of a fleet: what each one has (its manifest), who owns it, and the records it implies.

A site's gateway registers its own site from its configuration at every start; a fleet gateway registers
every site whose manifest (``<internal>/fleet/site``) it sees. Registering is idempotent and never
deletes: a charger removed from a site keeps its history (``DELETE /v2/evses/{id}`` decommissions).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import (
    FleetChargingSession,
    FleetEvse,
    FleetSite,
    FleetUser,
    FleetVehicle,
    LiveLoadpoint,
    SiteService,
    SiteTariff,
)
from shared.config import LOCAL_SITE, Config
from shared.db import ChargerStatusLog, ChargingSession, CommandLog
from shared.messages import SiteCharger, SiteManifest, SiteVehicle

SITE_TABLES = (
    FleetSite,
    FleetEvse,
    FleetVehicle,
    FleetChargingSession,
    LiveLoadpoint,
    SiteTariff,
    SiteService,
    ChargingSession,
    ChargerStatusLog,
    CommandLog,
)
"""Every table whose rows name a site (``id`` or ``site_id``)."""


def manifest_from_config(config: Config) -> SiteManifest:
    """The manifest a site's gateway publishes: its chargers (one per loadpoint first), vehicles, tariffs."""
    drivers = {c.name: str(c.type) for c in config.chargers}
    chargers: list[SiteCharger] = []
    for index, lp in enumerate(config.loadpoints, start=1):
        if lp.charger not in {c.name for c in chargers}:
            chargers.append(
                SiteCharger(
                    name=lp.charger,
                    driver=drivers.get(lp.charger, "modbus"),
                    loadpoint=index,
                    title=lp.title,
                    mode=lp.mode.value,
                )
            )
    chargers += [
        SiteCharger(name=c.name, driver=str(c.type))
        for c in config.chargers
        if c.name not in {x.name for x in chargers}
    ]
    vehicles = [
        SiteVehicle(name=v.name, title=v.title or v.name, capacity_kwh=v.capacity_kwh, limit_soc=v.limit_soc)
        for v in config.vehicles
    ]
    tariffs = [u for u in ("grid", "feedin", "co2", "planner", "solar") if getattr(config.tariffs, u, None)]
    return SiteManifest(
        site_id=config.site_id,
        title=config.site.title,
        owner_email=config.site.owner,
        timezone=config.site.timezone,
        currency=config.tariffs.currency,
        state_root=config.mqtt.topic,
        internal_root=config.mqtt.internal,
        chargers=tuple(chargers),
        vehicles=tuple(vehicles),
        tariffs=tuple(tariffs),
    )


def manifest_of(site: FleetSite) -> SiteManifest:
    return SiteManifest.model_validate_json(site.manifest)


def _owner_for_new_site(db: Session, site: SiteManifest, now: datetime) -> FleetUser:
    """The user of the site's owner e-mail (created on first use); without one the first site adopts the
    owner of the single-site days and every other site gets an owner of its own."""
    if site.owner_email:
        known = db.exec(
            select(FleetUser).where(FleetUser.email == site.owner_email).order_by(col(FleetUser.joined_at))
        ).first()
        if known is not None:
            return known
        user = FleetUser(id=new_id("user", now), email=site.owner_email, joined_at=now)
        db.add(user)
        db.flush()
        return user
    owned = select(FleetSite.owner_id)
    legacy = db.exec(
        select(FleetUser).where(col(FleetUser.is_site_owner).is_(True)).where(col(FleetUser.id).not_in(owned))
    ).first()
    if legacy is not None:
        return legacy
    owner = FleetUser(
        id=new_id("user", now), full_name=f"Owner of {site.title or site.site_id}", joined_at=now
    )
    db.add(owner)
    db.flush()
    return owner


def register_site(db: Session, site: SiteManifest, now: datetime, central_root: str) -> FleetSite:
    """Create or update the site and the EVSE and vehicle records its manifest implies (the caller
    commits). ``central_root``: the site's internal root on the broker this gateway reads."""
    text = site.model_dump_json()
    digest = hashlib.sha256(f"{central_root}\n{text}".encode()).hexdigest()
    row = db.get(FleetSite, site.site_id)
    if row is not None and row.manifest_hash == digest:
        return row
    if row is None:
        owner = _owner_for_new_site(db, site, now)
        row = FleetSite(id=site.site_id, owner_id=owner.id, manifest=text, created_at=now, updated_at=now)
    row.title, row.timezone, row.currency = site.title, site.timezone, site.currency
    row.manifest, row.manifest_hash, row.central_root, row.updated_at = text, digest, central_root, now
    db.add(row)
    evses = {e.charger: e for e in db.exec(select(FleetEvse).where(FleetEvse.site_id == site.site_id))}
    for charger in site.chargers:
        evse = evses.get(charger.name)
        if evse is None:
            evse = FleetEvse(
                id=new_id("evse", now),
                site_id=site.site_id,
                charger=charger.name,
                user_id=row.owner_id,
                created_at=now,
            )
        evse.loadpoint_id, evse.driver = charger.loadpoint, charger.driver
        db.add(evse)
    known = set(db.exec(select(FleetVehicle.name).where(FleetVehicle.site_id == site.site_id)).all())
    for vehicle in site.vehicles:
        if vehicle.name not in known:
            db.add(
                FleetVehicle(
                    id=new_id("vhcl", now),
                    site_id=site.site_id,
                    name=vehicle.name,
                    user_id=row.owner_id,
                    battery_size_watt_hours=round(vehicle.capacity_kwh * 1000) or None,
                    maximum_charge_limit_percentage=vehicle.limit_soc or None,
                    description=vehicle.title or vehicle.name,
                    source="config",
                    created_at=now,
                )
            )
    db.flush()
    return row


def adopt_local_records(db: Session, site_id: str) -> None:
    """A gateway that got a ``site.id`` after running without one: its records move to that id (the
    caller commits). Nothing happens when the id is already known or there is nothing to move."""
    if site_id == LOCAL_SITE or db.get(FleetSite, site_id) is not None:
        return
    if db.get(FleetSite, LOCAL_SITE) is None and db.exec(select(FleetEvse.id).limit(1)).first() is None:
        return
    for table in SITE_TABLES:
        name = "id" if table is FleetSite else "site_id"
        column = col(getattr(table, name))
        db.execute(update(table).where(column == LOCAL_SITE).values({name: site_id}))


def site_owner(db: Session, site_id: str) -> FleetUser | None:
    site = db.get(FleetSite, site_id)
    return db.get(FleetUser, site.owner_id) if site is not None else None


def sites_of(db: Session, user_id: str | None) -> list[FleetSite]:
    """The sites ``user_id`` owns (every site for None, the operator view)."""
    query = select(FleetSite).order_by(col(FleetSite.id))
    if user_id is not None:
        query = query.where(FleetSite.owner_id == user_id)
    return list(db.exec(query).all())
