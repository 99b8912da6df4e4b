"""Alfen Eve (socket 1): Modbus TCP, unit id 1, holding registers, float32 big-endian (high word first).

| reg | value | type | access |
|---|---|---|---|
| 306/308/310 | voltages L1..L3 (V) | float32 | read |
| 320/322/324 | currents L1..L3 (A) | float32 | read |
| 336 | frequency (Hz) | float32 | read |
| 344 | real power sum (W) | float32 | read |
| 374 | real energy delivered sum (Wh) | float64 | read |
| 1200 | availability (1 = operative) | uint16 | read |
| 1201 | mode 3 state, ASCII, 5 regs ("A", "B1", "B2", "C2") | string | read |
| 1206 | actual applied max current (A) | float32 | read |
| 1208 | remaining validity time of the modbus max current (s) | uint32 | read |
| 1210 | modbus slave max current (A; 0 = pause) | float32 | read/write |
| 1212 | safe current (A), applied when the validity time runs out | float32 | read |
| 1214 | setpoint accounted for (1 = yes) | uint16 | read |
| 1215 | charge phases 1/3 | uint16 | read/write |

The max current is valid for ``VALIDITY_S`` seconds of simulated time after its last write; then the Alfen
falls back to the safe current, as the real one does — so a controller must re-write it (evcc: every 25 s).
"""

from __future__ import annotations

from datetime import datetime

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import Simulation
from services.simulator.registers import Point, Table, Value, item

VALIDITY_S = 60.0
SAFE_CURRENT_A = 6.0


class _Setpoint:
    """The Alfen's modbus max current with its validity timer."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.current_a = sim.wallbox.offered_a if sim.wallbox.enabled else 0.0
        self.written_at: datetime | None = None

    def remaining_s(self) -> float:
        if self.written_at is None:
            return 0.0
        return max(0.0, VALIDITY_S - (self.sim.now - self.written_at).total_seconds())

    def write(self, value: Value) -> None:
        current = float(value)
        if not 0 <= current <= 32:
            raise ValueError("max current must be 0–32 A")
        self.current_a = current
        self.written_at = self.sim.now
        self.apply()

    def apply(self) -> None:
        current = self.current_a if self.written_at is None or self.remaining_s() > 0 else SAFE_CURRENT_A
        if current > 0:
            self.sim.set_current(current)
        self.sim.set_enabled(current > 0)

    def expire_if_due(self) -> None:
        if self.written_at is not None and self.remaining_s() <= 0 and self.current_a != SAFE_CURRENT_A:
            self.current_a = SAFE_CURRENT_A
            self.written_at = None
            self.apply()


def _status(sim: Simulation) -> str:
    box = sim.wallbox
    if box.status == "A":
        return "A"
    if box.status == "C":
        return "C2"
    return "B2" if box.enabled else "B1"


def points(env: DeviceEnv) -> list[Point]:
    sim = env.sim
    box = sim.wallbox
    charge = sim.points["charge"]
    setpoint = _Setpoint(sim)

    env.ticks.append(setpoint.expire_if_due)

    def applied() -> float:
        return box.offered_a if box.enabled else 0.0

    def phases(value: Value) -> None:
        sim.set_phases(int(value))

    return [
        *(
            Point(
                f"voltage_l{i + 1}", Table.HOLDING, 306 + 2 * i, "float32", item(lambda: charge.voltages_v, i)
            )
            for i in range(3)
        ),
        *(
            Point(f"current_l{i + 1}", Table.HOLDING, 320 + 2 * i, "float32", item(lambda: box.currents_a, i))
            for i in range(3)
        ),
        Point("frequency", Table.HOLDING, 336, "float32", lambda: charge.frequency_hz),
        Point("power", Table.HOLDING, 344, "float32", lambda: charge.power_w),
        Point("energy", Table.HOLDING, 374, "float64", lambda: box.energy_kwh * 1000.0),
        Point("availability", Table.HOLDING, 1200, "uint16", lambda: 1),
        Point("status", Table.HOLDING, 1201, "string", lambda: _status(sim), size=5),
        Point("applied_max_current", Table.HOLDING, 1206, "float32", applied),
        Point("validity_time", Table.HOLDING, 1208, "uint32", setpoint.remaining_s),
        Point("max_current", Table.HOLDING, 1210, "float32", lambda: setpoint.current_a, setpoint.write),
        Point("safe_current", Table.HOLDING, 1212, "float32", lambda: SAFE_CURRENT_A),
        Point("setpoint_accounted", Table.HOLDING, 1214, "uint16", lambda: 1),
        Point("phases", Table.HOLDING, 1215, "uint16", lambda: box.phases, phases),
    ]


ALFEN = Model("alfen", "wallbox", points, source="charge")
