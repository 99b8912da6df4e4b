"""Resources as JSON: references are absolute URLs unless ``expand`` asks to inline them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.gateway.fleet import catalogue as cat
from services.gateway.fleet.context import SiteAccess
from services.gateway.fleet.expand import ExpandTree, sub
from services.gateway.fleet.live import LiveLoadpoint
from services.gateway.fleet.models import (
    FleetChargingSession,
    FleetEvse,
    FleetSite,
    FleetSubSession,
    FleetUser,
    FleetVehicle,
    utc,
    utc_or_none,
)
from services.gateway.fleet.sites import manifest_of
from services.gateway.fleet.tariffs import TariffView
from shared.db import ChargerStatusLog, ChargingSession, CommandLog, from_db_time
from shared.messages import SiteManifest

Json = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with ``Z`` (microseconds kept: log timestamps double as cursors)."""
    if value is None:
        return None
    return utc(value).isoformat().replace("+00:00", "Z")


@dataclass
class Renderer:
    base: str
    """``https://host/v2`` — every URL starts here."""
    db: Session
    sites: SiteAccess
    now: datetime
    _sessions: dict[str, ChargingSession | None] = field(default_factory=dict)
    _views: dict[str, TariffView | None] = field(default_factory=dict)

    def site(self, site_id: str) -> SiteManifest | None:
        row = self.db.get(FleetSite, site_id)
        return manifest_of(row) if row is not None else None

    def tariffs(self, site_id: str) -> TariffView | None:
        """The tariffs of ``site_id`` (None for a site without a manifest)."""
        if site_id not in self._views:
            site = self.site(site_id)
            live = self.sites.live(self.db, site_id)
            self._views[site_id] = TariffView(site, live, self.now) if site is not None else None
        return self._views[site_id]

    # --- URLs -------------------------------------------------------------------------------------------

    def url(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def ref(self, tree: ExpandTree, name: str, url: str | None, expand: Any) -> Any:
        """A reference field: its URL, or the rendered object when ``name`` is expanded."""
        if url is None:
            return None
        subtree = sub(tree, name)
        return url if subtree is None else expand(subtree)

    # --- users ------------------------------------------------------------------------------------------

    def user(self, user: FleetUser, tree: ExpandTree) -> Json:
        evses = self.db.exec(
            select(FleetEvse.id)
            .where(FleetEvse.user_id == user.id)
            .where(col(FleetEvse.decommissioned_at).is_(None))
        ).all()
        vehicles = self.db.exec(
            select(FleetVehicle.id)
            .where(FleetVehicle.user_id == user.id)
            .where(col(FleetVehicle.deleted_at).is_(None))
        ).all()
        return {
            "id": user.id,
            "url": self.url("users", user.id),
            "email": user.email,
            "full_name": user.full_name,
            "joined_at": iso(user.joined_at),
            "default_location": None,
            "evses": [self.url("evses", e) for e in sorted(evses)],
            "vehicles": [self.url("vehicles", v) for v in sorted(vehicles)],
        }

    def user_ref(self, tree: ExpandTree, user_id: str) -> Any:
        def expand(t: ExpandTree) -> Json | None:
            user = self.db.get(FleetUser, user_id)
            return None if user is None else self.user(user, t)

        return self.ref(tree, "user", self.url("users", user_id), expand)

    # --- EVSE catalogue ------------------------------------------------------------------------------------

    def evse_make(self, make: cat.EvseMake, tree: ExpandTree) -> Json:
        models = self.url("evse_models") + f"/?make_id={make.id}"
        return {
            "id": make.id,
            "url": self.url("evse_makes", make.id),
            "name": make.name,
            "display_name": make.name,
            "icon": None,
            "onboarding_url": None,
            "is_beta": False,
            "models": models,
            "evse_models": models,
        }

    def evse_model(self, model: cat.EvseModel, tree: ExpandTree) -> Json:
        make = cat.EVSE_MAKES_BY_ID[model.make_id]
        return {
            "id": model.id,
            "url": self.url("evse_models", model.id),
            "name": model.name,
            "display_name": f"{make.name} {model.name}",
            "make": self.ref(
                tree, "make", self.url("evse_makes", make.id), lambda t: self.evse_make(make, t)
            ),
            "onboarding_url": None,
            "driver": model.driver,
        }

    # --- EVSEs ----------------------------------------------------------------------------------------------

    def evse(self, evse: FleetEvse, tree: ExpandTree) -> Json:
        model = cat.evse_model_for_driver(evse.driver)
        latest = self.db.exec(
            select(ChargerStatusLog)
            .where(ChargerStatusLog.site_id == evse.site_id)
            .where(ChargerStatusLog.charger == evse.charger)
            .order_by(col(ChargerStatusLog.timestamp).desc())
            .limit(1)
        ).first()
        live = (
            self.sites.live(self.db, evse.site_id).loadpoint(evse.loadpoint_id)
            if evse.loadpoint_id is not None
            else None
        )
        location = (
            {"latitude": evse.latitude, "longitude": evse.longitude}
            if evse.latitude is not None and evse.longitude is not None
            else None
        )
        return {
            "id": evse.id,
            "url": self.url("evses", evse.id),
            "cpid": evse.charger,
            "model": self.ref(
                tree, "model", self.url("evse_models", model.id), lambda t: self.evse_model(model, t)
            ),
            "user": self.user_ref(tree, evse.user_id),
            "latest_status_log": self.ref(
                tree,
                "latest_status_log",
                self.status_log_url(evse, latest) if latest else None,
                lambda t: self.status_log(evse, latest, t) if latest else None,
            ),
            "ct_clamp": None,
            "lock_mode": None,
            "location": location,
            "lifecycle_state": evse.lifecycle_state,
            "charging_sub_sessions": self.url("charging_sub_sessions") + f"/?evse_id={evse.id}",
            "site": evse.site_id,
            "live_status": live_status(live),
        }

    def evse_ref(self, tree: ExpandTree, evse_id: str | None) -> Any:
        def expand(t: ExpandTree) -> Json | None:
            evse = self.db.get(FleetEvse, evse_id)
            return None if evse is None else self.evse(evse, t)

        return self.ref(tree, "evse", self.url("evses", evse_id) if evse_id else None, expand)

    def status_log_url(self, evse: FleetEvse, log: ChargerStatusLog) -> str:
        return self.url("evses", evse.id, "status_logs", f"{iso(from_db_time(log.timestamp))}/")

    def status_log(self, evse: FleetEvse, log: ChargerStatusLog, tree: ExpandTree) -> Json:
        stamp = iso(from_db_time(log.timestamp))
        return {
            "url": self.status_log_url(evse, log),
            "sampled_at": stamp,
            "logged_at": stamp,
            "evse": self.evse_ref(tree, evse.id),
            "control_pilot_status": log.status if log.status in "ABCDEF" and log.status else None,
            "is_plugged_in": log.status in ("B", "C", "D"),
            "is_charging": log.status == "C",
            "previous_control_pilot_status": log.previous,
            "charge_rate_watts": None,
            "meter_reading_watt_hours": None,
            "is_enabled": None,
            "max_current_rating_milliamps": None,
            "state_of_charge_percentage": None,
            "mode": "Charge" if log.status == "C" else "Idle",
        }

    def command_log(self, evse: FleetEvse, log: CommandLog, tree: ExpandTree) -> Json:
        stamp = iso(from_db_time(log.timestamp))
        return {
            "url": self.url("evses", evse.id, "command_logs", f"{stamp}/"),
            "logged_at": stamp,
            "evse": self.evse_ref(tree, evse.id),
            "max_load_target_milliamps": round(log.current_a * 1000),
            "is_enabled_target": log.enabled,
            "always_enabled": None,
            "reason": log.reason,
            "internal_command_id": _uuid_or_none(log.event_id),
            "phases": log.phases,
            "applied": log.ok,
            "error": log.error,
        }

    # --- vehicles ---------------------------------------------------------------------------------------

    def vehicle_make(self, make: cat.VehicleMake, tree: ExpandTree) -> Json:
        return {
            "id": make.id,
            "url": self.url("vehicle_makes", make.id),
            "name": make.name,
            "icon": None,
            "onboarding_url": None,
            "models": self.url("vehicle_models") + f"/?make_id={make.id}",
        }

    def vehicle_model(self, model: cat.VehicleModel, tree: ExpandTree) -> Json:
        make = cat.VEHICLE_MAKES_BY_ID[model.make_id]
        return {
            "id": model.id,
            "url": self.url("vehicle_models", model.id),
            "name": model.name,
            "make": self.ref(
                tree, "make", self.url("vehicle_makes", make.id), lambda t: self.vehicle_make(make, t)
            ),
            "onboarding_url": None,
            "vehicle_trims": self.url("vehicle_trims") + f"/?model_id={model.id}",
            "default_battery_size_watt_hours": model.default_battery_size_watt_hours,
            "default_connector_type": model.default_connector_type,
        }

    def vehicle_trim(self, trim: cat.VehicleTrim, tree: ExpandTree) -> Json:
        model = cat.VEHICLE_MODELS_BY_ID[trim.model_id]
        return {
            "id": trim.id,
            "url": self.url("vehicle_trims", trim.id),
            "name": trim.name,
            "model": self.ref(
                tree, "model", self.url("vehicle_models", model.id), lambda t: self.vehicle_model(model, t)
            ),
            "battery_size_watt_hours": trim.battery_size_watt_hours,
            "onboarding_url": None,
        }

    def vehicle(self, vehicle: FleetVehicle, tree: ExpandTree) -> Json:
        trim = cat.VEHICLE_TRIMS_BY_ID.get(vehicle.trim_id or "")
        model = cat.VEHICLE_MODELS_BY_ID.get(vehicle.model_id or "")
        return {
            "id": vehicle.id,
            "url": self.url("vehicles", vehicle.id),
            "trim": self.ref(
                tree,
                "trim",
                self.url("vehicle_trims", trim.id) if trim else None,
                lambda t: self.vehicle_trim(trim, t) if trim else None,
            ),
            "model": self.ref(
                tree,
                "model",
                self.url("vehicle_models", model.id) if model else None,
                lambda t: self.vehicle_model(model, t) if model else None,
            ),
            "user": self.user_ref(tree, vehicle.user_id),
            "latest_status_log": None,
            "charging_sub_sessions": self.url("charging_sub_sessions") + f"/?vehicle_id={vehicle.id}",
            "integrated": "UNINTEGRATED",
            "maximum_charge_limit_percentage": vehicle.maximum_charge_limit_percentage,
            "battery_size_watt_hours": vehicle.battery_size_watt_hours,
            "effective_battery_size_watt_hours": vehicle.battery_size_watt_hours,
            "description": vehicle.description,
            "disabled": False,
            "smart_charging_enabled": vehicle.smart_charging_enabled,
            "vehicle_class": vehicle.vehicle_class,
            "evcc_vehicle": vehicle.name,
            "site": vehicle.site_id,
        }

    def vehicle_ref(self, tree: ExpandTree, vehicle_id: str | None) -> Any:
        def expand(t: ExpandTree) -> Json | None:
            vehicle = self.db.get(FleetVehicle, vehicle_id)
            return None if vehicle is None else self.vehicle(vehicle, t)

        return self.ref(tree, "vehicle", self.url("vehicles", vehicle_id) if vehicle_id else None, expand)

    # --- charging sessions --------------------------------------------------------------------------------

    def session_row(self, session_uid: str) -> ChargingSession | None:
        if session_uid not in self._sessions:
            self._sessions[session_uid] = self.db.exec(
                select(ChargingSession).where(ChargingSession.session_uid == session_uid)
            ).first()
        return self._sessions[session_uid]

    def sub_sessions_of(self, charging_session_id: str) -> list[FleetSubSession]:
        rows = self.db.exec(
            select(FleetSubSession)
            .where(FleetSubSession.charging_session_id == charging_session_id)
            .order_by(col(FleetSubSession.start).desc(), col(FleetSubSession.id).desc())
        ).all()
        return list(rows)

    def charging_session(self, cs: FleetChargingSession, tree: ExpandTree) -> Json:
        row = self.session_row(cs.session_uid)
        subs = self.sub_sessions_of(cs.id)
        subtree = sub(tree, "sub_sessions")
        return {
            "id": cs.id,
            "url": self.url("charging_sessions", cs.id),
            "start": iso(cs.start),
            "end": iso(cs.end),
            "vehicle": self.vehicle_ref(tree, cs.vehicle_id),
            "evse": self.evse_ref(tree, cs.evse_id),
            "sub_sessions": [
                self.url("charging_sub_sessions", s.id)
                if subtree is None
                else self.sub_session(s, subtree, cs)
                for s in subs
            ],
            "energy_delivered_watt_hours": round((row.charged_kwh if row else 0.0) * 1000),
            "evcc_session_id": row.id if row else None,
        }

    def sub_session(
        self, s: FleetSubSession, tree: ExpandTree, cs: FleetChargingSession | None = None
    ) -> Json:
        parent = cs or self.db.get(FleetChargingSession, s.charging_session_id)
        row = self.session_row(parent.session_uid) if parent else None
        charged_kwh = row.charged_kwh if row else 0.0
        energy_kwh = max(
            0.0, (s.energy_end_kwh if s.energy_end_kwh is not None else charged_kwh) - s.energy_start_kwh
        )
        whole = parent is not None and len(self.sub_sessions_of(parent.id)) == 1
        end = utc_or_none(s.end)
        if whole and row is not None:
            duration_min = row.charge_duration / 60e9
        else:
            duration_min = ((end or utc(s.start)) - utc(s.start)).total_seconds() / 60 if end else 0.0
        price = row.price_per_kwh if row else None
        co2 = row.co2_per_kwh if row else None
        solar = row.solar_percentage if row else None
        view = self.tariffs(parent.site_id) if parent else None
        grid = view.tariff_id("grid") if view else None
        feed = view.carbon_feed_id() if view else None
        return {
            "id": s.id,
            "url": self.url("charging_sub_sessions", s.id),
            "charging_session": self.ref(
                tree,
                "charging_session",
                self.url("charging_sessions", parent.id) if parent else None,
                lambda t: self.charging_session(parent, t) if parent else None,
            ),
            "start": iso(s.start),
            "end": iso(s.end),
            "mode": s.mode,
            "vehicle": self.vehicle_ref(tree, parent.vehicle_id if parent else None),
            "evse": self.evse_ref(tree, parent.evse_id if parent else None),
            "energy_delivered_watt_hours": round(energy_kwh * 1000),
            "cost": round(energy_kwh * price * 100) if price is not None else None,
            "currency": view.site.currency if view else None,
            "cost_per_kilowatt_hour": round(price * 100, 3) if price is not None else None,
            "co2_intensity_grams_per_kilowatt_hour": co2,
            "total_co2_grams": round(energy_kwh * co2) if co2 is not None else None,
            "duration_minutes": round(duration_min),
            "solar_energy_delivered_watt_hours": round(energy_kwh * solar * 10)
            if solar is not None
            else None,
            "grid_energy_delivered_watt_hours": round(energy_kwh * (100 - solar) * 10)
            if solar is not None
            else None,
            "tariff": self.ref(
                tree,
                "tariff",
                self.url("tariffs", grid) if grid else None,
                lambda t: view.render_tariff(self.url, "grid", t) if view else None,
            ),
            "carbon_feed": self.ref(
                tree,
                "carbon_feed",
                self.url("carbon_feeds", feed) if feed else None,
                lambda t: view.render_carbon_feed(self.url) if view else None,
            ),
            "location": None,
        }


def live_status(live: LiveLoadpoint | None) -> Json | None:
    """An EVSE's loadpoint as its site's tree shows it now (a chargebus extension; None when unknown)."""
    if live is None:
        return None
    return {
        "mode": live.mode,
        "is_plugged_in": live.connected,
        "is_charging": live.charging,
        "is_enabled": live.enabled,
        "charge_rate_watts": round(live.charge_power_w) if live.charge_power_w is not None else None,
        "offered_current_milliamps": round(live.offered_current_a * 1000)
        if live.offered_current_a is not None
        else None,
        "state_of_charge_percentage": live.vehicle_soc_pct,
        "meter_reading_watt_hours": round(live.charge_total_import_kwh * 1000)
        if live.charge_total_import_kwh is not None
        else None,
        "session_energy_watt_hours": round(live.session_energy_wh)
        if live.session_energy_wh is not None
        else None,
        "updated_at": iso(live.updated_at),
    }


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
