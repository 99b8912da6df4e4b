"""Load management (pure): circuits, §14a dimming and peak shaving as limits on the loadpoints' currents.

Every limit is a node over a set of loadpoints with a maximum current per phase and/or a maximum power and
the load under it that is not a loadpoint's (its *base*): a circuit's base is what its meter measures minus
its loadpoints' own readings (without a meter: its sub-circuits' bases); §14a dimming counts only the
controllable loadpoints (base 0); peak shaving has the grid meter's import minus every loadpoint as base.
:func:`allocate` shares the room of every limit between the loadpoints in priority order — a higher
priority is served first, from the whole room, so it takes current from a lower priority that is drawing
it now — and :func:`limited` turns a loadpoint's decision into one that fits: a reduction goes out at once
(a safety change, with a reserve so a fluctuating base does not hunt), a loosening comes back as calmly as a
PV adjustment. A loadpoint that cannot get its minimum current is switched off, or to one phase when its
charger can switch and one phase fits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.optimizer.commands import Commanded
from services.optimizer.control import Calm, Decision, floor_to_step
from services.optimizer.peak import PeakWindow, advance, allowed_import_w
from services.optimizer.settings import SiteSettings
from services.optimizer.snapshot import Snapshot, charge_powers, grid_meter_names, usable
from shared.config import Config
from shared.config_limits import CircuitConfig
from shared.messages import ChargerStatus, MeterReading
from shared.state import CircuitState

Phases3 = tuple[float, float, float]
ZERO: Phases3 = (0.0, 0.0, 0.0)
RESERVE_A = 0.5
"""A limit that forces a reduction leaves this much room per phase, so a base that moves by a few tenths
of an ampere does not make the current go down and up again."""
DIMMING = "dimming"
PEAK = "peakShaving"
LIMITED = "limit:"
"""Prefix of the decision cases a limit made (``limit:circuit:<name>``, ``limit:dimming`` …)."""


@dataclass(frozen=True)
class Limit:
    key: str
    """``circuit:<name>``, ``dimming`` or ``peakShaving``."""
    loadpoints: frozenset[int]
    max_current_a: float | None = None
    """A per phase (None = no current limit)."""
    max_power_w: float | None = None
    """W (None = no power limit)."""
    base_a: Phases3 = ZERO
    base_w: float = 0.0
    full: bool = False
    """The limit cannot be judged (its meter is not read): nothing under it may draw."""


@dataclass(frozen=True)
class Demand:
    lp: int
    priority: int
    current_a: float
    """A per phase the decision wants (0 = off)."""
    phases: int
    min_a: float
    max_a: float
    voltage_v: float
    switchable: bool = False


@dataclass(frozen=True)
class Allowance:
    ceiling_a: float | None
    """The most current per phase every limit allows at ``phases`` (None: no limit applies)."""
    phases: int
    limited_by: str | None = None
    """The limit that holds the current below the wish."""
    one_phase: bool = False
    """The limits leave room only for one phase: a switchable charger drops to it."""


# --- measuring -------------------------------------------------------------------------------------------


def signed_currents(reading: MeterReading) -> Phases3 | None:
    """A per phase, signed by the phase power where the meter measures it (evcc: import > 0)."""
    if reading.currents_a is None:
        return None
    if reading.powers_w is None:
        return reading.currents_a
    return tuple(  # type: ignore[return-value]
        math.copysign(abs(i), p) for i, p in zip(reading.currents_a, reading.powers_w, strict=True)
    )


def draw_a(status: ChargerStatus | None) -> Phases3:
    """A per phase a loadpoint draws now: its measured currents, else its offered current on its phases."""
    if status is None:
        return ZERO
    if status.currents_a is not None:
        return status.currents_a
    if not status.charging:
        return ZERO
    phases = max(1, min(3, status.phases_active or 3))
    current = status.offered_current_a
    return (current, current if phases >= 2 else 0.0, current if phases >= 3 else 0.0)


def _add(a: Phases3, b: Phases3, sign: float = 1.0) -> Phases3:
    return (a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2])


def _subtree(circuits: Sequence[CircuitConfig]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {c.name: [] for c in circuits}
    for c in circuits:
        if c.parent is not None:
            children[c.parent].append(c.name)
    return children


def circuit_loadpoints(config: Config) -> dict[str, frozenset[int]]:
    """The loadpoints under each circuit, directly or through its sub-circuits."""
    children = _subtree(config.circuits)
    direct: dict[str, set[int]] = {c.name: set() for c in config.circuits}
    for index, lp in enumerate(config.loadpoints, start=1):
        if lp.circuit is not None:
            direct[lp.circuit].add(index)

    def below(name: str) -> set[int]:
        found = set(direct[name])
        for child in children[name]:
            found |= below(child)
        return found

    return {name: frozenset(below(name)) for name in direct}


@dataclass(frozen=True)
class CircuitReading:
    """What one circuit carries now (W, A per phase) and what of it is not a loadpoint's."""

    power_w: float
    currents_a: Phases3
    base_w: float
    base_a: Phases3
    error: str | None = None


def measure_circuits(
    config: Config,
    snapshot: Snapshot,
    powers: Mapping[int, float] | None = None,
    under: Mapping[str, frozenset[int]] | None = None,
) -> dict[str, CircuitReading]:
    """Each circuit's load: its meter where it has one, else its loadpoints' and sub-circuits' loads."""
    children = _subtree(config.circuits)
    under = under if under is not None else circuit_loadpoints(config)
    powers = powers if powers is not None else charge_powers(config, snapshot)
    by_name = {c.name: c for c in config.circuits}
    direct = {
        name: [lp for lp in lps if config.loadpoints[lp - 1].circuit == name] for name, lps in under.items()
    }
    out: dict[str, CircuitReading] = {}

    def lp_load(lps: Iterable[int]) -> tuple[float, Phases3]:
        power, currents = 0.0, ZERO
        for lp in lps:
            power += powers[lp]
            currents = _add(currents, draw_a(snapshot.chargers.get(lp)))
        return power, currents

    def measure(name: str) -> CircuitReading:
        if name in out:
            return out[name]
        circuit = by_name[name]
        subs = [measure(child) for child in children[name]]
        if circuit.meter is None:
            own_w, own_a = lp_load(direct[name])
            power = own_w + sum(s.power_w for s in subs)
            currents = own_a
            for sub in subs:
                currents = _add(currents, sub.currents_a)
            base_w = sum(s.base_w for s in subs)
            base_a = ZERO
            for sub in subs:
                base_a = _add(base_a, sub.base_a)
            error = next((s.error for s in subs if s.error), None)
            result = CircuitReading(power, currents, base_w, base_a, error)
        else:
            reading = snapshot.meters.get(circuit.meter)
            if not usable(reading) or reading is None:
                result = CircuitReading(0.0, ZERO, 0.0, ZERO, f"meter {circuit.meter!r} not read")
            else:
                measured = signed_currents(reading)
                all_w, all_a = lp_load(under[name])
                power = reading.power_w or 0.0
                currents = measured if measured is not None else all_a
                if circuit.max_current_a > 0 and measured is None:
                    error = f"meter {circuit.meter!r} measures no phase currents"
                    result = CircuitReading(power, currents, power - all_w, ZERO, error)
                else:
                    result = CircuitReading(power, currents, power - all_w, _add(currents, all_a, -1.0))
        out[name] = result
        return result

    for name in by_name:
        measure(name)
    return out


def circuit_limits(
    config: Config, readings: Mapping[str, CircuitReading], under: Mapping[str, frozenset[int]] | None = None
) -> list[Limit]:
    under = under if under is not None else circuit_loadpoints(config)
    return [
        Limit(
            key=f"circuit:{c.name}",
            loadpoints=under[c.name],
            max_current_a=c.max_current_a or None,
            max_power_w=c.max_power_w or None,
            base_a=readings[c.name].base_a,
            base_w=readings[c.name].base_w,
            full=readings[c.name].error is not None,
        )
        for c in config.circuits
        if c.max_current_a > 0 or c.max_power_w > 0
    ]


def circuit_states(config: Config, readings: Mapping[str, CircuitReading]) -> dict[str, CircuitState]:
    """``site/circuits/<name>`` as evcc publishes it (``current`` only with a current limit)."""
    return {
        c.name: CircuitState(
            title=c.title or c.name,
            parent=c.parent or "",
            power=round(readings[c.name].power_w, 1),
            current=round(max(readings[c.name].currents_a), 2) if c.max_current_a > 0 else None,
            maxPower=c.max_power_w,
            maxCurrent=c.max_current_a,
            error=readings[c.name].error or "",
        )
        for c in config.circuits
    }


# --- sharing ---------------------------------------------------------------------------------------------


class _Room:
    """A limit's room while it is shared out: what the loadpoints took so far (A per phase, W)."""

    __slots__ = ("limit", "u1", "u2", "u3", "used_w")

    def __init__(self, limit: Limit, used_a: Phases3 = ZERO, used_w: float = 0.0) -> None:
        self.limit = limit
        self.u1, self.u2, self.u3 = used_a
        self.used_w = used_w

    @property
    def used_a(self) -> Phases3:
        return (self.u1, self.u2, self.u3)

    def ceiling(self, phases: int, voltage_v: float) -> float:
        limit = self.limit
        if limit.full:
            return 0.0
        ceiling = math.inf
        if limit.max_current_a is not None:
            top, base = limit.max_current_a, limit.base_a
            ceiling = top - base[0] - self.u1
            if phases > 1:
                ceiling = min(ceiling, top - base[1] - self.u2, top - base[2] - self.u3)
        if limit.max_power_w is not None:
            room = limit.max_power_w - limit.base_w - self.used_w
            ceiling = min(ceiling, room / (phases * voltage_v))
        return max(0.0, ceiling)

    def take(self, current_a: float, phases: int, voltage_v: float) -> None:
        self.u1 += current_a
        if phases > 1:
            self.u2 += current_a
            self.u3 += current_a
        self.used_w += current_a * phases * voltage_v

    def add(self, currents: Phases3, power_w: float, sign: float = 1.0) -> None:
        self.u1 += sign * currents[0]
        self.u2 += sign * currents[1]
        self.u3 += sign * currents[2]
        self.used_w += sign * power_w


def _ceiling(rooms: Sequence[_Room], phases: int, voltage_v: float) -> tuple[float, str | None]:
    best, by = math.inf, None
    for room in rooms:
        value = room.ceiling(phases, voltage_v)
        if value < best:
            best, by = value, room.limit.key
    return best, by


def by_loadpoint(limits: Sequence[Limit]) -> dict[int, list[int]]:
    """The indices of the limits over each loadpoint (one pass over the limits' members)."""
    index: dict[int, list[int]] = {}
    for position, limit in enumerate(limits):
        for lp in limit.loadpoints:
            index.setdefault(lp, []).append(position)
    return index


def allocate(limits: Sequence[Limit], demands: Iterable[Demand]) -> dict[int, Allowance]:
    """Share every limit's room between the loadpoints, higher priority first (then lower id)."""
    rooms = [_Room(limit) for limit in limits]
    members = by_loadpoint(limits)
    out: dict[int, Allowance] = {}
    for demand in sorted(demands, key=lambda d: (-d.priority, d.lp)):
        mine = [rooms[i] for i in members.get(demand.lp, ())]
        if not mine:
            out[demand.lp] = Allowance(None, demand.phases)
            continue
        phases = demand.phases
        ceiling, by = _ceiling(mine, phases, demand.voltage_v)
        granted = min(demand.current_a, ceiling)
        if demand.current_a > 0 and granted < demand.min_a and demand.switchable and phases == 3:
            single, single_by = _ceiling(mine, 1, demand.voltage_v)
            if single >= demand.min_a:
                phases, ceiling, by = 1, single, single_by
                granted = min(demand.current_a * 3, demand.max_a, single)
        if granted < demand.min_a:
            granted = 0.0
        for room in mine:
            room.take(granted, phases, demand.voltage_v)
        switched = phases != demand.phases
        binding = demand.current_a > ceiling + 1e-9 or switched
        out[demand.lp] = Allowance(
            None if math.isinf(ceiling) else ceiling, phases, by if binding else None, one_phase=switched
        )
    return out


def headroom(
    limits: Sequence[Limit], present: Mapping[int, tuple[Phases3, float]], phases: int, voltage_v: float
) -> dict[int, float]:
    """A per phase each loadpoint could draw on ``phases`` with every other loadpoint drawing what it
    draws now (``present``: A per phase, W); loadpoints under no limit are left out (evcc's
    ``circuitAllowsPhases``)."""
    members = by_loadpoint(limits)
    rooms = [_Room(limit) for limit in limits]
    for lp, (currents, power) in present.items():
        for i in members.get(lp, ()):
            rooms[i].add(currents, power)
    out: dict[int, float] = {}
    for lp, positions in members.items():
        currents, power = present.get(lp, (ZERO, 0.0))
        mine = [rooms[i] for i in positions]
        for room in mine:
            room.add(currents, power, -1.0)  # everyone else's draw: leave the loadpoint's own out
        out[lp] = _ceiling(mine, phases, voltage_v)[0]
        for room in mine:
            room.add(currents, power)
    return out


def limited(
    decision: Decision,
    allowance: Allowance,
    last: Commanded | None,
    calm: Calm,
    min_a: float,
    phase_v: float,
    in_force: float | None = None,
) -> Decision:
    """The decision made to fit the limits: reduced at once, loosened calmly (module docstring).

    ``in_force`` is the current the charger has now (A, 0 when disabled; default: the last command's)."""
    if in_force is None:
        in_force = last.current_a if last is not None and last.enabled else 0.0
    was_limited = last is not None and last.case.startswith(LIMITED)
    recent = calm.recent
    deadband_a = max(calm.deadband_w / phase_v, calm.step_a)
    wish = decision.current_a if decision.enabled else 0.0
    ceiling = allowance.ceiling_a
    phases = 1 if allowance.one_phase else decision.phases
    if allowance.limited_by is not None and ceiling is not None:
        case = LIMITED + allowance.limited_by
        target = ceiling if ceiling >= in_force else max(0.0, ceiling - RESERVE_A)
        if target < min_a <= ceiling:
            target = min_a  # the reserve never switches off a charge that fits at its minimum
        target = floor_to_step(target, calm.step_a)
        # More room shows only in readings that belong together (a meter read while a car ramps would
        # show room that is not there).
        hold = recent or not calm.settled
        if in_force > 0 and target >= in_force and was_limited:
            if target - in_force < deadband_a or hold:
                target = in_force
        elif in_force == 0 and was_limited and (ceiling < min_a + RESERVE_A or hold):
            target = 0.0
        if target < min_a:
            return replace(decision, enabled=False, current_a=0.0, phases=0, case=case, safety=in_force > 0)
        return replace(decision, enabled=True, current_a=target, phases=phases, case=case,
                        safety=target < in_force)  # fmt: skip
    if was_limited and (recent or not calm.settled) and wish > in_force:
        # A limit let go: come back as calmly as a PV adjustment.
        if in_force == 0:
            return replace(decision, enabled=False, current_a=0.0, phases=0, case=last.case if last else "")
        return replace(decision, current_a=in_force, case=last.case if last else decision.case)
    return decision


# --- the site's limits in one cycle ---------------------------------------------------------------------


@dataclass(frozen=True)
class SiteLimits:
    """Every limit that applies in this cycle, what the circuits carry, and the state they publish."""

    limits: tuple[Limit, ...]
    circuits: Mapping[str, CircuitReading]
    dimmed: bool
    dimmed_loadpoints: frozenset[int]
    window: PeakWindow | None
    peak_limit_w: float
    peak_allowed_w: float | None
    """W of import the window still allows now (None: peak shaving off or no grid reading)."""
    peak_base_w: float = 0.0

    def present(self, snapshot: Snapshot, powers: Mapping[int, float]) -> dict[int, tuple[Phases3, float]]:
        """What each loadpoint draws now (A per phase, W)."""
        return {lp: (draw_a(snapshot.chargers.get(lp)), power) for lp, power in powers.items()}


def dimming_signal(config: Config, site: SiteSettings, snapshot: Snapshot, now: datetime) -> bool:
    """Dimmed by the setter, by the relay input the meter-reader reads (``dimming.meter``), or by a fresh
    external signal (``chargebus/signals/dimming*``, the MQTT topic)."""
    if site.dimmed:
        return True
    relay = snapshot.meters.get(config.dimming.meter) if config.dimming.meter else None
    if relay is not None and relay.power_w:
        return True  # a stale reading keeps its last value: the operator's order stands until known
    timeout = config.dimming.topic_timeout_s
    for name, signal in snapshot.signals.items():
        if not name.startswith(DIMMING) or not signal.active:
            continue
        if timeout > 0 and now - signal.timestamp > timedelta(seconds=timeout):
            continue
        return True
    return False


def site_limits(
    config: Config,
    site: SiteSettings,
    snapshot: Snapshot,
    window: PeakWindow | None,
    now: datetime,
    powers: Mapping[int, float] | None = None,
) -> SiteLimits:
    powers = powers if powers is not None else charge_powers(config, snapshot)
    under = circuit_loadpoints(config)
    readings = measure_circuits(config, snapshot, powers, under)
    limits = circuit_limits(config, readings, under)
    every = frozenset(range(1, len(config.loadpoints) + 1))
    dimmed = dimming_signal(config, site, snapshot, now)
    controllable = frozenset(config.dimming.loadpoints) if config.dimming.loadpoints else every
    if dimmed:
        limits.append(Limit(DIMMING, controllable, max_power_w=config.dimming.max_power_w))
    limit_w = site.peak_shaving_limit_w
    allowed: float | None = None
    base = 0.0
    names = grid_meter_names(config, snapshot)
    grid = snapshot.meters.get(names[0]) if names else None
    if limit_w > 0 and usable(grid) and grid is not None:
        window_s = config.peak_shaving.window_s
        window = advance(window, grid.power_w, grid.timestamp, window_s)
        allowed = allowed_import_w(window, limit_w, window_s, now)
        base = (grid.power_w or 0.0) - sum(powers.values())
        limits.append(Limit(PEAK, every, max_power_w=allowed, base_w=base))
    elif limit_w <= 0:
        window = None
    return SiteLimits(tuple(limits), readings, dimmed, controllable, window, limit_w, allowed, base)
