"""The physics of the simulated home: pure functions of time and state, and the stepper that applies them.

Sign conventions (also in docs/simulator.md):
- ``grid_w`` > 0 imports from the grid, < 0 feeds in.
- ``pv_w`` ≥ 0 is AC production.
- ``battery_w`` > 0 discharges into the house, < 0 charges (evcc's convention).
- Measuring points (:class:`MeterPoint`) count *consumption-positive*: power flowing from the house bus into
  the measured thing (grid: import; pv: −production; battery: charging; charge: wallbox consumption).

Balance, per phase and in total: ``grid = house + Σ wallboxes − pv − battery``.

Dynamics, as in a real home (each off when its scenario value is 0): a car ramps its current towards what it
is offered (``cars[].ramp_a_per_s``) and stops at once; the battery is a zero-export controller whose power
follows its target with a time constant (``battery.response_s``); every meter shows the actual flow sampled
at its own update rate (``meters.<point>``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from services.simulator.scenario import (
    BatteryScenario,
    CarScenario,
    HouseScenario,
    Scenario,
    SunScenario,
    Window,
)

Status = Literal["A", "B", "C"]
Phases3 = tuple[float, float, float]
MIN_CHARGE_CURRENT_A = 6.0
"""IEC 61851: a car does not draw below 6 A offered."""


def _hours(local: time) -> float:
    return float(local.hour) + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9


# ----------------------------------------------------------------------------------------------- pure parts


def pv_power_w(local: datetime, sun: SunScenario) -> float:
    """Clear-sky PV power (W) on a half-sine from sunrise to sunset, dimmed by any active cloud."""
    rise, set_, now = _hours(sun.sunrise), _hours(sun.sunset), _hours(local.time())
    if now <= rise or now >= set_:
        return 0.0
    clear: float = sun.peak_w * math.sin(math.pi * (now - rise) / (set_ - rise)) ** 1.5
    factor = min((c.factor for c in sun.clouds if c.covers(local.time())), default=1.0)
    return clear * factor


def house_power_w(local: datetime, house: HouseScenario) -> float:
    """House consumption (W): base load plus every active event."""
    return house.base_w + sum(e.power_w for e in house.events if e.covers(local.time()))


BatteryMode = Literal["normal", "hold", "charge"]
MAX_BATTERY_CHARGE_W = 1_000_000.0
"""Upper bound of a written ``charge`` mode power (W); the battery's own limit applies below it."""


def battery_power_w(
    surplus_w: float,
    soc_pct: float,
    battery: BatteryScenario,
    mode: BatteryMode = "normal",
    charge_w: float = 0.0,
) -> float:
    """Self-consumption: charge from surplus, discharge to cover a deficit, within limits.

    ``surplus_w`` = pv − house − wallbox. Returns the battery power, > 0 discharging, < 0 charging (W).
    ``mode`` (written by an energy manager): ``hold`` never discharges (surplus still charges it),
    ``charge`` charges at ``charge_w`` whatever the surplus (from the grid if need be).
    """
    if mode == "charge":
        return -min(max(0.0, charge_w), battery.max_charge_w) if soc_pct < battery.max_soc_pct else 0.0
    if surplus_w > 0 and soc_pct < battery.max_soc_pct:
        return -min(surplus_w, battery.max_charge_w)
    if mode == "hold":
        return 0.0
    if surplus_w < 0 and soc_pct > battery.min_soc_pct:
        return min(-surplus_w, battery.max_discharge_w)
    return 0.0


def soc_after(soc_pct: float, energy_in_kwh: float, capacity_kwh: float) -> float:
    """SoC (%) after adding ``energy_in_kwh`` (negative = removed), clamped to 0–100."""
    return min(100.0, max(0.0, soc_pct + energy_in_kwh / capacity_kwh * 100.0))


def wallbox_status(connected: bool, enabled: bool, offered_a: float, car_full: bool) -> Status:
    """A = no car; C = car draws current; B = car connected but not charging."""
    if not connected:
        return "A"
    if enabled and offered_a >= MIN_CHARGE_CURRENT_A and not car_full:
        return "C"
    return "B"


def charge_phase_currents_a(
    status: Status, offered_a: float, wallbox_phases: int, car: CarScenario | None
) -> Phases3:
    """Per-phase current the car draws (A): the offered current, capped by the car, on the active phases."""
    if status != "C" or car is None:
        return (0.0, 0.0, 0.0)
    current = min(offered_a, car.max_current_a)
    active = min(wallbox_phases, car.phases)
    return (current, current if active >= 2 else 0.0, current if active >= 3 else 0.0)


def grid_phase_powers_w(house: Phases3, wallbox: Phases3, pv: Phases3, battery: Phases3) -> Phases3:
    """grid = house + wallbox − pv − battery, per phase (W)."""
    return (
        house[0] + wallbox[0] - pv[0] - battery[0],
        house[1] + wallbox[1] - pv[1] - battery[1],
        house[2] + wallbox[2] - pv[2] - battery[2],
    )


def _thirds(total: float) -> Phases3:
    return (total / 3, total / 3, total / 3)


def window_start(window: Window, local: datetime) -> datetime:
    """When the occurrence of ``window`` that covers ``local`` began (local time)."""
    day: date = local.date()
    if window.start >= window.end and local.time() < window.end:
        day -= timedelta(days=1)
    return datetime.combine(day, window.start, tzinfo=local.tzinfo)


def active_car(cars: tuple[CarScenario, ...], local: datetime) -> tuple[int, datetime | None] | None:
    """Index of the car plugged in by the schedule at ``local`` and when its session began (None = always)."""
    for index, car in enumerate(cars):
        window = car.window
        if window is None:
            return index, None
        if window.covers(local.time()):
            return index, window_start(window, local)
    return None


# ----------------------------------------------------------------------------------------------- state

STEP_S = 0.1
"""Simulated seconds per integration step while something moves (a car ramping, the battery following)."""
MAX_STEP_S = 60.0
"""Longest integration step while nothing moves (SoCs and limits are re-checked at least this often)."""
SETTLED_W = 0.5
"""Below this difference (W) the battery counts as having reached its target."""


@dataclass
class MeterPoint:
    """A measuring point, consumption-positive, with its counters (W, V, A, kWh, Hz).

    ``powers_w`` is what a meter at this point shows: the actual flow sampled at the meter's own update
    rate (``update_s``; 0 = always the actual flow). Counters integrate the actual flow.
    """

    powers_w: Phases3 = (0.0, 0.0, 0.0)
    voltages_v: Phases3 = (230.0, 230.0, 230.0)
    frequency_hz: float = 50.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0
    phase_import_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    phase_export_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    actual_w: Phases3 = (0.0, 0.0, 0.0)
    """The flow at this instant (W per phase)."""
    update_s: float = 0.0
    sampled_at: datetime | None = None

    @property
    def power_w(self) -> float:
        return sum(self.powers_w)

    @property
    def currents_a(self) -> Phases3:
        """Signed per-phase currents (A): power / voltage."""
        p, v = self.powers_w, self.voltages_v
        return (p[0] / v[0], p[1] / v[1], p[2] / v[2])

    def set_actual(self, powers: Phases3, now: datetime) -> None:
        self.actual_w = powers
        due = (
            self.update_s <= 0
            or self.sampled_at is None
            or (now - self.sampled_at).total_seconds() >= self.update_s - 1e-9
        )
        if due:
            self.powers_w = powers
            self.sampled_at = now if self.update_s <= 0 or self.sampled_at is None else self._next_sample(now)

    def _next_sample(self, now: datetime) -> datetime:
        """The latest sample instant on the meter's own grid (its updates keep their rhythm)."""
        assert self.sampled_at is not None
        periods = int((now - self.sampled_at).total_seconds() / self.update_s + 1e-9)
        return self.sampled_at + timedelta(seconds=periods * self.update_s)

    def integrate(self, seconds: float) -> None:
        for i, p in enumerate(self.actual_w):
            kwh = p * seconds / 3.6e6
            if kwh >= 0:
                self.phase_import_kwh[i] += kwh
                self.import_kwh += kwh
            else:
                self.phase_export_kwh[i] -= kwh
                self.export_kwh -= kwh


@dataclass
class Car:
    spec: CarScenario
    soc_pct: float

    @property
    def full(self) -> bool:
        return self.soc_pct >= 100.0


@dataclass
class Wallbox:
    """What the charger has been told (enabled, offered current, phases) and what it measures."""

    enabled: bool = False
    offered_a: float = 16.0
    phases: Literal[1, 3] = 3
    energy_kwh: float = 0.0
    """Lifetime energy delivered (kWh)."""
    session_kwh: float = 0.0
    """Energy delivered since the car plugged in (kWh)."""
    status: Status = "A"
    currents_a: Phases3 = (0.0, 0.0, 0.0)
    """What the car draws now per phase (A): it ramps towards what it is offered."""
    charging_s: float = 0.0
    """Seconds spent in status C this session."""


@dataclass
class Bay:
    """One wallbox with the cars that use it and the measuring point of its charge."""

    cars: tuple[CarScenario, ...]
    point: MeterPoint
    wallbox: Wallbox = field(default_factory=Wallbox)
    car: Car | None = None
    schedule_key: tuple[int, datetime | None] | None = None

    def wanted_a(self) -> Phases3:
        return charge_phase_currents_a(
            self.wallbox.status,
            self.wallbox.offered_a,
            self.wallbox.phases,
            self.car.spec if self.car else None,
        )


@dataclass(frozen=True)
class Snapshot:
    """The live physical state, for tests and logs (W, %, kWh, A) — of the first wallbox's bay."""

    time: datetime
    pv_w: float
    house_w: float
    battery_w: float
    battery_soc_pct: float
    wallbox_w: float
    wallbox_status: Status
    wallbox_enabled: bool
    wallbox_offered_a: float
    wallbox_phases: int
    wallbox_energy_kwh: float
    car_name: str | None
    car_soc_pct: float | None
    grid_w: float


@dataclass
class _Home:
    """The whole home's mutable state, shared by the views of every wallbox."""

    scenario: Scenario
    now: datetime
    battery_soc_pct: float
    points: dict[str, MeterPoint]
    bays: list[Bay]
    pv_w: float = 0.0
    house_w: float = 0.0
    battery_w: float = 0.0
    """Actual battery power (W, > 0 discharging): follows its controller's target with its response time."""
    battery_target_w: float = 0.0
    battery_mode: BatteryMode = "normal"
    battery_charge_w: float = 0.0


def charge_point_name(bay: int) -> str:
    """Measuring point of wallbox ``bay`` (0-based): ``charge``, ``charge2``, ``charge3`` …"""
    return "charge" if bay == 0 else f"charge{bay + 1}"


class Simulation:
    """The home's state, advanced by :meth:`advance` to a given time (no clock of its own, no I/O).

    A home may have several wallboxes; :meth:`for_wallbox` is the same home seen from another wallbox (its
    ``wallbox``, ``car``, ``points["charge"]`` and setters are that wallbox's; everything else is shared).
    """

    def __init__(
        self,
        scenario: Scenario,
        start: datetime,
        *,
        wallboxes: int = 1,
        _home: _Home | None = None,
        _bay: int = 0,
    ) -> None:
        if _home is None:
            if start.tzinfo is None:
                raise ValueError("start must be timezone-aware")
            count = max(wallboxes, scenario.wallboxes)
            updates = scenario.meters
            points = {
                name: MeterPoint(
                    voltages_v=(scenario.voltage_v,) * 3,
                    frequency_hz=scenario.frequency_hz,
                    update_s=getattr(updates, name, 0.0),
                )
                for name in ("grid", "pv", "battery", "house")
            }
            bays = []
            for index in range(count):
                point = MeterPoint(
                    voltages_v=(scenario.voltage_v,) * 3,
                    frequency_hz=scenario.frequency_hz,
                    update_s=updates.charge,
                )
                points[charge_point_name(index)] = point
                cars = tuple(c for c in scenario.cars if c.wallbox == index + 1)
                bays.append(Bay(cars, point))
            _home = _Home(scenario, start, scenario.battery.soc_pct, points, bays)
        self._home = _home
        self._bay = _bay
        self._apply_schedule()
        self.recompute()

    def for_wallbox(self, index: int) -> Simulation:
        """This home seen from wallbox ``index`` (0-based)."""
        if not 0 <= index < len(self._home.bays):
            raise ValueError(f"the home has {len(self._home.bays)} wallboxes, not {index + 1}")
        return Simulation(self._home.scenario, self._home.now, _home=self._home, _bay=index)

    # -- shared state --

    @property
    def scenario(self) -> Scenario:
        return self._home.scenario

    @property
    def now(self) -> datetime:
        return self._home.now

    @property
    def battery_soc_pct(self) -> float:
        return self._home.battery_soc_pct

    @property
    def pv_w(self) -> float:
        return self._home.pv_w

    @property
    def house_w(self) -> float:
        return self._home.house_w

    @property
    def battery_w(self) -> float:
        return self._home.battery_w

    @property
    def battery_mode(self) -> BatteryMode:
        return self._home.battery_mode

    @property
    def battery_charge_w(self) -> float:
        """Power of the ``charge`` mode (W)."""
        return self._home.battery_charge_w

    @property
    def wallboxes(self) -> int:
        return len(self._home.bays)

    @property
    def points(self) -> dict[str, MeterPoint]:
        """The measuring points; ``charge`` is this view's wallbox."""
        points = self._home.points
        if self._bay == 0:
            return points
        return {**points, "charge": self._home.bays[self._bay].point}

    @property
    def bay(self) -> Bay:
        return self._home.bays[self._bay]

    @property
    def wallbox(self) -> Wallbox:
        return self.bay.wallbox

    @property
    def car(self) -> Car | None:
        return self.bay.car

    # -- inputs from the outside (wallbox register writes, tests) --

    def set_enabled(self, enabled: bool) -> None:
        self.wallbox.enabled = enabled
        self.recompute()

    def set_current(self, current_a: float) -> None:
        if not 0 <= current_a <= 80:
            raise ValueError(f"current {current_a} A out of range 0–80 A")
        self.wallbox.offered_a = current_a
        self.recompute()

    def set_phases(self, phases: int) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {phases}")
        self.wallbox.phases = 1 if phases == 1 else 3
        self.recompute()

    def set_battery_mode(self, mode: BatteryMode) -> None:
        self._home.battery_mode = mode
        self.recompute()

    def set_battery_charge_w(self, power_w: float) -> None:
        if not 0 <= power_w <= MAX_BATTERY_CHARGE_W:
            raise ValueError(f"charge power {power_w} W out of range")
        self._home.battery_charge_w = power_w
        self.recompute()

    def plug_in(self, car: CarScenario, soc_pct: float | None = None) -> None:
        """Connect ``car`` to this view's wallbox now (until its schedule next changes)."""
        bay = self.bay
        bay.car = Car(car, car.soc_pct if soc_pct is None else soc_pct)
        bay.wallbox.session_kwh = 0.0
        bay.wallbox.charging_s = 0.0
        self.recompute()

    def unplug(self) -> None:
        self.bay.car = None
        self.recompute()

    # -- time --

    def advance(self, now: datetime) -> None:
        """Move to ``now``: integrate energies step by step while cars ramp and the battery follows its
        controller, in one step when nothing moves; then recompute the flows at ``now``."""
        home = self._home
        while home.now < now:
            left = (now - home.now).total_seconds()
            seconds = min(left, STEP_S if self._moving() else MAX_STEP_S)
            self._integrate(seconds)
            home.now = now if seconds >= left else home.now + timedelta(seconds=seconds)
            self._follow(seconds)
            self._apply_schedule()
            self.recompute()
        self._apply_schedule()
        self.recompute()

    def _moving(self) -> bool:
        home = self._home
        if abs(home.battery_w - home.battery_target_w) > SETTLED_W:
            return True
        return any(bay.wallbox.currents_a != bay.wanted_a() for bay in home.bays)

    def _follow(self, seconds: float) -> None:
        """The car's current ramps, the battery's controller closes in on its target."""
        home = self._home
        for bay in home.bays:
            ramp = bay.car.spec.ramp_a_per_s if bay.car else 0.0
            wanted = bay.wanted_a()
            if ramp <= 0:
                bay.wallbox.currents_a = wanted
                continue
            limit = ramp * seconds
            now_a = bay.wallbox.currents_a
            bay.wallbox.currents_a = (
                _towards(now_a[0], wanted[0], limit),
                _towards(now_a[1], wanted[1], limit),
                _towards(now_a[2], wanted[2], limit),
            )
        response = home.scenario.battery.response_s
        if response <= 0:
            home.battery_w = home.battery_target_w
        else:
            keep = math.exp(-seconds / response)
            home.battery_w = home.battery_target_w + (home.battery_w - home.battery_target_w) * keep

    def _integrate(self, seconds: float) -> None:
        home = self._home
        for point in home.points.values():
            point.integrate(seconds)
        battery = home.scenario.battery
        home.battery_soc_pct = soc_after(
            home.battery_soc_pct, -home.battery_w * seconds / 3.6e6, battery.capacity_kwh
        )
        for bay in home.bays:
            box, car = bay.wallbox, bay.car
            if box.status == "C" and car is not None:
                wanted_kwh = sum(box.currents_a) * home.scenario.voltage_v * seconds / 3.6e6
                room_kwh = (100.0 - car.soc_pct) / 100.0 * car.spec.capacity_kwh
                delivered = min(wanted_kwh, room_kwh)
                car.soc_pct = soc_after(car.soc_pct, delivered, car.spec.capacity_kwh)
                box.energy_kwh += delivered
                box.session_kwh += delivered
                box.charging_s += seconds

    def _apply_schedule(self) -> None:
        # The schedule acts only on changes, so a car plugged in by hand stays until the next transition.
        home = self._home
        local = home.now.astimezone(home.scenario.zone)
        for bay in home.bays:
            found = active_car(bay.cars, local)
            if found == bay.schedule_key:
                continue
            bay.schedule_key = found
            if found is None:
                bay.car = None
            else:
                bay.car = Car(bay.cars[found[0]], bay.cars[found[0]].soc_pct)
                bay.wallbox.session_kwh = 0.0
                bay.wallbox.charging_s = 0.0

    def recompute(self) -> None:
        """Flows at ``now`` from the current inputs: the cars' drawn currents and the battery's actual power
        are state (they follow with their own dynamics); what they head for is recomputed here."""
        home = self._home
        sc = home.scenario
        local = home.now.astimezone(sc.zone)
        charges: list[Phases3] = []
        for bay in home.bays:
            box, car = bay.wallbox, bay.car
            box.status = wallbox_status(
                car is not None, box.enabled, box.offered_a, car is not None and car.full
            )
            ramp = car.spec.ramp_a_per_s if car else 0.0
            if ramp <= 0 or box.status != "C":
                # A stop is at once (and so is every change of a car without a ramp); a charging car
                # ramps towards its new current in :meth:`_follow`.
                box.currents_a = bay.wanted_a()
            charge = (box.currents_a[0] * sc.voltage_v, box.currents_a[1] * sc.voltage_v,
                      box.currents_a[2] * sc.voltage_v)  # fmt: skip
            charges.append(charge)
            bay.point.set_actual(charge, home.now)
        home.pv_w = pv_power_w(local, sc.sun)
        home.house_w = house_power_w(local, sc.house)
        surplus = home.pv_w - home.house_w - sum(sum(c) for c in charges)
        home.battery_target_w = battery_power_w(
            surplus, home.battery_soc_pct, sc.battery, home.battery_mode, home.battery_charge_w
        )
        if sc.battery.response_s <= 0:
            home.battery_w = home.battery_target_w
        pv, house, battery = _thirds(home.pv_w), _thirds(home.house_w), _thirds(home.battery_w)
        wallboxes = (sum(c[0] for c in charges), sum(c[1] for c in charges), sum(c[2] for c in charges))
        home.points["grid"].set_actual(grid_phase_powers_w(house, wallboxes, pv, battery), home.now)
        home.points["pv"].set_actual((-pv[0], -pv[1], -pv[2]), home.now)
        home.points["battery"].set_actual((-battery[0], -battery[1], -battery[2]), home.now)
        home.points["house"].set_actual(house, home.now)

    # -- views --

    @property
    def grid_w(self) -> float:
        """Actual grid power now (W, > 0 import)."""
        return sum(self._home.points["grid"].actual_w)

    @property
    def wallbox_w(self) -> float:
        """Actual charge power of this view's wallbox now (W)."""
        return sum(self.bay.point.actual_w)

    def snapshot(self) -> Snapshot:
        box = self.wallbox
        return Snapshot(
            time=self.now,
            pv_w=self.pv_w,
            house_w=self.house_w,
            battery_w=self.battery_w,
            battery_soc_pct=self.battery_soc_pct,
            wallbox_w=self.wallbox_w,
            wallbox_status=box.status,
            wallbox_enabled=box.enabled,
            wallbox_offered_a=box.offered_a,
            wallbox_phases=box.phases,
            wallbox_energy_kwh=box.energy_kwh,
            car_name=self.car.spec.name if self.car else None,
            car_soc_pct=self.car.soc_pct if self.car else None,
            grid_w=self.grid_w,
        )


def _towards(value: float, target: float, limit: float) -> float:
    if abs(target - value) <= limit:
        return target
    return value + limit if target > value else value - limit
