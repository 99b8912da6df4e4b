"""Whole control cycles over frozen snapshots: the commanded state carries over, site keys are derived,
finished plans are deleted, smart cost uses the planner tariff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.optimizer.cycle import CycleInputs, CycleMemory, CycleResult, run_cycle
from services.optimizer.settings import EnergyPlan, Settings, default_settings
from services.optimizer.snapshot import Snapshot, battery_values, site_inputs
from shared.config import Config, parse_config
from shared.messages import (
    ChargerStatus,
    ChargeStatus,
    MeterReading,
    MeterUsage,
    Rate,
    RateSeries,
    TariffType,
    TariffUsage,
)
from shared.state import ChargeMode

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MODBUS = {"host": "127.0.0.1"}
CONFIG: Config = parse_config(
    {
        "site": {"grid": "grid", "pv": ["pv"]},
        "meters": [
            {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
            {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
        ],
        "chargers": [{"name": "wb", "type": "demo", "modbus": MODBUS}],
        "loadpoints": [{"title": "Garage", "charger": "wb", "mode": "pv", "vehicle": "ev"}],
        "vehicles": [{"name": "ev", "capacity_kwh": 60}],
    }
)


def cycle(
    config: Config,
    settings: Settings,
    snap: Snapshot,
    memory: CycleMemory | None = None,
    *,
    now: datetime = NOW,
    session_wh: dict[int, float] | None = None,
) -> CycleResult:
    inputs = CycleInputs(
        config=config,
        settings=settings,
        defaults=default_settings(config),
        snapshot=snap,
        now=now,
        session_energy_wh=session_wh or {},
    )
    return run_cycle(inputs, memory or CycleMemory())


def snapshot(
    grid_w: float, pv_w: float, *, enabled: bool = False, charging: bool = False, power: float = 0
) -> Snapshot:
    status = ChargerStatus(
        loadpoint=1,
        charger="wb",
        status=ChargeStatus.C if charging else ChargeStatus.B,
        enabled=enabled,
        power_w=power,
        offered_current_a=6 if enabled else 0,
    )
    meters = {
        "grid": MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=grid_w),
        "pv": MeterReading(meter="pv", usage=MeterUsage.PV, power_w=pv_w),
    }
    return Snapshot(meters=meters, chargers={1: status})


def test_a_fresh_enable_survives_the_stale_charger_status() -> None:
    settings = default_settings(CONFIG)
    first = cycle(CONFIG, settings, snapshot(-5000, 5400))
    assert first.decisions[1].enabled and first.commands[1].changed
    # the charger has not reported the enable yet; the controller remembers what it commanded
    second = cycle(CONFIG, settings, snapshot(-5000, 5400), first.memory, now=NOW + timedelta(seconds=1))
    assert second.decisions[1].enabled
    assert 1 not in second.commands  # nothing changed: no new command


def test_site_keys_are_derived_from_the_meters() -> None:
    snap = snapshot(-1000, 5000, enabled=True, charging=True, power=1380)
    result = cycle(CONFIG, default_settings(CONFIG), snap)
    site = result.site_state
    assert site.homePower == 5000 - 1000 - 1380
    assert site.greenShareHome == 1.0 and site.greenShareLoadpoints == 1.0
    assert "pvPower" not in site.model_fields_set and "grid" not in site.model_fields_set


def test_a_missing_grid_reading_holds_pv_loadpoints() -> None:
    snap = snapshot(0, 0, enabled=True, charging=True, power=4140)
    snap = Snapshot(meters={"pv": snap.meters["pv"]}, chargers=snap.chargers)
    result = cycle(CONFIG, default_settings(CONFIG), snap)
    assert result.decisions[1].case == "pv-hold" and result.decisions[1].enabled
    assert "homePower" not in result.site_state.model_fields_set


def test_a_finished_energy_plan_is_deleted() -> None:
    settings = default_settings(CONFIG)
    lp = settings.loadpoints[1].model_copy(
        update={"energy_plan": EnergyPlan(time=NOW + timedelta(hours=3), energy_kwh=5)}
    )
    settings = settings.with_loadpoint(1, lp)
    result = cycle(CONFIG, settings, snapshot(0, 0), session_wh={1: 5000.0})
    assert result.settings_after is not None
    assert result.settings_after.loadpoints[1].energy_plan is None


def test_smart_cost_charges_in_cheap_slots_of_the_planner_tariff() -> None:
    rates = [
        Rate(start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), value=0.10),
        Rate(start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=2), value=0.40),
        Rate(start=NOW + timedelta(hours=2), end=NOW + timedelta(hours=3), value=0.05),
    ]
    series = RateSeries(usage=TariffUsage.PLANNER, type=TariffType.PRICE_DYNAMIC, rates=rates)
    settings: Settings = default_settings(CONFIG)
    settings = settings.with_loadpoint(
        1, settings.loadpoints[1].model_copy(update={"smart_cost_limit": 0.15})
    )
    snap = snapshot(500, 0)
    snap = Snapshot(meters=snap.meters, chargers=snap.chargers, tariffs={"planner": series})
    result = cycle(CONFIG, settings, snap)
    assert result.decisions[1].case == "smartcost" and result.decisions[1].enabled
    state = result.loadpoint_states[1]
    assert state.smartCostActive is True
    assert state.smartCostNextStart == NOW + timedelta(hours=2)
    # above the limit: back to PV rules (no surplus → not charging)
    dear = settings.with_loadpoint(1, settings.loadpoints[1].model_copy(update={"smart_cost_limit": 0.05}))
    assert not cycle(CONFIG, dear, snap).decisions[1].enabled


def test_mode_now_reports_loadpoint_state() -> None:
    settings = default_settings(CONFIG)
    settings = settings.with_loadpoint(1, settings.loadpoints[1].model_copy(update={"mode": ChargeMode.NOW}))
    result = cycle(CONFIG, settings, snapshot(0, 0))
    state = result.loadpoint_states[1]
    assert state.mode is ChargeMode.NOW and state.name == "lp-1" and state.vehicleName == "ev"
    assert state.effectiveMaxCurrent == 16 and state.pvAction is not None
    assert "connected" not in state.model_fields_set and "chargePower" not in state.model_fields_set


def test_remaining_energy_and_duration_to_the_limit() -> None:
    status = ChargerStatus(
        loadpoint=1, charger="wb", status=ChargeStatus.C, enabled=True, power_w=11000, vehicle_soc_pct=50
    )
    snap = snapshot(0, 0)
    snap = Snapshot(meters=snap.meters, chargers={1: status})
    settings = default_settings(CONFIG)
    settings = settings.with_loadpoint(
        1, settings.loadpoints[1].model_copy(update={"mode": ChargeMode.NOW, "limit_soc": 80})
    )
    state = cycle(CONFIG, settings, snap).loadpoint_states[1]
    assert state.chargeRemainingEnergy == 0.3 * 60 * 1000
    assert state.chargeRemainingDuration == round(0.3 * 60000 / 0.85 / 11000 * 3600)


def test_battery_soc_is_capacity_weighted_and_stale_meters_are_ignored() -> None:
    config = parse_config(
        {
            "site": {"grid": "grid", "battery": ["b1", "b2"]},
            "meters": [
                {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
                {"name": "b1", "type": "sunspec", "usage": "battery", "modbus": MODBUS},
                {"name": "b2", "type": "sunspec", "usage": "battery", "modbus": MODBUS},
            ],
        }
    )
    meters = {
        "grid": MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=100),
        "b1": MeterReading(meter="b1", usage=MeterUsage.BATTERY, power_w=500, soc_pct=80, capacity_kwh=10),
        "b2": MeterReading(meter="b2", usage=MeterUsage.BATTERY, power_w=-200, soc_pct=20, capacity_kwh=5),
    }
    power, soc, capacity = battery_values(config, Snapshot(meters=meters))
    assert (power, capacity) == (300, 15) and soc == 60
    stale = {**meters, "grid": MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=100, stale=True)}
    assert site_inputs(config, Snapshot(meters=stale)) is None


def test_grid_charging_the_battery_below_the_price_limit() -> None:
    config = parse_config(
        {
            "site": {"grid": "grid", "battery": ["bat"]},
            "meters": [
                {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
                {"name": "bat", "type": "sunspec", "usage": "battery", "modbus": MODBUS},
            ],
        }
    )
    rates = [Rate(start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), value=0.10)]
    meters = {
        "grid": MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=100),
        "bat": MeterReading(meter="bat", usage=MeterUsage.BATTERY, power_w=0, soc_pct=30),
    }
    tariffs = {"grid": RateSeries(usage=TariffUsage.GRID, type=TariffType.PRICE_DYNAMIC, rates=rates)}
    settings = default_settings(config)
    settings = settings.with_site(settings.site.model_copy(update={"battery_grid_charge_limit": 0.12}))
    site = cycle(config, settings, Snapshot(meters=meters, tariffs=tariffs)).site_state
    assert site.batteryMode == "charge" and site.batteryGridChargeActive is True
