"""The loadpoint controller (reference §3.4–3.6): pure functions from one frozen snapshot to decisions.

Nothing here reads a clock or the bus: ``now`` is a parameter and the timers live in :class:`Timers`,
which each decision returns updated. :func:`decide_site` shares one site power budget between several
loadpoints in priority order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.optimizer.settings import LoadpointSettings, SiteSettings, VehicleSettings
from services.optimizer.site import SitePower
from shared.messages import CommandReason
from shared.state import BatteryMode, ChargeMode, PhaseAction, PvAction

ELAPSED = datetime(1970, 1, 1, tzinfo=UTC)
"""A timer set to this has already fired (evcc's ``time.Unix(0, 1)``): decisions apply at once."""
PHASE_SWITCH_SETTLE = timedelta(seconds=60)
"""After a phase switch, no further switch for this long."""
MEASURED_CURRENT_HEADROOM_A = 2.0
MIN_STEP_A = 0.1
"""Finest current resolution the controller works in (chargers taking any value included)."""
CHARGE_EFFICIENCY = 0.85
BATTERY_MODE_WATCHDOG = timedelta(seconds=60)


class Boost(StrEnum):
    """The battery boost's state (evcc): started, continuing while charging, held at its SoC limit."""

    DISABLED = "disabled"
    START = "start"
    CONTINUE = "continue"
    HOLD = "hold"
    """The SoC fell below the limit: the battery is no longer drained, but the vehicle keeps its priority
    over recharging it until it disconnects."""


@dataclass(frozen=True)
class Timers:
    """Per-loadpoint timer state carried from one cycle to the next."""

    pv_timer: datetime | None = None
    pv_action: PvAction = PvAction.INACTIVE
    phase_timer: datetime | None = None
    phase_action: PhaseAction = PhaseAction.INACTIVE
    phase_switched: datetime | None = None


def on_connect(timers: Timers) -> Timers:
    """A vehicle connected: PV decisions apply immediately (the PV timer counts as elapsed)."""
    return replace(timers, pv_timer=ELAPSED)


@dataclass(frozen=True)
class LoadpointInputs:
    """What the controller knows about one loadpoint in this cycle."""

    id: int
    connected: bool = False
    charging: bool = False
    enabled: bool = False
    """Whether the charger is enabled (as we last commanded it)."""
    offered_current_a: float = 0.0
    phases_active: int = 3
    phases_switched: int | None = None
    """Phases the charger is switched to, when it says (measured phases may be fewer: a 1-phase car)."""
    charge_power_w: float = 0.0
    max_phase_current_a: float | None = None
    """Highest measured phase current, when the charger measures currents."""
    vehicle_soc_pct: float | None = None
    session_energy_wh: float = 0.0
    physical_phases: int = 3
    switchable: bool = False
    voltage_v: float = 230.0
    vehicle: VehicleSettings | None = None
    plan_active: bool = False
    smart_cost_active: bool = False
    smart_feed_in_active: bool = False
    calm: Calm = field(default_factory=lambda: Calm(), compare=False)
    """How a PV adjustment may change the current now (settled PV control; not a fact the state shows)."""
    three_phase_room_a: float | None = field(default=None, compare=False)
    """A per phase the load-management limits leave this loadpoint on three phases (None: no limit)."""

    def limits_allow_three_phases(self, min_a: float) -> bool:
        return self.three_phase_room_a is None or self.three_phase_room_a >= min_a


@dataclass(frozen=True)
class Calm:
    """The facts and tuning of settled PV control for one loadpoint in one cycle (docs/optimizer.md).

    A PV current adjustment is judged only on settled readings, ignores changes below the charger's
    resolution, lets the deadband lie wholly on the export side (an unused surplus up to ``deadband_w`` is
    tolerated; an import is corrected from one step on), and comes at most every ``adjust_interval_s``
    (a decrease that stops an import larger than the deadband waits only for the readings).
    """

    settled: bool = True
    """The readings show the current in force (or its settle time is over)."""
    recent: bool = False
    """The charger's current changed less than ``adjust_interval_s`` ago."""
    step_a: float = 0.1
    """The charger's current resolution (A)."""
    deadband_w: float = 200.0
    adjust_interval_s: float = 10.0


def floor_to_step(current_a: float, step_a: float) -> float:
    """The largest multiple of ``step_a`` not above ``current_a`` (never more current than wanted)."""
    return round(math.floor(current_a / step_a + 1e-9) * step_a, 3)


def calm_current(
    calm: Calm, offered_a: float, wanted_a: float, min_a: float, phase_v: float
) -> tuple[float, str]:
    """The PV current to offer, and the rule that chose it, when ``offered_a`` is charging now and the
    surplus asks for ``wanted_a`` (≥ ``min_a``); ``phase_v`` = active phases × voltage (W per A)."""
    target = max(floor_to_step(wanted_a, calm.step_a), min_a)
    if abs(target - offered_a) < calm.step_a / 2:
        return offered_a, "pv-steady"
    if not calm.settled:
        return offered_a, "pv-settle"
    deadband_a = calm.deadband_w / phase_v
    recent = calm.recent
    if wanted_a > offered_a:
        if wanted_a - offered_a < max(deadband_a, calm.step_a):
            return offered_a, "pv-deadband"
        if recent:
            return offered_a, "pv-rate"
        return target, "pv-current"
    importing_a = offered_a - wanted_a
    if importing_a < max(MIN_STEP_A, min(calm.step_a, deadband_a)):
        return offered_a, "pv-steady"
    if importing_a < deadband_a and recent:
        return offered_a, "pv-rate"
    return target, "pv-current"


# --- effective values ----------------------------------------------------------------------------------


def effective_min_current(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> float:
    if vehicle is not None and vehicle.min_current_a:
        return max(vehicle.min_current_a, lp.min_current_a)
    return lp.min_current_a


def effective_max_current(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> float:
    if vehicle is not None and vehicle.max_current_a:
        return min(vehicle.max_current_a, lp.max_current_a)
    return lp.max_current_a


def effective_limit_soc(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> int:
    if lp.limit_soc > 0:
        return lp.limit_soc
    if vehicle is not None and vehicle.limit_soc > 0:
        return vehicle.limit_soc
    return 100


def effective_min_soc(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> int:
    return max(lp.min_soc, vehicle.min_soc if vehicle else 0)


def effective_priority(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> int:
    """The loadpoint's priority, raised by the connected vehicle's own priority."""
    if vehicle is not None and vehicle.priority is not None:
        return max(lp.priority, vehicle.priority)
    return lp.priority


def switched_phases(inputs: LoadpointInputs) -> int:
    """The phases the charger is switched to as it reports them (a car may draw on fewer), else the
    active phases."""
    if inputs.phases_switched is not None:
        return inputs.phases_switched
    return inputs.phases_active or inputs.physical_phases


def max_active_phases(lp: LoadpointSettings, inputs: LoadpointInputs) -> int:
    phases = 1 if lp.phases_configured == 1 else inputs.physical_phases
    if inputs.vehicle is not None and inputs.vehicle.phases:
        phases = min(phases, inputs.vehicle.phases)
    return phases


def effective_max_power(lp: LoadpointSettings, inputs: LoadpointInputs) -> float:
    """W — voltage × effective max current × max active phases."""
    return inputs.voltage_v * effective_max_current(lp, inputs.vehicle) * max_active_phases(lp, inputs)


def min_soc_not_reached(lp: LoadpointSettings, inputs: LoadpointInputs) -> bool:
    min_soc = effective_min_soc(lp, inputs.vehicle)
    if min_soc <= 0 or inputs.vehicle is None:
        return False
    if inputs.vehicle_soc_pct:
        return inputs.vehicle_soc_pct < min_soc
    # Without a SoC, estimate from the energy charged in this session (through the charge losses).
    return inputs.session_energy_wh < inputs.vehicle.capacity_kwh * min_soc * 10 / CHARGE_EFFICIENCY


def limit_energy_reached(lp: LoadpointSettings, inputs: LoadpointInputs) -> bool:
    return lp.limit_energy_kwh > 0 and lp.limit_energy_kwh - inputs.session_energy_wh / 1000 <= 0


def limit_soc_reached(lp: LoadpointSettings, inputs: LoadpointInputs) -> bool:
    limit = effective_limit_soc(lp, inputs.vehicle)
    return 0 < limit < 100 and inputs.vehicle_soc_pct is not None and inputs.vehicle_soc_pct >= limit


# --- decisions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    enabled: bool
    current_a: float
    phases: int
    """Phases to switch to (1 or 3), 0 = leave as they are."""
    reason: CommandReason
    timers: Timers
    case: str = field(compare=False)
    """Which rule of the decision order matched (for logs and tests; how it was decided, not what — two
    decisions to do the same are equal)."""
    pv_remaining_s: int = 0
    phase_remaining_s: int = 0
    safety: bool = field(default=False, compare=False)
    """A safety limit (circuit, §14a dimming, peak shaving) lowered the current: it goes out at once."""

    def expected_power_w(self, voltage_v: float, phases: int) -> float:
        return self.current_a * voltage_v * phases if self.enabled else 0.0


def _remaining(timer: datetime | None, delay_s: int, now: datetime) -> int:
    if timer is None or timer == ELAPSED:
        return 0
    return max(0, int(delay_s - (now - timer).total_seconds()))


def _fired(timer: datetime | None, delay_s: int, now: datetime) -> bool:
    return timer is not None and (timer == ELAPSED or (now - timer).total_seconds() >= delay_s)


def _reset_pv(timers: Timers) -> Timers:
    if timers.pv_timer is None and timers.pv_action is PvAction.INACTIVE:
        return timers
    return replace(timers, pv_timer=None, pv_action=PvAction.INACTIVE)


def _reset_phase(timers: Timers) -> Timers:
    if timers.phase_timer is None and timers.phase_action is PhaseAction.INACTIVE:
        return timers
    return replace(timers, phase_timer=None, phase_action=PhaseAction.INACTIVE)


def _limit(current: float, min_a: float, max_a: float) -> tuple[bool, float]:
    """evcc's setLimit: enabled when the current reaches the minimum, never above the maximum."""
    current = min(current, max_a)
    return (current >= min_a and current > 0), (current if current >= min_a else 0.0)


def _disable(reason: CommandReason, timers: Timers, case: str) -> Decision:
    return Decision(False, 0.0, 0, reason, timers, case)


def _fast(
    lp: LoadpointSettings, inputs: LoadpointInputs, timers: Timers, reason: CommandReason, case: str
) -> Decision:
    phases = (
        3 if inputs.switchable and lp.phases_configured == 0 and max_active_phases(lp, inputs) == 3 else 0
    )
    if phases == 3 and not inputs.limits_allow_three_phases(effective_min_current(lp, inputs.vehicle)):
        phases = 1  # load management leaves no room for the minimum on three phases (evcc)
    timers = _reset_phase(timers)
    if timers.pv_timer != ELAPSED or timers.pv_action is not PvAction.INACTIVE:
        timers = replace(timers, pv_timer=ELAPSED, pv_action=PvAction.INACTIVE)
    enabled, current = _limit(
        effective_max_current(lp, inputs.vehicle),
        effective_min_current(lp, inputs.vehicle),
        effective_max_current(lp, inputs.vehicle),
    )
    if phases == inputs.phases_active:
        phases = 0
    return Decision(enabled, current, phases, reason, timers, case)


def decide(
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    site: SitePower | None,
    timers: Timers,
    now: datetime,
    *,
    boost: Boost = Boost.DISABLED,
) -> Decision:
    """One loadpoint's decision, first matching rule wins (reference §3.4).

    ``site`` is ``None`` when the site meters could not be read: PV modes then hold their last state.
    """
    if not inputs.connected:
        return _disable(CommandReason.STOP_CHARGE, _reset_phase(_reset_pv(timers)), "disconnected")
    configured = lp.phases_configured
    if inputs.switchable and configured in (1, 3) and configured != switched_phases(inputs):
        return Decision(
            inputs.enabled,
            inputs.offered_current_a,
            lp.phases_configured,
            CommandReason.SYNC,
            timers,
            "phases",
        )
    if lp.mode is ChargeMode.OFF:
        return _disable(CommandReason.STOP_CHARGE, _reset_phase(_reset_pv(timers)), "off")
    if min_soc_not_reached(lp, inputs):
        return _fast(lp, inputs, timers, CommandReason.SCHEDULED_CHARGING, "minsoc")
    if inputs.plan_active:
        return _fast(lp, inputs, timers, CommandReason.SCHEDULED_CHARGING, "plan")
    if limit_energy_reached(lp, inputs):
        return _disable(CommandReason.STOP_CHARGE, timers, "limitenergy")
    if limit_soc_reached(lp, inputs):
        return _disable(CommandReason.STOP_CHARGE, timers, "limitsoc")
    if lp.mode is ChargeMode.NOW:
        return _fast(lp, inputs, timers, CommandReason.START_CHARGE, "now")
    if inputs.smart_cost_active:
        return _fast(lp, inputs, timers, CommandReason.SCHEDULED_CHARGING, "smartcost")
    if inputs.smart_feed_in_active:
        if lp.mode is ChargeMode.MINPV:
            min_a = effective_min_current(lp, inputs.vehicle)
            phases = 1 if inputs.switchable and lp.phases_configured == 0 else 0
            return Decision(True, min_a, phases, CommandReason.SOLAR_CHARGING, timers, "feedin-minpv")
        return _disable(CommandReason.SOLAR_CHARGING, timers, "feedin-pv")
    if site is None:
        return Decision(
            inputs.enabled, inputs.offered_current_a, 0, CommandReason.SOLAR_CHARGING, timers, "pv-hold"
        )
    return pv_decision(lp, inputs, site, timers, now, boost=boost)


def boost_power_w(boost: Boost, lp: LoadpointSettings, inputs: LoadpointInputs, site: SitePower) -> float:
    """W a battery boost asks of the battery on top of the surplus (evcc's ``boostPower``): its present
    discharge plus at least 100 W more (plus a current step on a whole-ampere charger), the loadpoint's whole
    power when the boost starts."""
    if boost in (Boost.DISABLED, Boost.HOLD):
        return 0.0
    delta = max(100.0, abs(site.residual_power_w))
    if inputs.calm.step_a >= 1:
        delta += inputs.calm.step_a * max_active_phases(lp, inputs) * inputs.voltage_v
    if boost is Boost.START:
        delta = effective_max_power(lp, inputs)
    return max(0.0, site.battery_power_w) + delta + site.residual_power_w


def pv_decision(
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    site: SitePower,
    timers: Timers,
    now: datetime,
    *,
    boost: Boost = Boost.DISABLED,
) -> Decision:
    """PV / Min+PV current with enable/disable thresholds and delays and 1p/3p switching (§3.6), and the
    battery boost (§3.9): the boosting loadpoint sees the power held back for the battery's priority and
    asks the battery for more."""
    min_a = effective_min_current(lp, inputs.vehicle)
    max_a = effective_max_current(lp, inputs.vehicle)
    voltage = inputs.voltage_v
    phases = inputs.phases_active or max_active_phases(lp, inputs)
    site_w = site.site_power_w
    if boost is not Boost.DISABLED:
        site_w += site.priority_adjustment_w
    site_w -= boost_power_w(boost, lp, inputs, site)
    if boost is Boost.START:
        timers = replace(timers, pv_timer=ELAPSED)
        if inputs.switchable and lp.phases_configured == 0:
            timers = replace(timers, phase_timer=ELAPSED)
    reason = CommandReason.BOOST if boost in (Boost.START, Boost.CONTINUE) else CommandReason.SOLAR_CHARGING
    effective_a = 0.0
    if inputs.charging:
        effective_a = inputs.offered_current_a
        if inputs.max_phase_current_a is not None:
            effective_a = min(
                inputs.max_phase_current_a + MEASURED_CURRENT_HEADROOM_A, inputs.offered_current_a
            )

    switch_to = 0
    old_phases = phases
    settled = timers.phase_switched is None or now - timers.phase_switched >= PHASE_SWITCH_SETTLE
    if inputs.switchable and lp.phases_configured == 0 and settled:
        switch_to, timers = scale_phases(lp, inputs, site_w, effective_a, phases, timers, now)
        if switch_to:
            phases = switch_to
            timers = replace(_reset_phase(timers), phase_switched=now)

    # The power now flowing plus the surplus, spread over the phases that will be active.
    target = max((effective_a * old_phases * voltage - site_w) / (phases * voltage), 0.0)
    battery = site.battery_start or (site.battery_buffered and inputs.charging) or boost is Boost.CONTINUE
    mode = lp.mode

    def result(current: float, new_timers: Timers, case: str) -> Decision:
        enabled, value = _limit(current, min_a, max_a)
        return Decision(
            enabled,
            value,
            switch_to,
            reason,
            new_timers,
            case,
            pv_remaining_s=_remaining(
                new_timers.pv_timer,
                lp.enable_delay_s if new_timers.pv_action is PvAction.ENABLE else lp.disable_delay_s,
                now,
            ),
            phase_remaining_s=_remaining(
                new_timers.phase_timer,
                lp.enable_delay_s if new_timers.phase_action is PhaseAction.SCALE3P else lp.disable_delay_s,
                now,
            ),
        )

    phase_v = phases * voltage
    charging_now = inputs.enabled and inputs.offered_current_a > 0 and not switch_to

    # A boost drains the battery in small steps (evcc: +100 W a cycle): no deadband may swallow them.
    calm = replace(inputs.calm, deadband_w=0.0) if boost in (Boost.START, Boost.CONTINUE) else inputs.calm

    def adjusted(wanted: float, new_timers: Timers, case: str) -> Decision:
        """A PV adjustment of a running charge goes through settled control; anything else directly."""
        if not charging_now:
            return result(wanted, new_timers, case)
        current, rule = calm_current(calm, inputs.offered_current_a, wanted, min_a, phase_v)
        return result(current, new_timers, case if rule in ("pv-current", "pv-steady") else rule)

    if (mode is ChargeMode.MINPV or battery) and target < min_a:
        return adjusted(min_a, timers, "minpv-min")
    if mode is ChargeMode.PV and inputs.enabled and target < min_a:
        projected = site_w
        if timers.phase_timer is not None and timers.phase_action is PhaseAction.SCALE1P:
            # A running 1p switch will free (phases − 1) × min current worth of power.
            projected -= voltage * min_a * (phases - 1)
        if projected >= lp.disable_threshold_w:
            if timers.pv_timer is None or timers.pv_action is not PvAction.DISABLE:
                timers = replace(timers, pv_timer=now if timers.pv_timer != ELAPSED else ELAPSED)
            timers = replace(timers, pv_action=PvAction.DISABLE)
            if _fired(timers.pv_timer, lp.disable_delay_s, now):
                return result(0.0, _reset_pv(timers), "pv-disable")
        else:
            timers = _reset_pv(timers)
        return adjusted(min_a, timers, "pv-hold-min")
    if mode is ChargeMode.PV and not inputs.enabled:
        threshold = lp.enable_threshold_w
        if (threshold == 0 and target >= min_a) or (threshold != 0 and site_w <= threshold):
            if timers.pv_timer is None or timers.pv_action is not PvAction.ENABLE:
                timers = replace(timers, pv_timer=now if timers.pv_timer != ELAPSED else ELAPSED)
            timers = replace(timers, pv_action=PvAction.ENABLE)
            if _fired(timers.pv_timer, lp.enable_delay_s, now):
                return result(min_a, _reset_pv(timers), "pv-enable")
        else:
            timers = _reset_pv(timers)
        return result(0.0, timers, "pv-wait")
    return adjusted(min(target, max_a), _reset_pv(timers), "pv-current")


def scale_phases(
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    site_w: float,
    effective_a: float,
    phases: int,
    timers: Timers,
    now: datetime,
) -> tuple[int, Timers]:
    """Decide a 1p/3p switch: down after the disable delay when 3p cannot hold the minimum (by surplus or by
    the load-management limits), up after the enable delay when the surplus carries 3p at minimum current
    and the limits allow it.

    Returns (phases to switch to or 0, timers)."""
    min_a = effective_min_current(lp, inputs.vehicle)
    voltage = inputs.voltage_v
    available_w = effective_a * phases * voltage - site_w
    max_phases = max_active_phases(lp, inputs)
    room = inputs.limits_allow_three_phases(min_a)
    if phases == 3 and (available_w < 3 * min_a * voltage or not room) and max_phases >= 1:
        if not inputs.enabled:
            return 1, timers  # nothing is charging: switching costs nothing
        if timers.phase_action is not PhaseAction.SCALE1P:
            timers = replace(timers, phase_timer=now, phase_action=PhaseAction.SCALE1P)
        if _fired(timers.phase_timer, lp.disable_delay_s, now):
            return 1, timers
        return 0, timers
    if phases == 1 and max_phases == 3 and available_w >= 3 * min_a * voltage and room:
        if not inputs.enabled:
            return 3, timers
        if timers.phase_action is not PhaseAction.SCALE3P:
            timers = replace(timers, phase_timer=now, phase_action=PhaseAction.SCALE3P)
        if _fired(timers.phase_timer, lp.enable_delay_s, now):
            return 3, timers
        return 0, timers
    return 0, _reset_phase(timers)


# --- several loadpoints, one site budget ---------------------------------------------------------------


def decide_site(
    settings: Mapping[int, LoadpointSettings],
    inputs: Mapping[int, LoadpointInputs],
    site: SitePower | None,
    timers: Mapping[int, Timers],
    now: datetime,
    *,
    boost: Mapping[int, Boost] | None = None,
) -> dict[int, Decision]:
    """Decide every loadpoint, higher priority first, sharing one site power budget.

    Each loadpoint sees the site power left after the loadpoints before it changed their consumption,
    and may claim the power of lower-priority PV loadpoints that are charging now (evcc's prioritizer).
    """
    priority = {i: effective_priority(settings[i], inputs[i].vehicle) for i in inputs}
    order = sorted(inputs, key=lambda i: (-priority[i], i))
    # W of PV loadpoints charging now below each priority (what a higher priority may claim), in one pass.
    pv_w: dict[int, float] = {}
    for i in inputs:
        if settings[i].mode is ChargeMode.PV:
            pv_w[priority[i]] = pv_w.get(priority[i], 0.0) + inputs[i].charge_power_w
    below: dict[int, float] = {}
    running = 0.0
    for level in sorted(set(priority.values())):
        below[level] = running
        running += pv_w.get(level, 0.0)
    result: dict[int, Decision] = {}
    budget_w = site.site_power_w if site is not None else 0.0
    for lp_id in order:
        lp = settings[lp_id]
        lp_inputs = inputs[lp_id]
        view = site
        if site is not None and lp.mode in (ChargeMode.PV, ChargeMode.MINPV):
            # Only the PV modes read the site power; the others need not see their share of it.
            claimed = below[priority[lp_id]] if lp.mode is ChargeMode.PV else 0.0
            view = replace(site, site_power_w=budget_w - claimed)
        decision = decide(
            lp,
            lp_inputs,
            view,
            timers.get(lp_id, Timers()),
            now,
            boost=(boost or {}).get(lp_id, Boost.DISABLED),
        )
        result[lp_id] = decision
        phases = decision.phases or lp_inputs.phases_active or lp_inputs.physical_phases
        budget_w += decision.expected_power_w(lp_inputs.voltage_v, phases) - lp_inputs.charge_power_w
    return result


# --- battery -------------------------------------------------------------------------------------------


def battery_mode(
    site: SiteSettings,
    *,
    discharge_control: bool,
    grid_charge: bool,
    battery_configured: bool,
    now: datetime,
    dimmed: bool = False,
    peak_shaving: bool = False,
    peak_battery: bool = True,
) -> BatteryMode:
    """The mode the home battery should be in (evcc's ``requiredBatteryMode`` and ``updateBatteryMode``).

    An external mode wins while it is fresh (60 s watchdog); ``charge`` while grid charging is active (the
    price at or below ``batteryGridChargeLimit``); ``hold`` while discharge control is active (a vehicle
    fast-charges or charges on smart cost); else ``normal``. Under §14a dimming a ``charge`` becomes
    ``hold`` (evcc). While peak shaving holds the import down the battery is never grid-charged, and —
    when ``peak_battery`` — never held either, so it discharges to keep the import under the limit.
    """
    if not battery_configured:
        return BatteryMode.UNKNOWN
    external = site.battery_mode_external
    at = site.battery_mode_external_at
    if external is not None and at is not None and now - at < BATTERY_MODE_WATCHDOG:
        mode = external
    elif grid_charge:
        mode = BatteryMode.CHARGE
    elif discharge_control:
        mode = BatteryMode.HOLD
    else:
        mode = BatteryMode.NORMAL
    if dimmed and mode is BatteryMode.CHARGE:
        mode = BatteryMode.HOLD
    if peak_shaving and mode in (BatteryMode.CHARGE, BatteryMode.HOLDCHARGE):
        mode = BatteryMode.NORMAL if peak_battery else BatteryMode.HOLD
    if peak_shaving and peak_battery and mode is BatteryMode.HOLD:
        mode = BatteryMode.NORMAL
    return mode


def grid_charge_active(site: SiteSettings, grid_price: float | None) -> bool:
    """evcc's ``batteryGridChargeActive``: a limit is set and the price now is at or below it."""
    limit = site.battery_grid_charge_limit
    return limit is not None and grid_price is not None and grid_price <= limit


def fast_charging(lp: LoadpointSettings, inputs: LoadpointInputs) -> bool:
    """evcc's ``IsFastChargingActive``: mode now, an active plan, or the minimum SoC not reached."""
    return lp.mode is ChargeMode.NOW or inputs.plan_active or min_soc_not_reached(lp, inputs)


def discharge_control_active(
    site: SiteSettings, loadpoints: Mapping[int, LoadpointSettings], inputs: Mapping[int, LoadpointInputs]
) -> bool:
    """evcc's ``dischargeControlActive``: discharge control is on and a vehicle charges (status C) fast or
    on smart cost."""
    if not site.battery_discharge_control:
        return False
    return any(
        inputs[i].charging and (inputs[i].smart_cost_active or fast_charging(lp, inputs[i]))
        for i, lp in loadpoints.items()
        if i in inputs
    )


def next_boost(state: Boost, lp: LoadpointSettings, battery_soc_pct: float | None) -> Boost:
    """The boost's state for this cycle, from the setting (switched off on disconnect) and the SoC."""
    if not lp.battery_boost:
        return Boost.DISABLED
    if state is Boost.DISABLED:
        state = Boost.START
    limit = lp.battery_boost_limit
    if state in (Boost.START, Boost.CONTINUE) and limit < 100 and (battery_soc_pct or 0.0) < limit:
        return Boost.HOLD
    return state
