"""EVSE-DIN / SimpleEVSE: Modbus RTU in reality; served over TCP with the RTU framer ("RTU over TCP"
through a serial gateway). Unit id 1, holding registers.

| reg | value | access |
|---|---|---|
| 1000 | configured current (A; 0 = disabled; A·100 when the mA bit of 2005 is set) | read/write |
| 1001 | current offered on the CP line (A) | read |
| 1002 | vehicle state 1 = A, 2 = B, 3 = C | read |
| 1003 | cable (PP) limit (A) | read |
| 1004 | turn-off flags (0) | read |
| 1005 | firmware revision (18) | read |
| 1006 | EVSE state 1 = ready, 2 = charging, 3 = disabled | read |
| 1007 | RCD status (0) | read |
| 2000 | default current after power-on (A) | read |
| 2002 | modbus address | read |
| 2003 | minimum current (A) | read |
| 2005 | config bits; bit 7 = current in mA·10 (A·100) at 1000 | read/write |
"""

from __future__ import annotations

from pymodbus.framer import FramerType

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.registers import Point, Table, Value

MA_BIT = 1 << 7
STATES = {"A": 1, "B": 2, "C": 3}


def points(env: DeviceEnv) -> list[Point]:
    sim = env.sim
    box = sim.wallbox
    config = {"bits": 0}

    def factor() -> float:
        return 100.0 if config["bits"] & MA_BIT else 1.0

    def read_current() -> float:
        return box.offered_a * factor() if box.enabled else 0.0

    def write_current(value: Value) -> None:
        current = float(value) / factor()
        if current != 0 and not 6 <= current <= 80:
            raise ValueError("current must be 0 or 6–80 A")
        if current > 0:
            sim.set_current(current)
        sim.set_enabled(current > 0)

    def write_bits(value: Value) -> None:
        config["bits"] = int(value)

    return [
        Point("current", Table.HOLDING, 1000, "uint16", read_current, write_current),
        Point("offered", Table.HOLDING, 1001, "uint16", lambda: box.offered_a if box.enabled else 0),
        Point("vehicle_state", Table.HOLDING, 1002, "uint16", lambda: STATES[box.status]),
        Point("pp_limit", Table.HOLDING, 1003, "uint16", lambda: 32),
        Point("turn_off", Table.HOLDING, 1004, "uint16", lambda: 0),
        Point("firmware", Table.HOLDING, 1005, "uint16", lambda: 18),
        Point(
            "evse_state",
            Table.HOLDING,
            1006,
            "uint16",
            lambda: 2 if box.status == "C" else (1 if box.enabled else 3),
        ),
        Point("rcd", Table.HOLDING, 1007, "uint16", lambda: 0),
        Point("default_current", Table.HOLDING, 2000, "uint16", lambda: 16),
        Point("modbus_address", Table.HOLDING, 2002, "uint16", lambda: env.spec.unit_id or 1),
        Point("min_current", Table.HOLDING, 2003, "uint16", lambda: 6),
        Point("config_bits", Table.HOLDING, 2005, "uint16", lambda: config["bits"], write_bits),
    ]


EVSEDIN = Model("evsedin", "wallbox", points, framer=FramerType.RTU, source="charge")
