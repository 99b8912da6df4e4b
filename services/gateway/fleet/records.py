"""Keeping the fleet records in step with the configuration: the site owner, one EVSE per configured
charger, one vehicle per configured vehicle. Idempotent; run at every start."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetEvse, FleetUser, FleetVehicle
from shared.config import Config


def site_owner(db: Session, now: datetime) -> FleetUser:
    """The user owning everything configured (created on first use)."""
    owner = db.exec(select(FleetUser).where(col(FleetUser.is_site_owner).is_(True))).first()
    if owner is None:
        owner = FleetUser(id=new_id("user", now), full_name="Site owner", joined_at=now, is_site_owner=True)
        db.add(owner)
        db.flush()
    return owner


def configured_chargers(config: Config) -> list[str]:
    """Every charger used by a loadpoint, then any other configured charger (each one is an EVSE)."""
    names = [lp.charger for lp in config.loadpoints]
    names += [c.name for c in config.chargers if c.name not in names]
    return names


def sync_configured(db: Session, config: Config, now: datetime) -> None:
    """Create the EVSE and vehicle records the configuration implies (never deletes: a charger removed from
    the file keeps its history; DELETE decommissions)."""
    owner = site_owner(db, now)
    known = set(db.exec(select(FleetEvse.charger)).all())
    for charger in configured_chargers(config):
        if charger not in known:
            db.add(FleetEvse(id=new_id("evse", now), charger=charger, user_id=owner.id, created_at=now))
    vehicles = set(db.exec(select(FleetVehicle.name)).all())
    for vehicle in config.vehicles:
        if vehicle.name not in vehicles:
            db.add(
                FleetVehicle(
                    id=new_id("vhcl", now),
                    name=vehicle.name,
                    user_id=owner.id,
                    battery_size_watt_hours=round(vehicle.capacity_kwh * 1000),
                    maximum_charge_limit_percentage=vehicle.limit_soc or None,
                    description=vehicle.title or vehicle.name,
                    source="config",
                    created_at=now,
                )
            )
    db.commit()


def loadpoint_of(config: Config, charger: str) -> int | None:
    try:
        return config.loadpoint_id(charger)
    except KeyError:
        return None
