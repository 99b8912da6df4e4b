"""Connect, disconnect and vehicle identification as pure rules, and as the cycle applies them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.connection import Transition, identify_vehicle, transition
from services.optimizer.cycle import CycleInputs, CycleMemory, CycleResult, run_cycle
from services.optimizer.settings import Settings, default_settings
from services.optimizer.snapshot import Snapshot
from shared.config import parse_config
from shared.messages import ChargerStatus, ChargeStatus
from shared.state import ChargeMode

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MODBUS = {"host": "127.0.0.1"}
CONFIG = parse_config(
    {
        "chargers": [{"name": "wb", "type": "demo", "modbus": MODBUS}],
        "loadpoints": [{"title": "Garage", "charger": "wb", "mode": "pv", "vehicle": "ev"}],
        "vehicles": [
            {"name": "ev", "capacity_kwh": 60},
            {"name": "van", "capacity_kwh": 80, "identifiers": ["tag-7"], "mode": "now"},
        ],
    }
)


def status(code: ChargeStatus, identifier: str | None = None) -> ChargerStatus:
    return ChargerStatus(loadpoint=1, charger="wb", status=code, enabled=False, identifier=identifier)


A, B, C = (status(ChargeStatus.A), status(ChargeStatus.B), status(ChargeStatus.C))


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, None, None),
        (None, A, None),
        (None, B, Transition.FIRST_SEEN),
        (None, C, Transition.FIRST_SEEN),
        (A, B, Transition.CONNECTED),
        (A, C, Transition.CONNECTED),
        (B, C, None),
        (C, B, None),
        (B, A, Transition.DISCONNECTED),
        (C, A, Transition.DISCONNECTED),
        (A, A, None),
        (B, status(ChargeStatus.B, "RFID-1"), Transition.IDENTIFIED),
        (status(ChargeStatus.B, "RFID-1"), status(ChargeStatus.C, "RFID-1"), None),
        (status(ChargeStatus.C, "RFID-1"), status(ChargeStatus.C, "RFID-2"), Transition.IDENTIFIED),
        (status(ChargeStatus.B, "RFID-1"), B, None),
    ],
)
def test_transitions(
    previous: ChargerStatus | None, current: ChargerStatus | None, expected: Transition | None
) -> None:
    assert transition(previous, current) is expected


def test_identify_vehicle_by_identifier() -> None:
    settings = default_settings(CONFIG)
    assert identify_vehicle(settings, "tag-7") == "van"
    assert identify_vehicle(settings, "unknown") is None
    assert identify_vehicle(settings, None) is None


def run(settings: Settings, charger: ChargerStatus, memory: CycleMemory, at: datetime) -> CycleResult:
    inputs = CycleInputs(
        config=CONFIG,
        settings=settings,
        defaults=default_settings(CONFIG),
        snapshot=Snapshot(chargers={1: charger}),
        now=at,
    )
    return run_cycle(inputs, memory)


def test_a_tagged_vehicle_connects_with_its_mode_and_its_settings_reset_on_disconnect() -> None:
    settings = default_settings(CONFIG)
    first = run(settings, A, CycleMemory(), NOW)
    assert first.settings_after is None and first.events == ()
    plugged = run(settings, status(ChargeStatus.B, "tag-7"), first.memory, NOW + timedelta(seconds=1))
    assert plugged.settings_after is not None
    lp = plugged.settings_after.loadpoints[1]
    assert (lp.vehicle, lp.mode) == ("van", ChargeMode.NOW)
    assert [(e.transition, e.vehicle) for e in plugged.events] == [(Transition.CONNECTED, "van")]
    # the user changes the limit during the session; a disconnect restores the configured defaults
    during = plugged.settings_after.with_loadpoint(1, lp.model_copy(update={"limit_soc": 80}))
    left = run(during, A, plugged.memory, NOW + timedelta(seconds=2))
    assert left.settings_after is not None
    after = left.settings_after.loadpoints[1]
    assert (after.vehicle, after.mode, after.limit_soc) == ("ev", ChargeMode.PV, 0)


def test_the_first_status_after_a_start_primes_the_pv_timer_only() -> None:
    settings = default_settings(CONFIG)
    lp = settings.loadpoints[1].model_copy(update={"mode": ChargeMode.MINPV, "limit_soc": 70})
    settings = settings.with_loadpoint(1, lp)
    result = run(settings, status(ChargeStatus.B, "tag-7"), CycleMemory(), NOW)
    assert result.settings_after is None  # the vehicle may have been plugged in for hours
    assert result.events == ()
