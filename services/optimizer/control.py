"""The loadpoint controller (reference §3.4–3.6): pure functions from one frozen snapshot to decisions.

Nothing here reads a clock or the bus: ``now`` is a parameter and the timers live in :class:`Timers`,
which each decision returns updated. :func:`decide_site` shares one site power budget between several
loadpoints in priority order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.optimizer.settings import LoadpointSettings, SiteSettings, VehicleSettings
from services.optimizer.site import SitePower
from shared.messages import CommandReason
from shared.state import BatteryMode, ChargeMode, PhaseAction, PvAction

ELAPSED = datetime(1970, 1, 1, tzinfo=UTC)
"""A timer set to this has already fired (evcc's ``time.Unix(0, 1)``): decisions apply at once."""
PHASE_SWITCH_SETTLE = timedelta(seconds=60)
"""After a phase switch, no further switch for this long."""
MEASURED_CURRENT_HEADROOM_A = 2.0
PV_CURRENT_SETTLE = timedelta(seconds=10)
"""After a PV current change, hold the current this long. Meters are read one by one and the car takes
seconds to follow, so readings taken right after a change still show the old flow; adding the same surplus
again on each of them overshoots to max current and back (evcc avoids this with its 30 s cycle)."""
PV_CURRENT_STEP_A = 0.1
"""A PV current closer than this to the one offered counts as unchanged (no new settle period)."""
CHARGE_EFFICIENCY = 0.85
BATTERY_MODE_WATCHDOG = timedelta(seconds=60)


@dataclass(frozen=True)
class Timers:
    """Per-loadpoint timer state carried from one cycle to the next."""

    pv_timer: datetime | None = None
    pv_action: PvAction = PvAction.INACTIVE
    phase_timer: datetime | None = None
    phase_action: PhaseAction = PhaseAction.INACTIVE
    phase_switched: datetime | None = None
    pv_current_changed: datetime | None = None
    """When the PV current last changed (settle period, see ``PV_CURRENT_SETTLE``)."""


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
    case: str
    """Which rule of the decision order matched (for logs and tests)."""
    pv_remaining_s: int = 0
    phase_remaining_s: int = 0

    def expected_power_w(self, voltage_v: float, phases: int) -> float:
        return self.current_a * voltage_v * phases if self.enabled else 0.0


def _remaining(timer: datetime | None, delay_s: int, now: datetime) -> int:
    if timer is None or timer == ELAPSED:
        return 0
    return max(0, int(delay_s - (now - timer).total_seconds()))


def _fired(timer: datetime | None, delay_s: int, now: datetime) -> bool:
    return timer is not None and (timer == ELAPSED or (now - timer).total_seconds() >= delay_s)


def _reset_pv(timers: Timers) -> Timers:
    return replace(timers, pv_timer=None, pv_action=PvAction.INACTIVE)


def _reset_phase(timers: Timers) -> Timers:
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
    timers = replace(_reset_phase(timers), pv_timer=ELAPSED, pv_action=PvAction.INACTIVE)
    enabled, current = _limit(
        effective_max_current(lp, inputs.vehicle),
        effective_min_current(lp, inputs.vehicle),
        effective_max_current(lp, inputs.vehicle),
    )
    if phases == 3 and inputs.phases_active == 3:
        phases = 0
    return Decision(enabled, current, phases, reason, timers, case)


def decide(
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    site: SitePower | None,
    timers: Timers,
    now: datetime,
    *,
    boost_active: bool = False,
) -> Decision:
    """One loadpoint's decision, first matching rule wins (reference §3.4).

    ``site`` is ``None`` when the site meters could not be read: PV modes then hold their last state.
    """
    if not inputs.connected:
        return _disable(CommandReason.STOP_CHARGE, _reset_phase(_reset_pv(timers)), "disconnected")
    current_phases = inputs.phases_active or inputs.physical_phases
    if inputs.switchable and lp.phases_configured in (1, 3) and lp.phases_configured != current_phases:
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
    if boost_active:
        return _fast(lp, inputs, timers, CommandReason.BOOST, "boost")
    if site is None:
        return Decision(
            inputs.enabled, inputs.offered_current_a, 0, CommandReason.SOLAR_CHARGING, timers, "pv-hold"
        )
    return pv_decision(lp, inputs, site, timers, now)


def pv_decision(
    lp: LoadpointSettings, inputs: LoadpointInputs, site: SitePower, timers: Timers, now: datetime
) -> Decision:
    """PV / Min+PV current with enable/disable thresholds and delays and 1p/3p switching (§3.6)."""
    min_a = effective_min_current(lp, inputs.vehicle)
    max_a = effective_max_current(lp, inputs.vehicle)
    voltage = inputs.voltage_v
    phases = inputs.phases_active or max_active_phases(lp, inputs)
    site_w = site.site_power_w
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
    battery = site.battery_start or (site.battery_buffered and inputs.charging)
    mode = lp.mode

    def result(current: float, new_timers: Timers, case: str) -> Decision:
        enabled, value = _limit(current, min_a, max_a)
        return Decision(
            enabled,
            value,
            switch_to,
            CommandReason.SOLAR_CHARGING,
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

    if (mode is ChargeMode.MINPV or battery) and target < min_a:
        return result(min_a, timers, "minpv-min")
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
        return result(min_a, timers, "pv-hold-min")
    if mode is ChargeMode.PV and not inputs.enabled:
        threshold = lp.enable_threshold_w
        if (threshold == 0 and target >= min_a) or (threshold != 0 and site_w <= threshold):
            if timers.pv_timer is None or timers.pv_action is not PvAction.ENABLE:
                timers = replace(timers, pv_timer=now if timers.pv_timer != ELAPSED else ELAPSED)
            timers = replace(timers, pv_action=PvAction.ENABLE)
            if _fired(timers.pv_timer, lp.enable_delay_s, now):
                return result(min_a, replace(_reset_pv(timers), pv_current_changed=now), "pv-enable")
        else:
            timers = _reset_pv(timers)
        return result(0.0, timers, "pv-wait")
    timers = _reset_pv(timers)
    if inputs.enabled and inputs.offered_current_a > 0:
        changed = timers.pv_current_changed
        if changed is not None and now - changed < PV_CURRENT_SETTLE and not switch_to:
            return result(inputs.offered_current_a, timers, "pv-settle")
        if abs(min(target, max_a) - inputs.offered_current_a) >= PV_CURRENT_STEP_A:
            timers = replace(timers, pv_current_changed=now)
    return result(min(target, max_a), timers, "pv-current")


def scale_phases(
    lp: LoadpointSettings,
    inputs: LoadpointInputs,
    site_w: float,
    effective_a: float,
    phases: int,
    timers: Timers,
    now: datetime,
) -> tuple[int, Timers]:
    """Decide a 1p/3p switch: down after the disable delay when 3p cannot hold the minimum, up after the
    enable delay when the surplus carries 3p at minimum current.

    Returns (phases to switch to or 0, timers)."""
    min_a = effective_min_current(lp, inputs.vehicle)
    voltage = inputs.voltage_v
    available_w = effective_a * phases * voltage - site_w
    max_phases = max_active_phases(lp, inputs)
    if phases == 3 and available_w < 3 * min_a * voltage and max_phases >= 1:
        if not inputs.enabled:
            return 1, timers  # nothing is charging: switching costs nothing
        if timers.phase_action is not PhaseAction.SCALE1P:
            timers = replace(timers, phase_timer=now, phase_action=PhaseAction.SCALE1P)
        if _fired(timers.phase_timer, lp.disable_delay_s, now):
            return 1, timers
        return 0, timers
    if phases == 1 and max_phases == 3 and available_w >= 3 * min_a * voltage:
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
    boost: Mapping[int, bool] | None = None,
) -> dict[int, Decision]:
    """Decide every loadpoint, higher priority first, sharing one site power budget.

    Each loadpoint sees the site power left after the loadpoints before it changed their consumption,
    and may claim the power of lower-priority PV loadpoints that are charging now (evcc's prioritizer).
    """
    priority = {i: effective_priority(settings[i], inputs[i].vehicle) for i in inputs}
    order = sorted(inputs, key=lambda i: (-priority[i], i))
    result: dict[int, Decision] = {}
    budget = site
    for index, lp_id in enumerate(order):
        lp = settings[lp_id]
        lp_inputs = inputs[lp_id]
        view = budget
        if view is not None and lp.mode is ChargeMode.PV:
            flexible = sum(
                inputs[other].charge_power_w
                for other in order[index + 1 :]
                if settings[other].mode is ChargeMode.PV and priority[other] < priority[lp_id]
            )
            view = replace(view, site_power_w=view.site_power_w - flexible)
        decision = decide(
            lp,
            lp_inputs,
            view,
            timers.get(lp_id, Timers()),
            now,
            boost_active=bool(boost and boost.get(lp_id)),
        )
        result[lp_id] = decision
        if budget is not None:
            phases = decision.phases or lp_inputs.phases_active or lp_inputs.physical_phases
            delta = decision.expected_power_w(lp_inputs.voltage_v, phases) - lp_inputs.charge_power_w
            budget = replace(budget, site_power_w=budget.site_power_w + delta)
    return result


# --- battery -------------------------------------------------------------------------------------------


def battery_mode(
    site: SiteSettings,
    *,
    fast_charging: bool,
    grid_price: float | None,
    battery_configured: bool,
    now: datetime,
) -> BatteryMode:
    """The mode the home battery should be in (evcc's battery mode logic, simplified).

    An external mode wins while it is fresh (60 s watchdog); grid charging below the price limit;
    holding the battery while a vehicle fast-charges when discharge control is on; else normal.
    """
    if not battery_configured:
        return BatteryMode.UNKNOWN
    external = site.battery_mode_external
    at = site.battery_mode_external_at
    if external is not None and at is not None and now - at < BATTERY_MODE_WATCHDOG:
        return external
    if (
        site.battery_grid_charge_limit is not None
        and grid_price is not None
        and grid_price <= site.battery_grid_charge_limit
    ):
        return BatteryMode.CHARGE
    if site.battery_discharge_control and fast_charging:
        return BatteryMode.HOLD
    return BatteryMode.NORMAL


def boost_active(lp: LoadpointSettings, battery_soc_pct: float | None) -> bool:
    """Battery boost runs while the battery is above the boost limit (100 % = off)."""
    if not lp.battery_boost or battery_soc_pct is None or lp.mode not in (ChargeMode.PV, ChargeMode.MINPV):
        return False
    return lp.battery_boost_limit < 100 and battery_soc_pct > lp.battery_boost_limit
