"""The home battery's rules as evcc has them (reference §3.2, §3.6; evcc ``site.go``, ``site_battery.go``,
``loadpoint.go``): prioritySoc, bufferSoc, bufferStartSoc, batteryDischargeControl and battery boost — one
row per rule, from the meters' values through site power to the loadpoint's decision or the battery mode."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.control import (
    Boost,
    Calm,
    LoadpointInputs,
    Timers,
    battery_mode,
    decide,
    discharge_control_active,
    next_boost,
)
from services.optimizer.cycle import CycleInputs, CycleMemory, run_cycle
from services.optimizer.settings import LoadpointSettings, SiteSettings, VehicleSettings, default_settings
from services.optimizer.site import SiteInputs, site_power
from services.optimizer.snapshot import Snapshot
from shared.config import parse_config
from shared.messages import ChargerStatus, ChargeStatus, CommandReason, MeterReading, MeterUsage
from shared.state import BatteryMode, ChargeMode

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EV = VehicleSettings(title="EV", capacity_kwh=60)
PV = LoadpointSettings(mode=ChargeMode.PV, enable_delay_s=60, disable_delay_s=180)
W_PER_A = 230 * 3
SETTLED = Calm(settled=True, recent=False)
IDLE = LoadpointInputs(id=1, connected=True, vehicle=EV, calm=SETTLED)


def charging(current_a: float) -> LoadpointInputs:
    return replace(
        IDLE, enabled=True, charging=True, offered_current_a=current_a, charge_power_w=current_a * W_PER_A
    )


@dataclass(frozen=True)
class Row:
    rule: str
    site: SiteSettings
    meters: SiteInputs
    """Grid > 0 import, battery > 0 discharging (W), SoC %."""
    inputs: LoadpointInputs
    lp: LoadpointSettings
    boost: Boost
    expected: tuple[bool, float, str]
    """(enabled, A, case)."""


def meters(grid_w: float, battery_w: float, soc: float) -> SiteInputs:
    return SiteInputs(grid_power_w=grid_w, pv_power_w=8000, battery_power_w=battery_w, battery_soc_pct=soc)


ROWS = [
    Row("defaults: a discharging battery is import, the car gives way to it",
        SiteSettings(), meters(0, 3000, 60), charging(10), PV, Boost.DISABLED, (True, 6.0, "pv-hold-min")),
    Row("defaults: a charging battery's power is surplus for the car",
        SiteSettings(), meters(0, -2000, 60), charging(6), PV, Boost.DISABLED, (True, 8.8, "pv-current")),
    Row("prioritySoc: below it the battery's charge power is not surplus (100 W margin kept)",
        SiteSettings(priority_soc=50), meters(-300, -3000, 40), IDLE, PV, Boost.DISABLED,
        (False, 0.0, "pv-wait")),
    Row("prioritySoc: at or above it the battery's charge power is surplus",
        SiteSettings(priority_soc=50), meters(-300, -4000, 50), replace(IDLE, calm=SETTLED), PV,
        Boost.DISABLED, (False, 0.0, "pv-wait")),
    Row("bufferSoc: above it the battery keeps a running PV charge at the minimum current",
        SiteSettings(buffer_soc=80), meters(0, 2500, 85), charging(6), PV, Boost.DISABLED,
        (True, 6.0, "minpv-min")),
    Row("bufferSoc: it does not start a charge",
        SiteSettings(buffer_soc=80), meters(-500, 0, 85), IDLE, PV, Boost.DISABLED, (False, 0.0, "pv-wait")),
    Row("bufferSoc: at it exactly the battery does not support the charge",
        SiteSettings(buffer_soc=80), meters(0, 2500, 80), charging(6), PV, Boost.DISABLED,
        (True, 6.0, "pv-hold-min")),
    Row("bufferStartSoc: at or above it the battery starts a PV charge at the minimum current",
        SiteSettings(buffer_soc=80, buffer_start_soc=90), meters(-500, 0, 90), IDLE, PV, Boost.DISABLED,
        (True, 6.0, "minpv-min")),
    Row("bufferStartSoc: below it no start from the battery",
        SiteSettings(buffer_soc=80, buffer_start_soc=90), meters(-500, 0, 89), IDLE, PV, Boost.DISABLED,
        (False, 0.0, "pv-wait")),
    Row("boost start: the whole loadpoint power is asked of the battery",
        SiteSettings(), meters(0, 0, 80), charging(6), PV.model_copy(update={"battery_boost": True}),
        Boost.START, (True, 16.0, "pv-current")),
    Row("boost continue: 100 W more than the battery gives now, no deadband",
        SiteSettings(), meters(0, 3000, 80), charging(10), PV.model_copy(update={"battery_boost": True}),
        Boost.CONTINUE, (True, 10.1, "pv-current")),
    Row("boost continue: the minimum current holds even without surplus",
        SiteSettings(), meters(3000, 0, 80), charging(6), PV.model_copy(update={"battery_boost": True}),
        Boost.CONTINUE, (True, 6.0, "minpv-min")),
    Row("boost below prioritySoc: the boosting car takes the power held back for the battery",
        SiteSettings(priority_soc=90), meters(-200, -3000, 80), charging(6),
        PV.model_copy(update={"battery_boost": True}), Boost.CONTINUE, (True, 10.7, "pv-current")),
    Row("boost hold: no more draining, but the car keeps its priority over recharging the battery",
        SiteSettings(priority_soc=90), meters(-200, -3000, 15), charging(6),
        PV.model_copy(update={"battery_boost": True, "battery_boost_limit": 20}), Boost.HOLD,
        (True, 10.6, "pv-current")),
    Row("no boost below prioritySoc: the battery recharges first",
        SiteSettings(priority_soc=90), meters(-200, -3000, 80), charging(6), PV, Boost.DISABLED,
        (True, 6.0, "pv-deadband")),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.rule for r in ROWS])
def test_battery_rules_decide_the_loadpoint(row: Row) -> None:
    power = site_power(row.meters, row.site)
    decision = decide(row.lp, row.inputs, power, Timers(), NOW, boost=row.boost)
    assert (decision.enabled, decision.current_a, decision.case) == row.expected
    if row.boost in (Boost.START, Boost.CONTINUE):
        assert decision.reason is CommandReason.BOOST


def test_a_boost_starts_at_once() -> None:
    lp = PV.model_copy(update={"battery_boost": True, "enable_delay_s": 600})
    power = site_power(meters(0, 0, 80), SiteSettings())
    decision = decide(lp, IDLE, power, Timers(), NOW, boost=Boost.START)
    assert decision.enabled and decision.case == "pv-enable"  # the enable delay is elapsed for a boost


@pytest.mark.parametrize(
    ("state", "enabled", "limit", "soc", "expected"),
    [
        (Boost.DISABLED, False, 20, 80, Boost.DISABLED),
        (Boost.DISABLED, True, 20, 80, Boost.START),
        (Boost.START, True, 20, 80, Boost.START),
        (Boost.CONTINUE, True, 20, 80, Boost.CONTINUE),
        (Boost.CONTINUE, True, 20, 19, Boost.HOLD),
        (Boost.HOLD, True, 20, 60, Boost.HOLD),
        (Boost.CONTINUE, True, 100, 5, Boost.CONTINUE),
        (Boost.HOLD, False, 20, 60, Boost.DISABLED),
    ],
)
def test_boost_states(state: Boost, enabled: bool, limit: int, soc: float, expected: Boost) -> None:
    lp = PV.model_copy(update={"battery_boost": enabled, "battery_boost_limit": limit})
    assert next_boost(state, lp, soc) is expected


NOW_MODE = LoadpointSettings(mode=ChargeMode.NOW)


@pytest.mark.parametrize(
    ("rule", "site", "lp", "inputs", "grid_charge", "extra", "expected"),
    [
        ("nothing to do: normal", SiteSettings(), PV, charging(6), False, {}, BatteryMode.NORMAL),
        (
            "discharge control: hold while a car charges fast",
            SiteSettings(battery_discharge_control=True),
            NOW_MODE,
            charging(16),
            False,
            {},
            BatteryMode.HOLD,
        ),
        (
            "discharge control: not while the fast car does not draw (status B)",
            SiteSettings(battery_discharge_control=True),
            NOW_MODE,
            IDLE,
            False,
            {},
            BatteryMode.NORMAL,
        ),
        (
            "discharge control: hold while charging on smart cost",
            SiteSettings(battery_discharge_control=True),
            PV,
            replace(charging(16), smart_cost_active=True),
            False,
            {},
            BatteryMode.HOLD,
        ),
        (
            "discharge control: not in PV mode",
            SiteSettings(battery_discharge_control=True),
            PV,
            charging(8),
            False,
            {},
            BatteryMode.NORMAL,
        ),
        (
            "discharge control off: the battery may discharge into a fast charge",
            SiteSettings(),
            NOW_MODE,
            charging(16),
            False,
            {},
            BatteryMode.NORMAL,
        ),
        ("grid charging below the price limit", SiteSettings(), PV, IDLE, True, {}, BatteryMode.CHARGE),
        (
            "grid charging is held under §14a dimming",
            SiteSettings(),
            PV,
            IDLE,
            True,
            {"dimmed": True},
            BatteryMode.HOLD,
        ),
        (
            "peak shaving: no grid charging",
            SiteSettings(),
            PV,
            IDLE,
            True,
            {"peak_shaving": True},
            BatteryMode.NORMAL,
        ),
        (
            "peak shaving: the battery is not held, it covers the peak",
            SiteSettings(battery_discharge_control=True),
            NOW_MODE,
            charging(16),
            False,
            {"peak_shaving": True},
            BatteryMode.NORMAL,
        ),
        (
            "peak shaving without the battery: held",
            SiteSettings(battery_discharge_control=True),
            NOW_MODE,
            charging(16),
            False,
            {"peak_shaving": True, "peak_battery": False},
            BatteryMode.HOLD,
        ),
        (
            "an external mode wins while fresh",
            SiteSettings(
                battery_mode_external=BatteryMode.HOLD, battery_mode_external_at=NOW - timedelta(seconds=30)
            ),
            PV,
            IDLE,
            True,
            {},
            BatteryMode.HOLD,
        ),
        (
            "an external mode lapses after 60 s",
            SiteSettings(
                battery_mode_external=BatteryMode.HOLD, battery_mode_external_at=NOW - timedelta(seconds=61)
            ),
            PV,
            IDLE,
            False,
            {},
            BatteryMode.NORMAL,
        ),
    ],
)
def test_battery_mode(
    rule: str,
    site: SiteSettings,
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    grid_charge: bool,
    extra: dict[str, bool],
    expected: BatteryMode,
) -> None:
    control = discharge_control_active(site, {1: lp}, {1: inputs})
    mode = battery_mode(
        site, discharge_control=control, grid_charge=grid_charge, battery_configured=True, now=NOW, **extra
    )
    assert mode is expected, rule


# --- through whole cycles ----------------------------------------------------------------------------------

MODBUS = {"host": "127.0.0.1"}
CONFIG = parse_config(
    {
        "site": {"grid": "grid", "pv": ["pv"], "battery": ["bat"]},
        "meters": [
            {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
            {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
            {"name": "bat", "type": "sunspec", "usage": "battery", "modbus": MODBUS},
        ],
        "chargers": [{"name": "wb", "type": "demo", "modbus": MODBUS}],
        "loadpoints": [{"title": "Garage", "charger": "wb", "mode": "pv", "vehicle": "ev"}],
        "vehicles": [{"name": "ev", "capacity_kwh": 60}],
    }
)


def test_a_boost_continues_once_charging_and_ends_with_the_connection() -> None:
    settings = default_settings(CONFIG)
    settings = settings.with_loadpoint(1, settings.loadpoints[1].model_copy(update={"battery_boost": True}))
    status = ChargerStatus(loadpoint=1, charger="wb", status=ChargeStatus.C, enabled=True,
                           offered_current_a=6, power_w=6 * W_PER_A)  # fmt: skip
    snap = Snapshot(
        meters={
            "grid": MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=0),
            "pv": MeterReading(meter="pv", usage=MeterUsage.PV, power_w=4500),
            "bat": MeterReading(meter="bat", usage=MeterUsage.BATTERY, power_w=0, soc_pct=80),
        },
        chargers={1: status},
    )
    first = run_cycle(CycleInputs(CONFIG, settings, default_settings(CONFIG), snap, NOW), CycleMemory())
    assert first.decisions[1].reason is CommandReason.BOOST and first.decisions[1].current_a == 16
    assert first.memory.loadpoint(1).boost is Boost.CONTINUE
    gone = Snapshot(meters=snap.meters, chargers={1: status.model_copy(update={"status": ChargeStatus.A})})
    later = NOW + timedelta(seconds=1)
    left = run_cycle(CycleInputs(CONFIG, settings, default_settings(CONFIG), gone, later), first.memory)
    assert left.settings_after is not None and left.settings_after.loadpoints[1].battery_boost is False
