"""One control cycle: inputs + the controller's memory → decisions, commands, state and the next memory. Pure.

:func:`run_cycle` takes one :class:`CycleInputs` (configuration, settings, the frozen snapshot, the clock's
``now``) and one :class:`CycleMemory` (what earlier cycles remembered: timers, plan activity and locks, the
command in force, the charger status last seen) and returns the whole next memory in its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.optimizer.commands import Commanded, Outgoing, next_command
from services.optimizer.connection import ConnectionEvent, Transition, apply_transition, transition
from services.optimizer.control import (
    Boost,
    Calm,
    Decision,
    LoadpointInputs,
    Timers,
    battery_mode,
    decide_site,
    discharge_control_active,
    effective_max_current,
    effective_max_power,
    effective_min_current,
    effective_priority,
    floor_to_step,
    grid_charge_active,
    next_boost,
    on_connect,
)
from services.optimizer.facts import loadpoint_facts
from services.optimizer.limits import (
    LIMITED,
    PEAK,
    Demand,
    SiteLimits,
    allocate,
    circuit_states,
    headroom,
    limited,
    site_limits,
)
from services.optimizer.peak import PeakWindow, average_w
from services.optimizer.plans import GoalLock, PlanInputs, PlanState, evaluate
from services.optimizer.settings import LoadpointSettings, Settings, VehicleSettings
from services.optimizer.settle import charger_shows, current_step, site_settled
from services.optimizer.site import (
    SiteInputs,
    SitePower,
    effective_co2,
    effective_price,
    green_shares,
    home_power,
    site_power,
)
from services.optimizer.snapshot import (
    Snapshot,
    charge_power_w,
    charge_powers,
    current_rate,
    planner_rates,
    site_inputs,
    site_meters_read,
    vehicle_soc_pct,
)
from services.optimizer.state_view import LoadpointView, loadpoint_state, site_settings_state
from shared.config import Config
from shared.messages import ChargerStatus, Rate, RateSeries
from shared.state import LoadpointState, SiteState


@dataclass(frozen=True)
class CycleInputs:
    """Everything a cycle reads, frozen at its start."""

    config: Config
    settings: Settings
    defaults: Settings
    """The configured defaults (a disconnect restores the per-connection settings from them)."""
    snapshot: Snapshot
    now: datetime
    session_energy_wh: Mapping[int, float] = field(default_factory=dict)
    refresh: bool = False
    """Re-send every command in force (the tick), so the actuator's failsafe never trips while we live."""


@dataclass(frozen=True)
class LoadpointMemory:
    timers: Timers = field(default_factory=Timers)
    plan_active: bool = False
    lock: GoalLock | None = None
    """The SoC goal an active plan locked."""
    commanded: Commanded | None = None
    """The command in force (what the charger was last told)."""
    status: ChargerStatus | None = None
    """The charger status the last cycle saw: connect and disconnect are transitions from it."""
    shown_at: datetime | None = None
    """When the charger's readings first showed the command in force (None: not yet)."""
    boost: Boost = Boost.DISABLED
    view: LoadpointView | None = None
    """What the published state was built from last (it is rebuilt only when this changes)."""
    state: LoadpointState | None = None
    inputs_key: tuple[object, ...] = ()
    """What :attr:`base` was built from (the same objects: rebuilt only when one of them is replaced)."""
    base: LoadpointInputs | None = None
    dynamic: tuple[object, ...] = ()
    """The cycle's own facts that made :attr:`inputs` from :attr:`base` (command in force, plan, calm)."""
    inputs: LoadpointInputs | None = None


@dataclass(frozen=True)
class HomeValues:
    """Home power and the values derived with it, from the last snapshot whose readings belonged together."""

    at: datetime
    state: Mapping[str, object]
    green_share_loadpoints: float
    price_loadpoints: float | None
    co2_loadpoints: float | None


@dataclass(frozen=True)
class CycleMemory:
    loadpoints: Mapping[int, LoadpointMemory] = field(default_factory=dict)
    home: HomeValues | None = None
    peak: PeakWindow | None = None
    """The capacity tariff's running window (peak shaving)."""
    settled_at: datetime | None = None
    """The last cycle whose readings were settled (the settle time is counted from it, or from a change)."""

    def loadpoint(self, lp: int) -> LoadpointMemory:
        return self.loadpoints.get(lp) or LoadpointMemory()


@dataclass(frozen=True)
class LoadpointEval:
    plan: PlanState
    plan_active: bool
    smart_cost_active: bool


@dataclass(frozen=True)
class CycleResult:
    decisions: Mapping[int, Decision]
    loadpoints: Mapping[int, LoadpointEval]
    site_state: SiteState
    loadpoint_states: Mapping[int, LoadpointState]
    memory: CycleMemory
    """The memory the next cycle starts from."""
    commands: Mapping[int, Outgoing] = field(default_factory=dict)
    """Commands to publish now, per loadpoint."""
    settings_after: Settings | None = None
    """Settings the cycle changed itself (connect, disconnect, a finished plan deleted), else ``None``."""
    events: tuple[ConnectionEvent, ...] = ()
    green_share_loadpoints: float = 0.0
    price_loadpoints: float | None = None
    """currency/kWh effective price of charging now."""
    co2_loadpoints: float | None = None


def smart_cost(limit: float | None, rates: list[Rate] | None, now: datetime) -> tuple[bool, datetime | None]:
    """(price now is at or below the limit, start of the next slot at or below it)."""
    if limit is None or not rates:
        return False, None
    active = any(r.start <= now < r.end and r.value <= limit for r in rates)
    upcoming = [r.start for r in rates if r.start > now and r.value <= limit]
    return active, (min(upcoming) if upcoming else None)


def next_feed_in_priority(limit: float | None, feed_in: RateSeries | None, now: datetime) -> datetime | None:
    """Start of the next feed-in slot at or above the limit (evcc's smartFeedInPriorityNextStart)."""
    if limit is None or feed_in is None:
        return None
    upcoming = [r.start for r in feed_in.rates if r.start > now and r.value >= limit]
    return min(upcoming) if upcoming else None


def loadpoint_inputs(
    config: Config,
    settings: Settings,
    snapshot: Snapshot,
    lp_id: int,
    session_energy_wh: float,
) -> LoadpointInputs:
    lp = settings.loadpoints[lp_id]
    status = snapshot.chargers.get(lp_id)
    facts = loadpoint_facts(config, lp_id, status)
    vehicle = settings.vehicles.get(lp.vehicle) if lp.vehicle else None
    if status is None:
        return LoadpointInputs(
            id=lp_id, physical_phases=facts.physical_phases, switchable=facts.switchable, vehicle=vehicle,
            voltage_v=config.site.voltage_v,
        )  # fmt: skip
    currents = status.currents_a
    return LoadpointInputs(
        id=lp_id,
        connected=status.connected,
        charging=status.charging,
        enabled=status.enabled,
        offered_current_a=status.offered_current_a,
        phases_active=status.phases_active,
        phases_switched=status.phases_switched,
        charge_power_w=charge_power_w(config, snapshot, lp_id),
        max_phase_current_a=max(currents) if currents else None,
        vehicle_soc_pct=vehicle_soc_pct(snapshot, status, lp.vehicle),
        session_energy_wh=session_energy_wh,
        physical_phases=facts.physical_phases,
        switchable=facts.switchable,
        voltage_v=config.site.voltage_v,
        vehicle=vehicle,
    )


NO_PLAN = PlanState()


def has_plan(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> bool:
    """Whether any plan could apply (an energy plan, the vehicle's SoC plan or an active repeating one)."""
    if lp.energy_plan is not None:
        return True
    return vehicle is not None and (
        vehicle.plan is not None or any(p.active for p in vehicle.repeating_plans)
    )


def _inputs_key(
    config: Config, settings: Settings, snapshot: Snapshot, lp_id: int, session_wh: float
) -> tuple[object, ...]:
    lp = settings.loadpoints[lp_id]
    meter = config.loadpoints[lp_id - 1].meter
    return (
        snapshot.chargers.get(lp_id),
        lp,
        settings.vehicles.get(lp.vehicle) if lp.vehicle else None,
        snapshot.vehicles.get(lp.vehicle) if lp.vehicle else None,
        snapshot.meters.get(meter) if meter else None,
        session_wh,
    )


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """The same objects (identity: the snapshot and the settings replace what changed), the same number."""
    return len(a) == len(b) and all(
        x is y or (isinstance(x, float) and x == y) for x, y in zip(a, b, strict=True)
    )


def _finish_plan(settings: Settings, lp_id: int, lp: LoadpointSettings, state: PlanState) -> Settings:
    """Delete a finished static plan (the vehicle's SoC plan or the loadpoint's energy plan)."""
    goal = state.goal
    if goal is None or goal.id != 1:
        return settings
    if goal.soc is not None and lp.vehicle and lp.vehicle in settings.vehicles:
        vehicle = settings.vehicles[lp.vehicle]
        return settings.with_vehicle(lp.vehicle, vehicle.model_copy(update={"plan": None}))
    if goal.energy_kwh is not None:
        return settings.with_loadpoint(lp_id, lp.model_copy(update={"energy_plan": None}))
    return settings


def _connections(
    inputs: CycleInputs, memory: CycleMemory
) -> tuple[Settings, dict[int, Timers], list[ConnectionEvent]]:
    """Apply connect/disconnect transitions since the last cycle: settings and PV timers."""
    settings = inputs.settings
    timers: dict[int, Timers] = {}
    events: list[ConnectionEvent] = []
    for lp_id in settings.loadpoints:
        remembered = memory.loadpoint(lp_id)
        status = inputs.snapshot.chargers.get(lp_id)
        kind = transition(remembered.status, status)
        lp_timers = remembered.timers
        if kind is not None and status is not None:
            settings = apply_transition(settings, inputs.defaults, lp_id, kind, status)
            if kind in (Transition.FIRST_SEEN, Transition.CONNECTED):
                lp_timers = on_connect(lp_timers)
            if kind is not Transition.FIRST_SEEN:
                events.append(ConnectionEvent(lp_id, kind, settings.loadpoints[lp_id].vehicle))
        timers[lp_id] = lp_timers
    return settings, timers, events


def settle_timeout(config: Config, lp_id: int) -> timedelta:
    own = config.loadpoints[lp_id - 1].settle_timeout_s
    return timedelta(seconds=own if own is not None else config.optimizer.control.settle_timeout_s)


@dataclass(frozen=True)
class Settling:
    """Whether this cycle's readings show the commands in force (services/optimizer/settle.py)."""

    shown_at: Mapping[int, datetime | None]
    settled: bool
    """Every charger shows its command and the site meters' readings belong together after that."""
    quiet_since: datetime | None
    """Since when the readings have been waited for: the later of the last settled snapshot and the latest
    change commanded to any charger (None: neither yet, as after a start)."""
    longest_timeout: timedelta
    timeouts: Mapping[int, timedelta]

    def calm(
        self, config: Config, lp_id: int, status: ChargerStatus | None, last: Commanded | None, now: datetime
    ) -> Calm:
        """Settled PV control's facts for one loadpoint: settled, or the wait for it has been long enough."""
        timeout = self.timeouts[lp_id]
        waited = self.quiet_since is None or now - self.quiet_since >= timeout
        lp_config = config.loadpoints[lp_id - 1]
        control = config.optimizer.control
        return Calm(
            settled=self.settled or waited,
            recent=last is not None and (now - last.at).total_seconds() < control.adjust_interval_s,
            step_a=current_step(status),
            deadband_w=lp_config.deadband_w if lp_config.deadband_w is not None else control.deadband_w,
            adjust_interval_s=control.adjust_interval_s,
        )

    def coherent(self, home: HomeValues | None, now: datetime) -> bool:
        """Home power may be computed now: the readings belong together, or there is no value yet (a first
        one cannot jump), or the last one is older than the settle time."""
        return self.settled or home is None or now - home.at >= self.longest_timeout


def _settling(inputs: CycleInputs, memory: CycleMemory) -> Settling:
    config, snapshot, now = inputs.config, inputs.snapshot, inputs.now
    tolerance = config.optimizer.control.stable_w
    shown_at: dict[int, datetime | None] = {}
    chargers_shown = True
    since: datetime | None = None
    last_change: datetime | None = None
    timeouts = {i: settle_timeout(config, i) for i in inputs.settings.loadpoints}
    for lp_id in inputs.settings.loadpoints:
        remembered = memory.loadpoint(lp_id)
        commanded = remembered.commanded
        shown = remembered.shown_at
        status = snapshot.chargers.get(lp_id)
        if commanded is not None:
            last_change = commanded.at if last_change is None else max(last_change, commanded.at)
            if shown is None and status is not None:
                previous = snapshot.previous_chargers.get(lp_id)
                shown = charger_shows(commanded, status, previous, tolerance)
            if shown is None:
                chargers_shown = chargers_shown and now - commanded.at >= timeouts[lp_id]
            else:
                since = shown if since is None else max(since, shown)
        shown_at[lp_id] = shown
    settled = chargers_shown and site_settled(config, snapshot, since, tolerance)
    longest = max(timeouts.values(), default=timedelta(seconds=config.optimizer.control.settle_timeout_s))
    quiet = [t for t in (memory.settled_at, last_change) if t is not None]
    return Settling(shown_at, settled, max(quiet) if quiet else None, longest, timeouts)


def _limit_state(config: Config, limits: SiteLimits, peak_active: bool, now: datetime) -> dict[str, object]:
    """The site keys of load management: circuits, §14a dimming, peak shaving."""
    values: dict[str, object] = {
        "dimmed": limits.dimmed,
        "dimmedPower": config.dimming.max_power_w,
        "peakShavingLimit": limits.peak_limit_w,
        "peakShavingWindow": config.peak_shaving.window_s,
        "peakShavingActive": peak_active,
    }
    if config.circuits:
        values["circuits"] = circuit_states(config, limits.circuits)
    if limits.window is not None:
        values["peakShavingAverage"] = round(average_w(limits.window, now), 1)
    return values


def _phases(decision: Decision, inputs: LoadpointInputs) -> int:
    """The phases a decision charges on."""
    return decision.phases or inputs.phases_active or inputs.physical_phases


def _demands(
    settings: Settings, inputs: Mapping[int, LoadpointInputs], decisions: Mapping[int, Decision]
) -> list[Demand]:
    out = []
    for lp_id, decision in decisions.items():
        lp, lp_in = settings.loadpoints[lp_id], inputs[lp_id]
        out.append(
            Demand(
                lp=lp_id,
                priority=effective_priority(lp, lp_in.vehicle),
                current_a=decision.current_a if decision.enabled else 0.0,
                phases=_phases(decision, lp_in),
                min_a=effective_min_current(lp, lp_in.vehicle),
                max_a=effective_max_current(lp, lp_in.vehicle),
                voltage_v=lp_in.voltage_v,
                switchable=lp_in.switchable and lp.phases_configured == 0,
            )
        )
    return out


def run_cycle(inputs: CycleInputs, memory: CycleMemory) -> CycleResult:
    """One control cycle over a frozen snapshot and the memory of the cycles before."""
    config, snapshot, now = inputs.config, inputs.snapshot, inputs.now
    settings, timers, events = _connections(inputs, memory)
    powers = charge_powers(config, snapshot)
    site_in: SiteInputs | None = site_inputs(config, snapshot, powers)
    power: SitePower | None = site_power(site_in, settings.site) if site_in is not None else None
    rates, _ = planner_rates(snapshot)
    grid_price = current_rate(snapshot.tariffs.get("grid"), now)
    feed_in_price = current_rate(snapshot.tariffs.get("feedin"), now)
    co2 = current_rate(snapshot.tariffs.get("co2"), now)

    settling = _settling(inputs, memory)
    site_limits_now = site_limits(config, settings.site, snapshot, memory.peak, now, powers)
    room_3p = headroom(
        site_limits_now.limits, site_limits_now.present(snapshot, powers), 3, config.site.voltage_v
    )

    lp_inputs: dict[int, LoadpointInputs] = {}
    bases: dict[int, tuple[tuple[object, ...], LoadpointInputs]] = {}
    dynamics: dict[int, tuple[object, ...]] = {}
    locks: dict[int, GoalLock | None] = {}
    evals: dict[int, LoadpointEval] = {}
    boosts: dict[int, Boost] = {}
    next_starts: dict[int, datetime | None] = {}
    feed_in_active: dict[int, bool] = {}
    updated = settings
    for lp_id, lp in settings.loadpoints.items():
        remembered = memory.loadpoint(lp_id)
        session_wh = inputs.session_energy_wh.get(lp_id, 0.0)
        key = _inputs_key(config, settings, snapshot, lp_id, session_wh)
        if remembered.base is not None and _same(remembered.inputs_key, key):
            base = remembered.base  # nothing it is built from changed (a depot's loadpoints mostly)
        else:
            base = loadpoint_inputs(config, settings, snapshot, lp_id, session_wh)
        bases[lp_id] = (key, base)
        last = remembered.commanded
        # The command in force is the controller's memory (commands.py): the status shows it a moment later.
        in_force = last is not None and base.connected
        plan_state = (
            NO_PLAN
            if remembered.lock is None and not has_plan(lp, base.vehicle)
            else evaluate(
                lp,
                base.vehicle,
                PlanInputs(
                    connected=base.connected,
                    vehicle_soc_pct=base.vehicle_soc_pct,
                    session_energy_wh=base.session_energy_wh,
                    max_power_w=effective_max_power(lp, base),
                    was_active=remembered.plan_active,
                ),
                rates,
                now,
                remembered.lock,
            )
        )
        locks[lp_id] = plan_state.lock
        if plan_state.finished:
            updated = _finish_plan(updated, lp_id, updated.loadpoints[lp_id], plan_state)
        cost_active, next_start = smart_cost(lp.smart_cost_limit, rates, now)
        feed_in = (
            lp.smart_feed_in_priority_limit is not None
            and feed_in_price is not None
            and feed_in_price >= lp.smart_feed_in_priority_limit
        )
        dynamic = (
            last.enabled if in_force and last is not None else base.enabled,
            (last.current_a if last.enabled else 0.0)
            if in_force and last is not None
            else base.offered_current_a,
            plan_state.active,
            cost_active,
            feed_in,
            settling.calm(config, lp_id, snapshot.chargers.get(lp_id), last, now),
            room_3p.get(lp_id),
        )
        previous = remembered.inputs
        if previous is not None and remembered.base is base and remembered.dynamic == dynamic:
            lp_inputs[lp_id] = previous
        else:
            enabled, offered, plan_active, smart_cost_active, smart_feed_in_active, calm, room = dynamic
            lp_inputs[lp_id] = replace(
                base,
                enabled=enabled,
                offered_current_a=offered,
                plan_active=plan_active,
                smart_cost_active=smart_cost_active,
                smart_feed_in_active=smart_feed_in_active,
                calm=calm,
                three_phase_room_a=room,
            )
        dynamics[lp_id] = dynamic
        evals[lp_id] = LoadpointEval(plan_state, plan_state.active, cost_active)
        boosts[lp_id] = next_boost(remembered.boost, lp, site_in.battery_soc_pct if site_in else None)
        next_starts[lp_id] = next_start
        feed_in_active[lp_id] = feed_in

    wished = decide_site(settings.loadpoints, lp_inputs, power, timers, now, boost=boosts)
    allowances = allocate(site_limits_now.limits, _demands(settings, lp_inputs, wished))
    decisions = {
        lp_id: limited(
            decision,
            allowances[lp_id],
            memory.loadpoint(lp_id).commanded,
            lp_inputs[lp_id].calm,
            effective_min_current(settings.loadpoints[lp_id], lp_inputs[lp_id].vehicle),
            _phases(decision, lp_inputs[lp_id]) * lp_inputs[lp_id].voltage_v,
            lp_inputs[lp_id].offered_current_a if lp_inputs[lp_id].enabled else 0.0,
        )
        for lp_id, decision in wished.items()
    }

    # Site values.
    site_values: dict[str, object] = site_settings_state(
        settings.site,
        battery_configured=bool(site_in and site_in.battery_soc_pct is not None) or bool(config.site.battery),
    )
    home_values = memory.home
    if (
        site_in is not None
        and power is not None
        and site_meters_read(config, snapshot)
        and settling.coherent(memory.home, now)
    ):
        home = home_power(site_in, power.grid_power_w)
        shares = green_shares(site_in, home)
        home_values = HomeValues(
            at=now,
            state={
                "homePower": home,
                "greenShareHome": shares.home,
                "greenShareLoadpoints": shares.loadpoints,
                "tariffPriceHome": effective_price(grid_price, feed_in_price, shares.home),
                "tariffPriceLoadpoints": effective_price(grid_price, feed_in_price, shares.loadpoints),
                "tariffCo2Home": effective_co2(co2, shares.home),
                "tariffCo2Loadpoints": effective_co2(co2, shares.loadpoints),
            },
            green_share_loadpoints=shares.loadpoints,
            price_loadpoints=effective_price(grid_price, feed_in_price, shares.loadpoints),
            co2_loadpoints=effective_co2(co2, shares.loadpoints),
        )
    if site_in is not None and home_values is not None:
        site_values.update(home_values.state)
    battery_configured = bool(config.site.battery) or bool(site_in and site_in.battery_power_w is not None)
    peak_active = site_limits_now.peak_allowed_w is not None and (
        any(a.limited_by == PEAK for a in allowances.values())
        or site_limits_now.peak_base_w > site_limits_now.peak_allowed_w
    )
    grid_charge = grid_charge_active(settings.site, grid_price)
    site_values["batteryMode"] = battery_mode(
        settings.site,
        discharge_control=discharge_control_active(settings.site, settings.loadpoints, lp_inputs),
        grid_charge=grid_charge,
        battery_configured=battery_configured,
        now=now,
        dimmed=site_limits_now.dimmed,
        peak_shaving=peak_active,
        peak_battery=config.peak_shaving.battery,
    )
    if battery_configured:
        site_values["batteryGridChargeActive"] = grid_charge
    site_values.update(_limit_state(config, site_limits_now, peak_active, now))
    site_state = SiteState.model_validate(site_values)

    lp_states: dict[int, LoadpointState] = {}
    commands: dict[int, Outgoing] = {}
    command_interval = timedelta(seconds=config.optimizer.control.command_interval_s)
    next_memory: dict[int, LoadpointMemory] = {}
    for lp_id, lp in settings.loadpoints.items():
        status = snapshot.chargers.get(lp_id)
        decision = decisions[lp_id]
        view = LoadpointView(
            id=lp_id,
            title=config.loadpoints[lp_id - 1].title,
            settings=lp,
            inputs=lp_inputs[lp_id],
            decision=decision,
            plan=evals[lp_id].plan,
            smart_cost_active=evals[lp_id].smart_cost_active,
            smart_cost_next_start=next_starts[lp_id],
            smart_feed_in_active=feed_in_active[lp_id],
            smart_feed_in_next_start=next_feed_in_priority(
                lp.smart_feed_in_priority_limit, snapshot.tariffs.get("feedin"), now
            ),
            vehicle_identity=status.identifier if status else None,
            dimmed=site_limits_now.dimmed and lp_id in site_limits_now.dimmed_loadpoints,
            limited_by=decision.case.removeprefix(LIMITED) if decision.case.startswith(LIMITED) else "",
            vehicle_reading=snapshot.vehicles.get(lp.vehicle) if lp.vehicle else None,
        )
        remembered = memory.loadpoint(lp_id)
        commanded = remembered.commanded
        # A depot's loadpoints mostly stay as they were: build the state model only when its facts changed.
        state = remembered.state if remembered.view == view and remembered.state is not None else None
        lp_states[lp_id] = state or loadpoint_state(view)
        shown_at = settling.shown_at.get(lp_id)
        # No command before the charger's status is known: after a restart a blind "disabled" would
        # interrupt a charge that the next status would have let run on.
        ceiling = allowances[lp_id].ceiling_a
        outgoing = (
            next_command(
                commanded,
                decision,
                now,
                refresh=inputs.refresh,
                interval=command_interval,
                ceiling_a=None if ceiling is None else floor_to_step(ceiling, lp_inputs[lp_id].calm.step_a),
            )
            if status
            else None
        )
        if outgoing is not None:
            if outgoing.changed:
                shown_at = None
            commands[lp_id] = outgoing
            commanded = outgoing.command
        next_memory[lp_id] = LoadpointMemory(
            timers=decision.timers,
            plan_active=evals[lp_id].plan_active,
            lock=locks[lp_id],
            commanded=commanded,
            status=status,
            shown_at=shown_at,
            view=view,
            state=lp_states[lp_id],
            inputs_key=bases[lp_id][0],
            base=bases[lp_id][1],
            dynamic=dynamics[lp_id],
            inputs=lp_inputs[lp_id],
            boost=Boost.CONTINUE
            if boosts[lp_id] is Boost.START and lp_inputs[lp_id].charging
            else boosts[lp_id],
        )
    return CycleResult(
        decisions=decisions,
        loadpoints=evals,
        site_state=site_state,
        loadpoint_states=lp_states,
        memory=CycleMemory(
            next_memory,
            home_values,
            site_limits_now.window,
            now if settling.settled else memory.settled_at,
        ),
        commands=commands,
        settings_after=updated if updated != inputs.settings else None,
        events=tuple(events),
        green_share_loadpoints=home_values.green_share_loadpoints if home_values else 0.0,
        price_loadpoints=home_values.price_loadpoints if home_values else None,
        co2_loadpoints=home_values.co2_loadpoints if home_values else None,
    )
