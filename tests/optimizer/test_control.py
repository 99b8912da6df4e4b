"""Control core tables (reference §3.2–3.6): site power, shares, decision order, PV timers, phases,
several loadpoints on one budget, battery mode. Frozen clock, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.control import (
    ELAPSED,
    Calm,
    LoadpointInputs,
    Timers,
    calm_current,
    decide,
    decide_site,
    effective_max_current,
    effective_min_current,
    on_connect,
)
from services.optimizer.settings import LoadpointSettings, SiteSettings, VehicleSettings
from services.optimizer.site import (
    SiteInputs,
    SitePower,
    effective_price,
    green_shares,
    home_power,
    site_power,
)
from shared.messages import CommandReason
from shared.state import ChargeMode, PhaseAction, PvAction

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EV = VehicleSettings(title="EV", capacity_kwh=60)


def site(power_w: float, *, start: bool = False, buffered: bool = False) -> SitePower:
    return SitePower(power_w, power_w, 0.0, buffered, start, 0.0)


# --- site power ------------------------------------------------------------------------------------------

SITE_CASES = [
    # id, inputs, settings, expected site power W, buffered, start
    ("surplus is negative site power", SiteInputs(grid_power_w=-2000), SiteSettings(), -2000, False, False),
    (
        "residual power shifts the target",
        SiteInputs(grid_power_w=-2000),
        SiteSettings(residual_power_w=200),
        -1800,
        False,
        False,
    ),
    (
        "battery discharge counts as import",
        SiteInputs(grid_power_w=0, battery_power_w=1500, battery_soc_pct=50),
        SiteSettings(),
        1500,
        False,
        False,
    ),
    (
        "battery charging below prioritySoc is not surplus (+100 W margin)",
        SiteInputs(grid_power_w=-500, battery_power_w=-3000, battery_soc_pct=40),
        SiteSettings(priority_soc=50),
        -400,
        False,
        False,
    ),
    (
        "battery charging above prioritySoc is surplus",
        SiteInputs(grid_power_w=-500, battery_power_w=-3000, battery_soc_pct=60),
        SiteSettings(priority_soc=50),
        -3500,
        False,
        False,
    ),
    (
        "buffer and buffer start",
        SiteInputs(grid_power_w=0, battery_power_w=0, battery_soc_pct=90),
        SiteSettings(buffer_soc=80, buffer_start_soc=90),
        0,
        True,
        True,
    ),
    (
        "at bufferSoc is not buffered",
        SiteInputs(grid_power_w=0, battery_power_w=0, battery_soc_pct=80),
        SiteSettings(buffer_soc=80, buffer_start_soc=95),
        0,
        False,
        False,
    ),
    (
        "no grid meter: grid = charge − pv",
        SiteInputs(grid_power_w=None, pv_power_w=5000, charge_power_w=3000),
        SiteSettings(),
        -2000,
        False,
        False,
    ),
    (
        "aux consumers are flexible",
        SiteInputs(grid_power_w=-1000, aux_power_w=500),
        SiteSettings(),
        -1500,
        False,
        False,
    ),
]


@pytest.mark.parametrize(
    ("inputs", "settings", "expected", "buffered", "start"),
    [c[1:] for c in SITE_CASES],
    ids=[c[0] for c in SITE_CASES],
)
def test_site_power(
    inputs: SiteInputs, settings: SiteSettings, expected: float, buffered: bool, start: bool
) -> None:
    result = site_power(inputs, settings)
    assert result.site_power_w == pytest.approx(expected)
    assert (result.battery_buffered, result.battery_start) == (buffered, start)


def test_home_power_and_green_shares() -> None:
    inputs = SiteInputs(
        grid_power_w=1000, pv_power_w=3000, battery_power_w=0, battery_soc_pct=50, charge_power_w=2000
    )
    home = home_power(inputs, 1000)
    assert home == 2000  # 1000 import + 3000 pv − 2000 charging
    shares = green_shares(inputs, home)
    assert shares.home == 1.0  # pv covers the house first
    assert shares.loadpoints == pytest.approx(0.5)  # 1000 of the 2000 W charge power is green
    assert effective_price(0.30, 0.08, shares.loadpoints) == pytest.approx(0.19)


# --- decision order ----------------------------------------------------------------------------------------

CONNECTED = LoadpointInputs(id=1, connected=True, vehicle=EV)


DECISION_CASES = [
    # id, settings, inputs, site power, expected (enabled, current, case, reason)
    (
        "disconnected disables",
        LoadpointSettings(mode=ChargeMode.NOW),
        LoadpointInputs(id=1),
        -5000,
        (False, 0, "disconnected", CommandReason.STOP_CHARGE),
    ),
    (
        "off disables",
        LoadpointSettings(mode=ChargeMode.OFF),
        CONNECTED,
        -5000,
        (False, 0, "off", CommandReason.STOP_CHARGE),
    ),
    (
        "now charges at max",
        LoadpointSettings(mode=ChargeMode.NOW),
        CONNECTED,
        5000,
        (True, 16, "now", CommandReason.START_CHARGE),
    ),
    (
        "minSoc not reached fast-charges in pv",
        LoadpointSettings(mode=ChargeMode.PV, min_soc=30),
        replace(CONNECTED, vehicle_soc_pct=20),
        5000,
        (True, 16, "minsoc", CommandReason.SCHEDULED_CHARGING),
    ),
    (
        "minSoc not reached but off stays off",
        LoadpointSettings(mode=ChargeMode.OFF, min_soc=30),
        replace(CONNECTED, vehicle_soc_pct=20),
        5000,
        (False, 0, "off", CommandReason.STOP_CHARGE),
    ),
    (
        "active plan fast-charges",
        LoadpointSettings(mode=ChargeMode.PV),
        replace(CONNECTED, plan_active=True),
        5000,
        (True, 16, "plan", CommandReason.SCHEDULED_CHARGING),
    ),
    (
        "limitEnergy reached stops now",
        LoadpointSettings(mode=ChargeMode.NOW, limit_energy_kwh=10),
        replace(CONNECTED, session_energy_wh=10000),
        -5000,
        (False, 0, "limitenergy", CommandReason.STOP_CHARGE),
    ),
    (
        "limitSoc reached stops now",
        LoadpointSettings(mode=ChargeMode.NOW, limit_soc=80),
        replace(CONNECTED, vehicle_soc_pct=80),
        -5000,
        (False, 0, "limitsoc", CommandReason.STOP_CHARGE),
    ),
    (
        "vehicle limitSoc applies when the loadpoint has none",
        LoadpointSettings(mode=ChargeMode.NOW),
        replace(CONNECTED, vehicle_soc_pct=85, vehicle=EV.model_copy(update={"limit_soc": 85})),
        -5000,
        (False, 0, "limitsoc", CommandReason.STOP_CHARGE),
    ),
    (
        "plan beats limitSoc",
        LoadpointSettings(mode=ChargeMode.NOW, limit_soc=80),
        replace(CONNECTED, vehicle_soc_pct=80, plan_active=True),
        0,
        (True, 16, "plan", CommandReason.SCHEDULED_CHARGING),
    ),
    (
        "smart cost charges pv at max",
        LoadpointSettings(mode=ChargeMode.PV),
        replace(CONNECTED, smart_cost_active=True),
        5000,
        (True, 16, "smartcost", CommandReason.SCHEDULED_CHARGING),
    ),
    (
        "feed-in priority stops pv",
        LoadpointSettings(mode=ChargeMode.PV),
        replace(CONNECTED, smart_feed_in_active=True, enabled=True),
        -9000,
        (False, 0, "feedin-pv", CommandReason.SOLAR_CHARGING),
    ),
    (
        "minpv charges at min without surplus",
        LoadpointSettings(mode=ChargeMode.MINPV),
        CONNECTED,
        3000,
        (True, 6, "minpv-min", CommandReason.SOLAR_CHARGING),
    ),
    (
        "pv follows the surplus while charging",
        LoadpointSettings(mode=ChargeMode.PV),
        replace(CONNECTED, enabled=True, charging=True, offered_current_a=8, phases_active=3),
        -230 * 3 * 2,
        (True, 10, "pv-current", CommandReason.SOLAR_CHARGING),
    ),
    (
        "pv is capped at max current",
        LoadpointSettings(mode=ChargeMode.PV),
        replace(CONNECTED, enabled=True, charging=True, offered_current_a=10),
        -20000,
        (True, 16, "pv-current", CommandReason.SOLAR_CHARGING),
    ),
]


@pytest.mark.parametrize(
    ("settings", "inputs", "site_w", "expected"),
    [c[1:] for c in DECISION_CASES],
    ids=[c[0] for c in DECISION_CASES],
)
def test_decision_order(
    settings: LoadpointSettings,
    inputs: LoadpointInputs,
    site_w: float,
    expected: tuple[bool, float, str, CommandReason],
) -> None:
    decision = decide(settings, inputs, site(site_w), Timers(), NOW)
    assert (decision.enabled, decision.current_a, decision.case, decision.reason) == expected


def test_min_soc_without_vehicle_soc_counts_session_energy() -> None:
    lp = LoadpointSettings(mode=ChargeMode.PV, min_soc=10)
    # 60 kWh × 10 % / 0.85 ≈ 7.06 kWh must be charged before minSoc counts as reached
    below = decide(lp, replace(CONNECTED, session_energy_wh=7000), site(5000), Timers(), NOW)
    above = decide(lp, replace(CONNECTED, session_energy_wh=7100), site(5000), Timers(), NOW)
    assert below.case == "minsoc" and above.case != "minsoc"


def test_effective_currents_respect_the_vehicle() -> None:
    lp = LoadpointSettings(min_current_a=6, max_current_a=32)
    vehicle = VehicleSettings(title="EV", capacity_kwh=60, min_current_a=8, max_current_a=16)
    assert effective_min_current(lp, vehicle) == 8
    assert effective_max_current(lp, vehicle) == 16
    decision = decide(
        lp.model_copy(update={"mode": ChargeMode.NOW}),
        replace(CONNECTED, vehicle=vehicle),
        None,
        Timers(),
        NOW,
    )
    assert decision.current_a == 16


# --- PV timers ---------------------------------------------------------------------------------------------

PV = LoadpointSettings(mode=ChargeMode.PV, enable_delay_s=60, disable_delay_s=180)


def test_pv_enable_waits_for_the_enable_delay() -> None:
    inputs = replace(CONNECTED, enabled=False)
    surplus = site(-230 * 3 * 7)  # enough for 7 A on three phases
    first = decide(PV, inputs, surplus, Timers(), NOW)
    assert not first.enabled and first.timers.pv_action is PvAction.ENABLE and first.pv_remaining_s == 60
    middle = decide(PV, inputs, surplus, first.timers, NOW + timedelta(seconds=30))
    assert not middle.enabled and middle.pv_remaining_s == 30
    fired = decide(PV, inputs, surplus, middle.timers, NOW + timedelta(seconds=60))
    assert fired.enabled and fired.current_a == 6 and fired.timers.pv_action is PvAction.INACTIVE


SETTLED = Calm(settled=True, recent=False)
W_PER_A = 230 * 3

CALM_CASES = [
    # id, calm, offered A, wanted A, expected (A, rule)
    ("within the resolution", SETTLED, 8.0, 8.04, (8.0, "pv-steady")),
    ("not settled: the readings still show the old flow", replace(SETTLED, settled=False), 6.0, 8.0,
     (6.0, "pv-settle")),
    ("unused surplus inside the deadband", SETTLED, 8.0, 8.0 + 150 / W_PER_A, (8.0, "pv-deadband")),
    ("surplus beyond the deadband", SETTLED, 8.0, 8.55, (8.5, "pv-current")),
    ("surplus beyond the deadband, changed 4 s ago", replace(SETTLED, recent=True), 8.0, 8.55,
     (8.0, "pv-rate")),
    ("a tiny import below one step", SETTLED, 8.0, 7.95, (8.0, "pv-steady")),
    ("a small import, changed 4 s ago", replace(SETTLED, recent=True), 8.0, 7.8, (8.0, "pv-rate")),
    ("a small import, settled long ago", SETTLED, 8.0, 7.8, (7.8, "pv-current")),
    ("a large import goes once settled, however recent the change", replace(SETTLED, recent=True),
     10.0, 7.0, (7.0, "pv-current")),
    ("a large import waits for settled readings", replace(SETTLED, settled=False), 10.0, 7.0,
     (10.0, "pv-settle")),
    ("1 A charger: never more than the surplus", replace(SETTLED, step_a=1.0), 8.0, 8.9, (8.0, "pv-steady")),
    ("1 A charger: up one step", replace(SETTLED, step_a=1.0), 8.0, 9.4, (9.0, "pv-current")),
    ("1 A charger: an import beyond the deadband goes down a step", replace(SETTLED, step_a=1.0), 8.0, 7.6,
     (7.0, "pv-current")),
    ("never below the minimum", SETTLED, 8.0, 6.0, (6.0, "pv-current")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("calm", "offered", "wanted", "expected"), [c[1:] for c in CALM_CASES], ids=[c[0] for c in CALM_CASES]
)
def test_calm_current(calm: Calm, offered: float, wanted: float, expected: tuple[float, str]) -> None:
    assert calm_current(calm, offered, wanted, 6.0, W_PER_A) == expected


def test_pv_current_waits_for_settled_readings_then_follows_the_surplus() -> None:
    """Readings taken right after a change still show the old flow; adding that surplus again would
    overshoot to max current (the demo hunted 6 A ↔ 16 A before settled control)."""
    charging = replace(CONNECTED, enabled=True, charging=True, offered_current_a=6, phases_active=3)
    surplus = site(-W_PER_A * 2)  # 2 A more on three phases
    first = decide(PV, replace(charging, calm=SETTLED), surplus, Timers(), NOW)
    assert (first.current_a, first.case) == (8, "pv-current")
    unsettled = replace(charging, offered_current_a=8, calm=Calm(settled=False, recent=True))
    stale = decide(PV, unsettled, surplus, first.timers, NOW + timedelta(seconds=1))
    assert (stale.current_a, stale.case) == (8, "pv-settle")
    settled = replace(charging, offered_current_a=8, calm=SETTLED)
    later = decide(PV, settled, site(-W_PER_A), stale.timers, NOW + timedelta(seconds=12))
    assert (later.current_a, later.case) == (9, "pv-current")


def test_a_minpv_drop_to_the_minimum_waits_for_settled_readings() -> None:
    minpv = LoadpointSettings(mode=ChargeMode.MINPV)
    charging = replace(CONNECTED, enabled=True, charging=True, offered_current_a=9, phases_active=3)
    unsettled = replace(charging, calm=Calm(settled=False, recent=True))
    assert decide(minpv, unsettled, site(3000), Timers(), NOW).case == "pv-settle"
    settled = decide(minpv, replace(charging, calm=SETTLED), site(3000), Timers(), NOW)
    assert (settled.current_a, settled.case) == (6, "minpv-min")


def test_pv_enable_timer_resets_when_the_surplus_goes() -> None:
    inputs = replace(CONNECTED, enabled=False)
    first = decide(PV, inputs, site(-5000), Timers(), NOW)
    gone = decide(PV, inputs, site(500), first.timers, NOW + timedelta(seconds=30))
    assert gone.timers.pv_timer is None and gone.timers.pv_action is PvAction.INACTIVE
    again = decide(PV, inputs, site(-5000), gone.timers, NOW + timedelta(seconds=61))
    assert not again.enabled  # the delay starts over


def test_pv_after_connect_decides_immediately() -> None:
    decision = decide(PV, replace(CONNECTED, enabled=False), site(-5000), on_connect(Timers()), NOW)
    assert decision.enabled and decision.timers.pv_timer is None


def test_negative_enable_threshold_requires_export() -> None:
    lp = PV.model_copy(update={"enable_threshold_w": -3000, "enable_delay_s": 0})
    inputs = replace(CONNECTED, enabled=False)
    assert not decide(lp, inputs, site(-2500), Timers(), NOW).enabled
    assert decide(lp, inputs, site(-3000), Timers(), NOW).enabled


def test_pv_disable_holds_min_current_until_the_disable_delay() -> None:
    inputs = replace(CONNECTED, enabled=True, charging=True, offered_current_a=6)
    importing = site(1500)
    first = decide(PV, inputs, importing, Timers(), NOW)
    assert first.enabled and first.current_a == 6 and first.timers.pv_action is PvAction.DISABLE
    assert first.pv_remaining_s == 180
    later = decide(PV, inputs, importing, first.timers, NOW + timedelta(seconds=179))
    assert later.enabled
    off = decide(PV, inputs, importing, later.timers, NOW + timedelta(seconds=180))
    assert not off.enabled and off.case == "pv-disable"


def test_disable_threshold_tolerates_import() -> None:
    lp = PV.model_copy(update={"disable_threshold_w": 500, "disable_delay_s": 0})
    inputs = replace(CONNECTED, enabled=True, charging=True, offered_current_a=6)
    assert decide(lp, inputs, site(400), Timers(), NOW).enabled
    assert not decide(lp, inputs, site(600), Timers(), NOW).enabled


def test_buffer_start_lets_the_battery_start_pv_charging() -> None:
    decision = decide(PV, replace(CONNECTED, enabled=False), site(800, start=True), Timers(), NOW)
    assert decision.enabled and decision.current_a == 6


def test_site_unknown_holds_pv_state() -> None:
    inputs = replace(CONNECTED, enabled=True, charging=True, offered_current_a=9)
    decision = decide(PV, inputs, None, Timers(), NOW)
    assert (decision.enabled, decision.current_a, decision.case) == (True, 9, "pv-hold")


# --- phases ------------------------------------------------------------------------------------------------

AUTO = PV.model_copy(update={"phases_configured": 0})
SWITCHABLE = replace(CONNECTED, switchable=True)


def test_forced_phases_switch_first() -> None:
    lp = LoadpointSettings(mode=ChargeMode.NOW, phases_configured=1)
    decision = decide(lp, replace(SWITCHABLE, phases_active=3), site(0), Timers(), NOW)
    assert decision.case == "phases" and decision.phases == 1


def test_scale_down_to_one_phase_after_the_disable_delay() -> None:
    inputs = replace(SWITCHABLE, enabled=True, charging=True, offered_current_a=6, phases_active=3)
    small_surplus = site(230 * 3 * 6 - 230 * 8)  # only 8 A on one phase would be covered
    first = decide(AUTO, inputs, small_surplus, Timers(), NOW)
    assert first.timers.phase_action is PhaseAction.SCALE1P and first.phases == 0
    switched = decide(AUTO, inputs, small_surplus, first.timers, NOW + timedelta(seconds=180))
    assert switched.phases == 1 and switched.enabled and switched.current_a == pytest.approx(8)


def test_scale_up_to_three_phases_after_the_enable_delay() -> None:
    inputs = replace(SWITCHABLE, enabled=True, charging=True, offered_current_a=16, phases_active=1)
    big_surplus = site(-230 * 3 * 8 + 230 * 16)  # 3 × 8 A available in total
    first = decide(AUTO, inputs, big_surplus, Timers(), NOW)
    assert first.timers.phase_action is PhaseAction.SCALE3P and first.phases == 0
    switched = decide(AUTO, inputs, big_surplus, first.timers, NOW + timedelta(seconds=60))
    assert switched.phases == 3 and switched.current_a == pytest.approx(8)


def test_no_second_switch_within_the_settle_time() -> None:
    inputs = replace(SWITCHABLE, enabled=True, charging=True, offered_current_a=6, phases_active=3)
    timers = Timers(
        phase_switched=NOW - timedelta(seconds=30), phase_timer=ELAPSED, phase_action=PhaseAction.SCALE1P
    )
    assert decide(AUTO, inputs, site(1000), timers, NOW).phases == 0


def test_fast_charging_uses_three_phases_when_switchable() -> None:
    lp = AUTO.model_copy(update={"mode": ChargeMode.NOW})
    assert decide(lp, replace(SWITCHABLE, phases_active=1), site(0), Timers(), NOW).phases == 3


# --- several loadpoints ------------------------------------------------------------------------------------


def test_higher_priority_loadpoint_takes_the_surplus_first() -> None:
    settings = {
        1: PV.model_copy(update={"priority": 0, "enable_delay_s": 0}),
        2: PV.model_copy(update={"priority": 5, "enable_delay_s": 0}),
    }
    inputs = {1: replace(CONNECTED, id=1), 2: replace(CONNECTED, id=2)}
    # 5 kW surplus: one car at 6 A on three phases needs 4140 W
    decisions = decide_site(settings, inputs, site(-5000), {}, NOW)
    assert decisions[2].enabled and decisions[2].current_a == 6
    assert not decisions[1].enabled  # what is left (≈ 860 W) is not enough for the second


def test_both_loadpoints_charge_when_the_surplus_suffices() -> None:
    settings = {i: PV.model_copy(update={"enable_delay_s": 0}) for i in (1, 2)}
    inputs = {i: replace(CONNECTED, id=i) for i in (1, 2)}
    decisions = decide_site(settings, inputs, site(-9000), {}, NOW)
    assert decisions[1].enabled and decisions[2].enabled


def test_higher_priority_claims_power_of_lower_priority_pv_loadpoint() -> None:
    settings = {
        1: PV.model_copy(update={"priority": 0}),
        2: PV.model_copy(update={"priority": 5, "enable_delay_s": 0}),
    }
    inputs = {
        1: replace(CONNECTED, id=1, enabled=True, charging=True, offered_current_a=8, charge_power_w=5520),
        2: replace(CONNECTED, id=2),
    }
    decisions = decide_site(settings, inputs, site(-1000), {}, NOW)
    assert decisions[2].enabled  # 1000 W export + 5520 W of the lower-priority car


def test_vehicle_priority_raises_the_loadpoint_priority() -> None:
    settings = {i: PV.model_copy(update={"enable_delay_s": 0}) for i in (1, 2)}
    urgent = VehicleSettings(title="Urgent", capacity_kwh=60, priority=9)
    inputs = {1: replace(CONNECTED, id=1), 2: replace(CONNECTED, id=2, vehicle=urgent)}
    decisions = decide_site(settings, inputs, site(-5000), {}, NOW)
    assert decisions[2].enabled and not decisions[1].enabled
