"""The physics of the simulated home: pure functions of time and state, and the stepper that applies them.

Sign conventions (also in docs/simulator.md):
- ``grid_w`` > 0 imports from the grid, < 0 feeds in.
- ``pv_w`` ≥ 0 is AC production.
- ``battery_w`` > 0 discharges into the house, < 0 charges (evcc's convention).
- Measuring points (:class:`MeterPoint`) count *consumption-positive*: power flowing from the house bus into
  the measured thing (grid: import; pv: −production; battery: charging; charge: wallbox consumption).

Balance, per phase and in total: ``grid = house + wallbox − pv − battery``.
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


@dataclass
class MeterPoint:
    """A measuring point, consumption-positive, with its counters (W, V, A, kWh, Hz)."""

    powers_w: Phases3 = (0.0, 0.0, 0.0)
    voltages_v: Phases3 = (230.0, 230.0, 230.0)
    frequency_hz: float = 50.0
    import_kwh: float = 0.0
    export_kwh: float = 0.0
    phase_import_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    phase_export_kwh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    @property
    def power_w(self) -> float:
        return sum(self.powers_w)

    @property
    def currents_a(self) -> Phases3:
        """Signed per-phase currents (A): power / voltage."""
        p, v = self.powers_w, self.voltages_v
        return (p[0] / v[0], p[1] / v[1], p[2] / v[2])

    def integrate(self, seconds: float) -> None:
        for i, p in enumerate(self.powers_w):
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
    charging_s: float = 0.0
    """Seconds spent in status C this session."""


@dataclass(frozen=True)
class Snapshot:
    """The live physical state, for tests and logs (W, %, kWh, A)."""

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


class Simulation:
    """The home's state, advanced by :meth:`advance` to a given time (no clock of its own, no I/O)."""

    def __init__(self, scenario: Scenario, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.scenario = scenario
        self.now = start
        self.battery_soc_pct = scenario.battery.soc_pct
        self.wallbox = Wallbox()
        self.car: Car | None = None
        self._schedule_key: tuple[int, datetime | None] | None = None
        self.pv_w = 0.0
        self.house_w = 0.0
        self.battery_w = 0.0
        self.battery_mode: BatteryMode = "normal"
        self.battery_charge_w = 0.0
        """Power of the ``charge`` mode (W)."""
        self.points: dict[str, MeterPoint] = {
            name: MeterPoint(voltages_v=(scenario.voltage_v,) * 3, frequency_hz=scenario.frequency_hz)
            for name in ("grid", "pv", "battery", "charge", "house")
        }
        self._apply_schedule()
        self.recompute()

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
        self.battery_mode = mode
        self.recompute()

    def set_battery_charge_w(self, power_w: float) -> None:
        if not 0 <= power_w <= MAX_BATTERY_CHARGE_W:
            raise ValueError(f"charge power {power_w} W out of range")
        self.battery_charge_w = power_w
        self.recompute()

    def plug_in(self, car: CarScenario, soc_pct: float | None = None) -> None:
        """Connect ``car`` now (until the schedule next changes)."""
        self.car = Car(car, car.soc_pct if soc_pct is None else soc_pct)
        self.wallbox.session_kwh = 0.0
        self.wallbox.charging_s = 0.0
        self.recompute()

    def unplug(self) -> None:
        self.car = None
        self.recompute()

    # -- time --

    def advance(self, now: datetime) -> None:
        """Integrate energies over the time since the last step, then recompute powers at ``now``."""
        seconds = (now - self.now).total_seconds()
        if seconds > 0:
            self._integrate(seconds)
            self.now = now
        self._apply_schedule()
        self.recompute()

    def _integrate(self, seconds: float) -> None:
        for point in self.points.values():
            point.integrate(seconds)
        battery = self.scenario.battery
        self.battery_soc_pct = soc_after(
            self.battery_soc_pct, -self.battery_w * seconds / 3.6e6, battery.capacity_kwh
        )
        box, car = self.wallbox, self.car
        if box.status == "C" and car is not None:
            wanted_kwh = sum(box.currents_a) * self.scenario.voltage_v * seconds / 3.6e6
            room_kwh = (100.0 - car.soc_pct) / 100.0 * car.spec.capacity_kwh
            delivered = min(wanted_kwh, room_kwh)
            car.soc_pct = soc_after(car.soc_pct, delivered, car.spec.capacity_kwh)
            box.energy_kwh += delivered
            box.session_kwh += delivered
            box.charging_s += seconds

    def _apply_schedule(self) -> None:
        # The schedule acts only on changes, so a car plugged in by hand stays until the next transition.
        local = self.now.astimezone(self.scenario.zone)
        found = active_car(self.scenario.cars, local)
        if found == self._schedule_key:
            return
        self._schedule_key = found
        if found is None:
            self.car = None
        else:
            self.car = Car(self.scenario.cars[found[0]], self.scenario.cars[found[0]].soc_pct)
            self.wallbox.session_kwh = 0.0
            self.wallbox.charging_s = 0.0

    def recompute(self) -> None:
        """Instantaneous powers at ``self.now`` from the current inputs."""
        sc = self.scenario
        local = self.now.astimezone(sc.zone)
        box, car = self.wallbox, self.car
        box.status = wallbox_status(car is not None, box.enabled, box.offered_a, car is not None and car.full)
        box.currents_a = charge_phase_currents_a(
            box.status, box.offered_a, box.phases, car.spec if car else None
        )
        charge = (
            box.currents_a[0] * sc.voltage_v,
            box.currents_a[1] * sc.voltage_v,
            box.currents_a[2] * sc.voltage_v,
        )
        self.pv_w = pv_power_w(local, sc.sun)
        self.house_w = house_power_w(local, sc.house)
        surplus = self.pv_w - self.house_w - sum(charge)
        self.battery_w = battery_power_w(
            surplus, self.battery_soc_pct, sc.battery, self.battery_mode, self.battery_charge_w
        )
        pv, house, battery = _thirds(self.pv_w), _thirds(self.house_w), _thirds(self.battery_w)
        self.points["grid"].powers_w = grid_phase_powers_w(house, charge, pv, battery)
        self.points["pv"].powers_w = (-pv[0], -pv[1], -pv[2])
        self.points["battery"].powers_w = (-battery[0], -battery[1], -battery[2])
        self.points["charge"].powers_w = charge
        self.points["house"].powers_w = house

    # -- views --

    @property
    def grid_w(self) -> float:
        return self.points["grid"].power_w

    @property
    def wallbox_w(self) -> float:
        return self.points["charge"].power_w

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
