"""The ``demo`` wallbox: chargebus' own simple map. Unit id 1, holding registers, float32 high word first.

| reg | value | type | access |
|---|---|---|---|
| 0 | status 1 = A, 2 = B, 3 = C | uint16 | read |
| 1 | enabled 0/1 | uint16 | read/write |
| 2 | max current in 0.1 A (160 = 16.0 A) | uint16 | read/write |
| 3 | phases 1/3 (write = phase switch) | uint16 | read/write |
| 4–5 | power W | float32 | read |
| 6–7 | energy kWh (lifetime) | float32 | read |
| 8–9 | vehicle SoC % | float32 | read |
| 10–15 | currents L1..L3 A | float32 | read |
| 16–21 | voltages L1..L3 V | float32 | read |
| 22–23 | vehicle capacity kWh | float32 | read |
| 24 | identifier length in characters (0 = none) | uint16 | read |
| 25–34 | identifier, ASCII, 2 characters per register, NUL padded | string | read |
"""

from __future__ import annotations

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.registers import Point, Table, Value

STATUS_CODES = {"A": 1, "B": 2, "C": 3}


def _flag(value: Value) -> bool:
    if value not in (0, 1):
        raise ValueError("enabled must be 0 or 1")
    return bool(value)


def _current(value: Value) -> float:
    current = float(value)
    if not 0 <= current <= 80:
        raise ValueError("max current must be 0–80 A")
    return current


def _phases(value: Value) -> int:
    if value not in (1, 3):
        raise ValueError("phases must be 1 or 3")
    return int(value)


def points(env: DeviceEnv) -> list[Point]:
    sim = env.sim
    box = sim.wallbox
    charge = sim.points["charge"]

    def identifier() -> str:
        return (sim.car.spec.identifier or "") if sim.car else ""

    return [
        Point("status", Table.HOLDING, 0, "uint16", lambda: STATUS_CODES[box.status]),
        Point(
            "enabled",
            Table.HOLDING,
            1,
            "uint16",
            lambda: int(box.enabled),
            lambda v: sim.set_enabled(_flag(v)),
            check=_flag,
        ),
        Point(
            "max_current",
            Table.HOLDING,
            2,
            "uint16",
            lambda: box.offered_a,
            lambda v: sim.set_current(_current(v)),
            scale=0.1,
            check=_current,
        ),
        Point(
            "phases",
            Table.HOLDING,
            3,
            "uint16",
            lambda: box.phases,
            lambda v: sim.set_phases(_phases(v)),
            check=_phases,
        ),
        Point("power", Table.HOLDING, 4, "float32", lambda: charge.power_w),
        Point("energy", Table.HOLDING, 6, "float32", lambda: box.energy_kwh),
        Point("vehicle_soc", Table.HOLDING, 8, "float32", lambda: sim.car.soc_pct if sim.car else 0.0),
        Point("current_l1", Table.HOLDING, 10, "float32", lambda: box.currents_a[0]),
        Point("current_l2", Table.HOLDING, 12, "float32", lambda: box.currents_a[1]),
        Point("current_l3", Table.HOLDING, 14, "float32", lambda: box.currents_a[2]),
        Point("voltage_l1", Table.HOLDING, 16, "float32", lambda: charge.voltages_v[0]),
        Point("voltage_l2", Table.HOLDING, 18, "float32", lambda: charge.voltages_v[1]),
        Point("voltage_l3", Table.HOLDING, 20, "float32", lambda: charge.voltages_v[2]),
        Point(
            "vehicle_capacity",
            Table.HOLDING,
            22,
            "float32",
            lambda: sim.car.spec.capacity_kwh if sim.car else 0.0,
        ),
        Point("identifier_length", Table.HOLDING, 24, "uint16", lambda: len(identifier()[:20])),
        Point("identifier", Table.HOLDING, 25, "string", identifier, size=10),
    ]


DEMO = Model("demo", "wallbox", points, source="charge")
