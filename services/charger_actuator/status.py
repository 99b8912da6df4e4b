"""From a poll to what the bus shows: the ChargerStatus message and the evcc loadpoint keys the actuator owns.

Pure functions. Power comes from the charger's meter where it has one; otherwise it is estimated as evcc
does (offered current × active phases × voltage while enabled and charging) and flagged as estimated.
"""

from __future__ import annotations

from datetime import datetime

from services.charger_actuator.control import ControlState
from services.charger_actuator.driver import ChargerReading
from shared.messages import ChargerStatus, ChargeStatus
from shared.state import LoadpointState

CHARGER_FEATURES = (
    "AutodetectDisabled",
    "Average",
    "Cacheable",
    "ClimaterDisabled",
    "CoarseCurrent",
    "Continuous",
    "Heating",
    "IntegratedDevice",
    "Offline",
    "Retryable",
    "Streaming",
    "SwitchDevice",
    "WakeUpDisabled",
    "WelcomeCharge",
)
"""evcc's charger features (``chargerFeature<Name>``); chargebus's wallboxes have none of them but
``CoarseCurrent`` (whole amperes), which the driver tells."""

ACTIVE_PHASE_CURRENT_A = 1.0
"""A phase counts as active above this current (evcc)."""


def offered_current(reading: ChargerReading, state: ControlState) -> float:
    """A the charger offers: 0 when disabled; the device's limit, else the target's."""
    if not reading.enabled:
        return 0.0
    if reading.current_a is not None:
        return reading.current_a
    return state.target.current_a if state.target else 0.0


def active_phases(reading: ChargerReading, physical_phases: int) -> int:
    """Measured phases while charging, else the switched phases, else the wired ones."""
    if reading.status is ChargeStatus.C and reading.currents_a is not None:
        measured = sum(1 for current in reading.currents_a if current > ACTIVE_PHASE_CURRENT_A)
        if measured:
            return measured
    if reading.phases in (1, 3):
        return min(reading.phases, physical_phases)
    return physical_phases


def charge_power(
    reading: ChargerReading, offered_a: float, phases: int, voltage_v: float
) -> tuple[float, bool]:
    """(W, estimated): the meter's power, or offered × phases × V while enabled and charging."""
    if reading.power_w is not None:
        return reading.power_w, False
    if reading.enabled and reading.status is ChargeStatus.C:
        return offered_a * phases * voltage_v, True
    return 0.0, True


def describe_errors(*errors: str | None) -> str | None:
    parts = [e for e in errors if e]
    return "; ".join(parts) if parts else None


NO_READING = ChargerReading(status=ChargeStatus.A, enabled=False)
"""Shown before a charger ever answered."""


def build_status(
    *,
    loadpoint: int,
    charger: str,
    reading: ChargerReading | None,
    device_error: str | None,
    state: ControlState,
    physical_phases: int,
    voltage_v: float,
    now: datetime,
    phase_switching: bool = False,
    current_step_a: float | None = None,
    min_current_a: float | None = None,
) -> ChargerStatus:
    """The status to publish; ``reading`` is the latest good poll (kept while the charger is dead)."""
    shown = reading or NO_READING
    offered = offered_current(shown, state)
    phases = active_phases(shown, physical_phases)
    power, estimated = charge_power(shown, offered, phases, voltage_v)
    offline = device_error is not None
    if offline:
        # What an unreachable charger draws is unknown: nobody may count on the last value.
        power, estimated = 0.0, False
    connected = shown.status in (ChargeStatus.B, ChargeStatus.C)
    return ChargerStatus(
        loadpoint=loadpoint,
        charger=charger,
        status=shown.status,
        enabled=shown.enabled,
        offered_current_a=round(offered, 3),
        phases_active=phases,
        phases_switched=shown.phases if shown.phases in (1, 3) else None,
        power_w=round(power, 3),
        power_estimated=estimated,
        energy_kwh=shown.energy_kwh,
        currents_a=shown.currents_a,
        voltages_v=shown.voltages_v,
        identifier=shown.identifier,
        # A disconnected charger's SoC register holds the last car's value; it is no one's SoC now.
        vehicle_soc_pct=shown.soc_pct if connected else None,
        applied_seq=state.last_seq,
        applied_epoch=state.last_epoch if state.last_seq is not None else None,
        failsafe=state.failsafe,
        offline=offline,
        error=describe_errors(device_error, shown.fault, state.write_error, state.failsafe_reason),
        timestamp=now,
        phase_switching=phase_switching,
        physical_phases=physical_phases,
        current_step_a=current_step_a,
        min_current_a=min_current_a,
    )


def loadpoint_state(status: ChargerStatus, *, with_error: bool = True) -> LoadpointState:
    """The evcc loadpoint keys owned by the actuator (only fields the charger can tell are set).

    The phase capabilities (``chargerPhases1p3p``, ``chargerSinglePhase``) are the actuator's alone: it knows
    the driver; the optimizer's phase setter checks the same ``phase_switching`` of the status.

    ``with_error=False`` leaves ``chargerError`` out: a healthy charger's error is an empty payload, which
    the bus cannot de-duplicate, so the caller includes it only when it changed.
    """
    fields: dict[str, object] = {
        "connected": status.connected,
        "charging": status.charging,
        "enabled": status.enabled,
        "offeredCurrent": status.offered_current_a,
        "chargePower": status.power_w,
        "phasesActive": status.phases_active,
        "chargerStatus": status.status.value,
        "chargerPowerEstimated": status.power_estimated,
        "chargerPhases1p3p": status.phase_switching,
        "chargerSinglePhase": status.physical_phases == 1,
        "chargerIcon": None,
        "chargerStatusReason": "unknown",
        **{f"chargerFeature{feature}": False for feature in CHARGER_FEATURES},
        "chargerFeatureCoarseCurrent": status.current_step_a is not None and status.current_step_a >= 1.0,
    }
    if with_error:
        fields["chargerError"] = status.error
    if status.currents_a is not None:
        fields["chargeCurrents"] = list(status.currents_a)
    if status.voltages_v is not None:
        fields["chargeVoltages"] = list(status.voltages_v)
    if status.energy_kwh is not None:
        fields["chargeTotalImport"] = status.energy_kwh
    return LoadpointState.model_validate(fields)
