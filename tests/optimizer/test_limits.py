"""Load management on the pure core: circuits, §14a dimming and peak shaving share their room between the
loadpoints in priority order; reductions go out at once, loosening comes back calmly; the limits are
published and mirrored into every command's ceiling."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.commands import Commanded
from services.optimizer.control import Calm, Decision, LoadpointInputs, Timers, decide, scale_phases
from services.optimizer.cycle import CycleInputs, CycleMemory, CycleResult, run_cycle
from services.optimizer.limits import (
    DIMMING,
    PEAK,
    Allowance,
    Demand,
    Limit,
    allocate,
    dimming_signal,
    limited,
    measure_circuits,
)
from services.optimizer.peak import PeakWindow, advance, allowed_import_w, average_w, window_start
from services.optimizer.settings import LoadpointSettings, Settings, SiteSettings, default_settings
from services.optimizer.snapshot import Snapshot
from shared.config import Config, parse_config
from shared.messages import ChargerStatus, ChargeStatus, CommandReason, MeterReading, MeterUsage, Signal
from shared.state import BatteryMode, ChargeMode

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
V = 230.0
MODBUS = {"host": "127.0.0.1"}


def demand(
    lp: int, current: float, *, priority: int = 0, phases: int = 3, switchable: bool = False
) -> Demand:
    return Demand(lp, priority, current, phases, 6.0, 16.0, V, switchable)


def fuse(amps: float, lps: set[int], base: tuple[float, float, float] = (0, 0, 0), **kw: object) -> Limit:
    return Limit("circuit:main", frozenset(lps), max_current_a=amps, base_a=base, **kw)  # type: ignore[arg-type]


ALLOCATION_CASES = [
    # id, limits, demands, expected {lp: (ceiling, phases, limited_by)}
    ("circuit: no limit, no ceiling", [], [demand(1, 16)], {1: (None, 3, None)}),
    ("circuit: 4 A of house load leaves 12 A under a 16 A fuse", [fuse(16, {1}, (4, 4, 4))], [demand(1, 16)],
     {1: (12.0, 3, "circuit:main")}),
    ("circuit: room enough, the ceiling is not binding", [fuse(32, {1})], [demand(1, 16)],
     {1: (32.0, 3, None)}),
    ("circuit: the higher priority is served first", [fuse(20, {1, 2})],
     [demand(1, 16, priority=0), demand(2, 16, priority=5)],
     {2: (20.0, 3, None), 1: (4.0, 3, "circuit:main")}),
    ("circuit: equal priorities in loadpoint order", [fuse(20, {1, 2})], [demand(1, 10), demand(2, 16)],
     {1: (20.0, 3, None), 2: (10.0, 3, "circuit:main")}),
    ("circuit: a switchable charger drops to one phase when only L1 has room",
     [fuse(16, {1}, (2, 12, 12))], [demand(1, 16, switchable=True)], {1: (14.0, 1, "circuit:main")}),
    ("circuit: a power limit", [Limit("circuit:garage", frozenset({1}), max_power_w=6900)], [demand(1, 16)],
     {1: (10.0, 3, "circuit:garage")}),
    ("circuit: the tighter of nested circuits binds",
     [fuse(35, {1, 2}), Limit("circuit:garage", frozenset({2}), max_current_a=10)],
     [demand(1, 16), demand(2, 16)], {1: (35.0, 3, None), 2: (10.0, 3, "circuit:garage")}),
    ("circuit: a circuit whose meter is not read lets nothing draw", [fuse(32, {1}, full=True)],
     [demand(1, 16)], {1: (0.0, 3, "circuit:main")}),
    ("dimming: 4.2 kW shared by priority", [Limit(DIMMING, frozenset({1, 2}), max_power_w=4200)],
     [demand(1, 16, priority=1), demand(2, 16, phases=1)], {1: (pytest.approx(6.087, abs=1e-3), 3, DIMMING),
                                                            2: (0.0, 1, DIMMING)}),
    ("peak_shaving: the house's own import leaves the rest to the loadpoints",
     [Limit(PEAK, frozenset({1}), max_power_w=5000, base_w=1550)], [demand(1, 16)], {1: (5.0, 3, PEAK)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "demands", "expected"), [c[1:] for c in ALLOCATION_CASES], ids=[c[0] for c in ALLOCATION_CASES]
)
def test_allocation(
    limits: list[Limit], demands: list[Demand], expected: dict[int, tuple[object, ...]]
) -> None:
    result = allocate(limits, demands)
    assert {lp: (a.ceiling_a, a.phases, a.limited_by) for lp, a in result.items()} == expected


SETTLED = Calm(settled=True, recent=False, step_a=0.1)
PV_DECISION = Decision(True, 16.0, 0, CommandReason.SOLAR_CHARGING, Timers(), "pv-current")


def sent(current: float, case: str = "pv-current") -> Commanded:
    return Commanded(current > 0, current, 0, CommandReason.SOLAR_CHARGING, NOW - timedelta(seconds=60), case)


LIMITED_CASES = [
    # id, allowance, last command, calm, expected (enabled, A, case, safety)
    ("not binding: the decision stands", Allowance(20.0, 3), sent(16), SETTLED,
     (True, 16.0, "pv-current", False)),
    ("circuit tightens: down at once, with a reserve", Allowance(12.3, 3, "circuit:main"), sent(16), SETTLED,
     (True, 11.8, "limit:circuit:main", True)),
    ("circuit tightens below the minimum: off at once", Allowance(4.0, 3, "circuit:main"), sent(16), SETTLED,
     (False, 0.0, "limit:circuit:main", True)),
    ("circuit loosens a little: inside the deadband, held", Allowance(12.0, 3, "circuit:main"),
     sent(11.8, "limit:circuit:main"), SETTLED, (True, 11.8, "limit:circuit:main", False)),
    ("circuit loosens, changed 3 s ago: held", Allowance(14.0, 3, "circuit:main"),
     sent(11.8, "limit:circuit:main"), Calm(settled=True, recent=True),
     (True, 11.8, "limit:circuit:main", False)),
    ("circuit loosens: up to the new ceiling", Allowance(14.0, 3, "circuit:main"),
     sent(11.8, "limit:circuit:main"), SETTLED, (True, 14.0, "limit:circuit:main", False)),
    ("circuit lets go, changed 3 s ago: held", Allowance(None, 3), sent(11.8, "limit:circuit:main"),
     Calm(settled=True, recent=True), (True, 11.8, "limit:circuit:main", False)),
    ("switched off by a limit: back on only with room for the minimum and a reserve",
     Allowance(6.2, 3, "circuit:main"), sent(0, "limit:circuit:main"), SETTLED,
     (False, 0.0, "limit:circuit:main", False)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("allowance", "last", "calm", "expected"),
    [c[1:] for c in LIMITED_CASES],
    ids=[c[0] for c in LIMITED_CASES],
)
def test_limited_decisions(
    allowance: Allowance, last: Commanded, calm: Calm, expected: tuple[bool, float, str, bool]
) -> None:
    decision = limited(PV_DECISION, allowance, last, calm, 6.0, 3 * V)
    assert (decision.enabled, decision.current_a, decision.case, decision.safety) == expected


# --- configuration and measurement ---------------------------------------------------------------------

CIRCUIT_CONFIG: Config = parse_config(
    {
        "site": {"grid": "grid", "pv": ["pv"]},
        "meters": [
            {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
            {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
        ],
        "circuits": [
            {"name": "main", "title": "Main fuse", "max_current_a": 25, "meter": "grid"},
            {"name": "garage", "parent": "main", "max_current_a": 16, "max_power_w": 11000},
        ],
        "chargers": [
            {"name": "wb1", "type": "demo", "modbus": MODBUS},
            {"name": "wb2", "type": "demo", "modbus": MODBUS},
        ],
        "loadpoints": [
            {"title": "Garage", "charger": "wb1", "mode": "now", "circuit": "garage", "priority": 1},
            {"title": "Carport", "charger": "wb2", "mode": "now", "circuit": "main"},
        ],
    }
)


def status(lp: int, current: float, *, charging: bool = True) -> ChargerStatus:
    return ChargerStatus(
        loadpoint=lp, charger=f"wb{lp}", status=ChargeStatus.C if charging else ChargeStatus.B,
        enabled=charging, offered_current_a=current, power_w=current * 3 * V if charging else 0.0,
        currents_a=(current, current, current) if charging else (0.0, 0.0, 0.0),
    )  # fmt: skip


def grid(currents: tuple[float, float, float]) -> MeterReading:
    return MeterReading(
        meter="grid", usage=MeterUsage.GRID, power_w=sum(currents) * V, currents_a=currents,
        powers_w=tuple(c * V for c in currents),
    )  # fmt: skip


def test_circuit_readings_subtract_the_loadpoints_from_the_meter() -> None:
    snap = Snapshot(
        meters={"grid": grid((14, 13, 12))}, chargers={1: status(1, 8), 2: status(2, 0, charging=False)}
    )
    readings = measure_circuits(CIRCUIT_CONFIG, snap)
    assert readings["main"].base_a == (6, 5, 4)  # the house, on the meter, without the garage's 8 A
    assert readings["garage"].currents_a == (8, 8, 8) and readings["garage"].power_w == 8 * 3 * V
    assert readings["garage"].base_a == (0, 0, 0)


def test_a_circuit_whose_meter_is_not_read_is_full() -> None:
    stale = grid((1, 1, 1)).model_copy(update={"stale": True})
    readings = measure_circuits(CIRCUIT_CONFIG, Snapshot(meters={"grid": stale}))
    assert readings["main"].error is not None


def test_circuit_configuration_is_checked() -> None:
    base = {"chargers": [{"name": "wb", "type": "demo", "modbus": MODBUS}]}
    with pytest.raises(ValueError, match="its own ancestor"):
        parse_config({**base, "circuits": [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]})
    with pytest.raises(ValueError, match="unknown circuit 'nowhere'"):
        parse_config({**base, "loadpoints": [{"title": "x", "charger": "wb", "circuit": "nowhere"}]})
    with pytest.raises(ValueError, match="unknown meter 'm'"):
        parse_config({**base, "circuits": [{"name": "a", "meter": "m"}]})


# --- whole cycles ------------------------------------------------------------------------------------------


def cycle(config: Config, settings: Settings, snap: Snapshot, memory: CycleMemory | None = None,
          at: datetime = NOW) -> CycleResult:  # fmt: skip
    return run_cycle(
        CycleInputs(config, settings, default_settings(config), snap, at), memory or CycleMemory()
    )


def test_circuit_limits_both_loadpoints_by_priority_and_publishes_the_tree() -> None:
    snap = Snapshot(
        meters={"grid": grid((20, 20, 20)), "pv": MeterReading(meter="pv", usage=MeterUsage.PV, power_w=0)},
        chargers={1: status(1, 10), 2: status(2, 6)},
    )
    result = cycle(CIRCUIT_CONFIG, default_settings(CIRCUIT_CONFIG), snap)
    # main: 25 A − 4 A of house = 21 A; the garage first (priority 1): its 11 kW limit allows 15.9 A on three
    # phases; the carport would get the remaining 5 A, below its minimum: off
    garage, carport = result.decisions[1], result.decisions[2]
    assert (garage.current_a, garage.case) == (15.9, "limit:circuit:garage")
    assert not carport.enabled and carport.case == "limit:circuit:main" and carport.safety
    assert result.commands[1].command.ceiling_a == 15.9 and result.commands[2].command.ceiling_a == 5.0
    circuits = result.site_state.circuits
    assert circuits is not None and circuits["main"].maxCurrent == 25 and circuits["main"].current == 20
    assert circuits["garage"].parent == "main" and circuits["garage"].power == 10 * 3 * V
    assert result.loadpoint_states[2].limitedBy == "circuit:main"


DIMMING_CONFIG: Config = CIRCUIT_CONFIG.model_copy(update={"circuits": [], "loadpoints": [
    lp.model_copy(update={"circuit": None}) for lp in CIRCUIT_CONFIG.loadpoints
]})  # fmt: skip


@pytest.mark.parametrize(
    ("site", "signals", "expected"),
    [
        (SiteSettings(), {}, False),
        (SiteSettings(dimmed=True), {}, True),
        (SiteSettings(), {"dimming": Signal(name="dimming", active=True, timestamp=NOW)}, True),
        (SiteSettings(), {"dimming-topic": Signal(name="dimming-topic", active=False, timestamp=NOW)}, False),
    ],
    ids=["no signal", "dimmed by the setter", "dimmed by a signal", "released on the topic"],
)
def test_dimming_signals(site: SiteSettings, signals: dict[str, Signal], expected: bool) -> None:
    assert dimming_signal(DIMMING_CONFIG, site, Snapshot(signals=signals), NOW) is expected


RELAY_CONFIG: Config = parse_config(
    {
        "meters": [
            {"name": "steuerbox", "type": "modbus", "usage": "signal", "modbus": MODBUS,
             "registers": {"power": {"address": 0, "source": "input"}}},
        ],
        "dimming": {"meter": "steuerbox"},
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (MeterReading(meter="steuerbox", usage=MeterUsage.SIGNAL, power_w=1), True),
        (MeterReading(meter="steuerbox", usage=MeterUsage.SIGNAL, power_w=0), False),
        (MeterReading(meter="steuerbox", usage=MeterUsage.SIGNAL, power_w=1, stale=True), True),
        (None, False),
    ],
    ids=["relay closed: dimmed", "relay open", "input not read: the last value stands", "never read"],
)
def test_dimming_by_the_relay_input_the_meter_reader_reads(
    reading: MeterReading | None, expected: bool
) -> None:
    snap = Snapshot(meters={"steuerbox": reading} if reading else {})
    assert dimming_signal(RELAY_CONFIG, SiteSettings(), snap, NOW) is expected


def test_dimmed_loadpoints_share_the_grid_operators_power_and_say_so() -> None:
    settings = default_settings(DIMMING_CONFIG)
    settings = settings.with_site(settings.site.model_copy(update={"dimmed": True}))
    snap = Snapshot(meters={"grid": grid((20, 20, 20))}, chargers={1: status(1, 16), 2: status(2, 16)})
    result = cycle(DIMMING_CONFIG, settings, snap)
    total = sum(d.current_a * 3 * V for d in result.decisions.values() if d.enabled)
    assert total <= 4200
    assert result.decisions[1].enabled and result.decisions[1].case == "limit:dimming"  # priority 1 first
    assert not result.decisions[2].enabled
    assert result.site_state.dimmed is True and result.loadpoint_states[1].dimmed is True
    assert all(
        c.command.ceiling_a is not None and c.command.ceiling_a <= 6.1 for c in result.commands.values()
    )
    released = cycle(
        DIMMING_CONFIG, default_settings(DIMMING_CONFIG), snap, result.memory, NOW + timedelta(seconds=20)
    )
    assert released.site_state.dimmed is False
    assert released.decisions[1].current_a == 16 and released.decisions[2].current_a == 16


def test_peak_shaving_window_accounts_import_and_allows_what_keeps_the_average() -> None:
    start = window_start(NOW, 900)
    assert start == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    window = advance(None, 6000, start + timedelta(seconds=0), 900)
    window = advance(window, 6000, start + timedelta(seconds=300), 900)  # 5 min at 6 kW = 500 Wh
    assert window.import_wh == pytest.approx(500)
    assert average_w(window, start + timedelta(seconds=300)) == pytest.approx(6000)
    # limit 4 kW over 15 min = 1000 Wh; 500 Wh left for 10 min: 3 kW from now on
    assert allowed_import_w(window, 4000, 900, start + timedelta(seconds=300)) == pytest.approx(3000)
    quiet = PeakWindow(start, 0.0)
    assert (
        allowed_import_w(quiet, 4000, 900, start + timedelta(seconds=800)) == 4000
    )  # never more than the limit
    rolled = advance(window, 6000, start + timedelta(seconds=905), 900)
    assert rolled.start == start + timedelta(seconds=900) and rolled.import_wh == pytest.approx(
        6000 * 5 / 3600
    )


PEAK_CONFIG: Config = DIMMING_CONFIG.model_copy(
    update={"peak_shaving": DIMMING_CONFIG.peak_shaving.model_copy(update={"max_import_w": 8000})}
)


def test_peak_shaving_reduces_loadpoints_in_priority_order_and_lets_the_battery_discharge() -> None:
    config = PEAK_CONFIG.model_copy(update={"site": PEAK_CONFIG.site.model_copy(update={"battery": []})})
    settings = default_settings(config)
    settings = settings.with_site(settings.site.model_copy(update={"battery_discharge_control": True}))
    # 2 kW of house load plus both cars at 16 A: 24 kW of import against an 8 kW limit
    snap = Snapshot(
        meters={
            "grid": MeterReading(
                meter="grid", usage=MeterUsage.GRID, power_w=2000 + 2 * 16 * 3 * V, timestamp=NOW
            ),
            "pv": MeterReading(meter="pv", usage=MeterUsage.PV, power_w=0),
            "bat": MeterReading(meter="bat", usage=MeterUsage.BATTERY, power_w=0, soc_pct=70),
        },
        chargers={1: status(1, 16), 2: status(2, 16)},
    )
    result = cycle(config, settings, snap)
    garage, carport = result.decisions[1], result.decisions[2]
    assert garage.enabled and garage.case == f"limit:{PEAK}"
    assert garage.current_a * 3 * V <= 6000 and not carport.enabled
    assert result.site_state.peakShavingActive is True and result.site_state.peakShavingLimit == 8000
    assert result.site_state.batteryMode is BatteryMode.NORMAL  # not held for the fast charge
    assert result.loadpoint_states[2].limitedBy == PEAK


def test_without_a_peak_shaving_limit_nothing_is_held_back() -> None:
    snap = Snapshot(meters={"grid": grid((30, 30, 30))}, chargers={1: status(1, 16), 2: status(2, 16)})
    result = cycle(DIMMING_CONFIG, default_settings(DIMMING_CONFIG), snap)
    assert [d.current_a for d in result.decisions.values()] == [16, 16]
    assert result.site_state.peakShavingActive is False and result.site_state.dimmed is False
    assert all(c.command.ceiling_a is None for c in result.commands.values())
    assert all(lp.mode is ChargeMode.NOW for lp in default_settings(DIMMING_CONFIG).loadpoints.values())


def test_peak_shaving_window_keeps_its_start_between_readings_microseconds_apart() -> None:
    window = None
    for micro in range(0, 1_000_000, 137_111):
        window = advance(window, 4000, NOW + timedelta(microseconds=micro), 900)
    assert window is not None and window.import_wh == pytest.approx(4000 * 0.959777 / 3600, rel=1e-3)


def test_circuit_fast_charging_stays_on_one_phase_when_three_do_not_fit() -> None:
    lp = LoadpointSettings(mode=ChargeMode.NOW, phases_configured=0)
    switchable = LoadpointInputs(
        id=1, connected=True, switchable=True, phases_active=1, three_phase_room_a=4.0
    )
    assert decide(lp, switchable, None, Timers(), NOW).phases == 0  # stays on its one phase
    roomy = LoadpointInputs(id=1, connected=True, switchable=True, phases_active=1, three_phase_room_a=20.0)
    assert decide(lp, roomy, None, Timers(), NOW).phases == 3


def test_circuit_phase_switching_does_not_scale_up_into_a_full_circuit() -> None:
    lp = LoadpointSettings(mode=ChargeMode.PV, phases_configured=0)
    on_one = LoadpointInputs(
        id=1, connected=True, enabled=True, charging=True, switchable=True, phases_active=1
    )
    surplus = -3 * 10 * V  # enough for 10 A on three phases
    assert scale_phases(lp, on_one, surplus, 10.0, 1, Timers(), NOW)[1].phase_action.value == "scale3p"
    full = replace(on_one, three_phase_room_a=5.0)
    switch, timers = scale_phases(lp, full, surplus, 10.0, 1, Timers(), NOW)
    assert switch == 0 and timers.phase_action.value == "inactive"
