"""From a reading and the control state to ChargerStatus and the evcc loadpoint keys (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.charger_actuator import control
from services.charger_actuator.control import Target
from services.charger_actuator.driver import ChargerReading
from services.charger_actuator.status import build_status, loadpoint_state
from shared.encoding import encode_mqtt
from shared.messages import ChargerStatus, ChargeStatus

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
STATE = replace(control.initial_state(NOW), target=Target(True, 10, 0, 3), last_seq=3)


def status_of(
    reading: ChargerReading | None,
    *,
    phases: int = 3,
    error: str | None = None,
    state: control.ControlState = STATE,
    switching: bool = False,
) -> ChargerStatus:
    return build_status(
        loadpoint=1,
        charger="wb",
        reading=reading,
        device_error=error,
        state=state,
        physical_phases=phases,
        voltage_v=230,
        now=NOW,
        phase_switching=switching,
    )


@pytest.mark.parametrize(
    ("name", "reading", "phases", "power", "estimated", "active"),
    [
        (
            "no meter, charging 3p: 10 A × 3 × 230 V",
            ChargerReading(ChargeStatus.C, True, 10.0),
            3,
            6900,
            True,
            3,
        ),
        ("no meter, charging 1p wired", ChargerReading(ChargeStatus.C, True, 16.0), 1, 3680, True, 1),
        ("no meter, switched to 1p", ChargerReading(ChargeStatus.C, True, 16.0, phases=1), 3, 3680, True, 1),
        ("no meter, connected not charging", ChargerReading(ChargeStatus.B, True, 10.0), 3, 0, True, 3),
        ("no meter, disabled", ChargerReading(ChargeStatus.C, False, 0.0), 3, 0, True, 3),
        ("meter wins", ChargerReading(ChargeStatus.C, True, 10.0, power_w=4321.0), 3, 4321, False, 3),
        (
            "active phases measured while charging",
            ChargerReading(ChargeStatus.C, True, 10.0, power_w=2300.0, currents_a=(10.0, 0.2, 0.0)),
            3,
            2300,
            False,
            1,
        ),
    ],
)
def test_power_and_phases(
    name: str, reading: ChargerReading, phases: int, power: float, estimated: bool, active: int
) -> None:
    status = status_of(reading, phases=phases)
    assert (status.power_w, status.power_estimated, status.phases_active) == (power, estimated, active), name


def test_offered_current_is_zero_when_disabled_and_seq_echoed() -> None:
    status = status_of(ChargerReading(ChargeStatus.B, False, 12.0))
    assert status.offered_current_a == 0
    assert status.applied_seq == 3
    assert status.error is None and not status.failsafe


def test_errors_are_combined_and_an_unreachable_charger_is_not_counted_on() -> None:
    state = replace(STATE, failsafe_reason="failsafe: optimizer offline", write_error="enable not taken")
    reading = ChargerReading(ChargeStatus.C, True, 10.0, power_w=6900.0)
    status = status_of(reading, error="charger not reachable: timeout", state=state)
    assert status.failsafe
    assert status.error == "charger not reachable: timeout; enable not taken; failsafe: optimizer offline"
    # The last status is kept (a short outage ends no session), its power is not: nobody may count on it.
    assert status.status is ChargeStatus.C and status.offline
    assert status.power_w == 0 and not status.charging and status.connected
    assert not status_of(reading).offline and status_of(reading).power_w == 6900


def test_never_read_charger_shows_disconnected() -> None:
    status = status_of(None, error="charger not reachable: refused")
    assert (status.status, status.enabled, status.power_w) == (ChargeStatus.A, False, 0)


def test_soc_only_while_connected() -> None:
    assert status_of(ChargerReading(ChargeStatus.B, True, 10.0, soc_pct=55.0)).vehicle_soc_pct == 55
    assert status_of(ChargerReading(ChargeStatus.A, True, 10.0, soc_pct=55.0)).vehicle_soc_pct is None


def test_loadpoint_keys() -> None:
    reading = ChargerReading(
        ChargeStatus.C,
        True,
        16.0,
        power_w=11040.0,
        energy_kwh=1234.5,
        currents_a=(16.0, 16.0, 16.0),
        voltages_v=(230.0, 231.0, 229.0),
    )
    status = status_of(reading, switching=True)
    assert status.phase_switching and status.physical_phases == 3
    topics = dict(encode_mqtt("lp", loadpoint_state(status)))
    assert topics["lp/connected"] == "true"
    assert topics["lp/charging"] == "true"
    assert topics["lp/enabled"] == "true"
    assert topics["lp/offeredCurrent"] == "16"
    assert topics["lp/chargePower"] == "11040"
    assert topics["lp/chargeCurrents/l2"] == "16"
    assert topics["lp/chargeVoltages/l3"] == "229"
    assert topics["lp/phasesActive"] == "3"
    assert topics["lp/chargeTotalImport"] == "1234.5"
    assert topics["lp/chargerStatus"] == "C"
    assert topics["lp/chargerError"] == ""
    assert topics["lp/chargerPowerEstimated"] == "false"
    assert topics["lp/chargerPhases1p3p"] == "true"
    assert topics["lp/chargerSinglePhase"] == "false"
    assert "lp/vehicleSoc" not in topics
    single = status_of(reading, phases=1)
    without = dict(encode_mqtt("lp", loadpoint_state(single, with_error=False)))
    assert "lp/chargerError" not in without and without["lp/chargerSinglePhase"] == "true"
