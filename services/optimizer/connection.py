"""Connect, disconnect and vehicle identification (reference §3.4): pure rules over two charger statuses.

A transition is judged from the status the previous cycle saw to the one in this cycle's snapshot. The first
status after a start only primes the PV timer — the vehicle may have been plugged in for hours, so the user's
settings are not reset to the vehicle's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.optimizer.settings import LoadpointSettings, Settings
from shared.messages import ChargerStatus


class Transition(StrEnum):
    FIRST_SEEN = "first-seen"
    """The first status since the optimizer started, with a vehicle connected."""
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    IDENTIFIED = "identified"
    """A connected charger reported a new identifier (an RFID card held to the box after plug-in)."""


def transition(previous: ChargerStatus | None, status: ChargerStatus | None) -> Transition | None:
    if status is None:
        return None
    if previous is None:
        return Transition.FIRST_SEEN if status.connected else None
    if status.connected and not previous.connected:
        return Transition.CONNECTED
    if previous.connected and not status.connected:
        return Transition.DISCONNECTED
    if status.connected and status.identifier and status.identifier != previous.identifier:
        return Transition.IDENTIFIED
    return None


def identify_vehicle(settings: Settings, identifier: str | None) -> str | None:
    """The configured vehicle whose identifiers (RFID tags, charger ids) contain ``identifier``."""
    if not identifier:
        return None
    return next((name for name, v in settings.vehicles.items() if identifier in v.identifiers), None)


def connected(settings: Settings, lp: int, identifier: str | None) -> Settings:
    """A vehicle connected: the identified vehicle (else the loadpoint's), and that vehicle's default mode."""
    current = settings.loadpoints[lp]
    vehicle = identify_vehicle(settings, identifier) or current.vehicle
    update: dict[str, object] = {"vehicle": vehicle}
    if vehicle and vehicle in settings.vehicles and settings.vehicles[vehicle].mode is not None:
        update["mode"] = settings.vehicles[vehicle].mode
    return settings.with_loadpoint(lp, current.model_copy(update=update))


def disconnected(settings: Settings, defaults: LoadpointSettings, lp: int) -> Settings:
    """evcc resets the per-connection settings to the configured defaults on disconnect."""
    reset = settings.loadpoints[lp].model_copy(
        update={
            "mode": defaults.mode,
            "limit_soc": 0,
            "limit_energy_kwh": 0.0,
            "battery_boost": False,
            "vehicle": defaults.vehicle,
        }
    )
    return settings.with_loadpoint(lp, reset)


@dataclass(frozen=True)
class ConnectionEvent:
    """A transition the cycle acted on (the shell logs it)."""

    loadpoint: int
    transition: Transition
    vehicle: str | None


def apply_transition(
    settings: Settings, defaults: Settings, lp: int, kind: Transition, status: ChargerStatus
) -> Settings:
    if kind is Transition.CONNECTED:
        return connected(settings, lp, status.identifier)
    if kind is Transition.DISCONNECTED:
        return disconnected(settings, defaults.loadpoints[lp], lp)
    if kind is Transition.IDENTIFIED and identify_vehicle(settings, status.identifier) is not None:
        return connected(settings, lp, status.identifier)
    return settings
