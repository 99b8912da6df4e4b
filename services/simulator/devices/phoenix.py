"""Phoenix Contact EV-ETH (and Wallbe with OEM firmware): Modbus TCP, unit id 255.

32-bit values are LSW first (low word at the lower address), no scaling (V, A, W as integers).

| table | reg | value | type | access |
|---|---|---|---|---|
| input | 100 | status, ASCII letter in the low byte ('A', 'B', 'C') | uint16 | read |
| input | 102 | charge time of this session (s) | uint32 LSW | read |
| input | 105 | firmware, 2 regs, low byte first | string | read |
| input | 108/110/112 | voltages L1..L3 (V) | int32 LSW | read |
| input | 114/116/118 | currents L1..L3 (A) | int32 LSW | read |
| input | 120 | power (W) | int32 LSW | read |
| input | 128 | energy (Wh, lifetime) | uint32 LSW | read |
| input | 132 | charged energy of this session (Wh) | uint32 LSW | read |
| coil | 400 | enable charging | bit | read/write |
| coil | 419 | RFID card reader enabled (off) | bit | read |
| holding | 528 | max current (A, 6–80) | uint16 | read/write |
| holding | 606 | card UID, 16 regs | string | read |
| holding | 904 | energy (Wh, lifetime) | uint32 LSW | read |
"""

from __future__ import annotations

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.registers import Point, Table, Value, item


def _current(value: Value) -> float:
    current = float(value)
    if not 6 <= current <= 80:
        raise ValueError("max current must be 6–80 A")
    return current


def points(env: DeviceEnv) -> list[Point]:
    sim = env.sim
    box = sim.wallbox
    charge = sim.points["charge"]
    return [
        Point("status", Table.INPUT, 100, "uint16", lambda: ord(box.status)),
        Point("charge_time", Table.INPUT, 102, "uint32", lambda: box.charging_s, words="little"),
        Point("firmware", Table.INPUT, 105, "string", lambda: "3.1", size=2, lsb_first=True),
        *(
            Point(
                f"voltage_l{i + 1}",
                Table.INPUT,
                108 + 2 * i,
                "int32",
                item(lambda: charge.voltages_v, i),
                words="little",
            )
            for i in range(3)
        ),
        *(
            Point(
                f"current_l{i + 1}",
                Table.INPUT,
                114 + 2 * i,
                "int32",
                item(lambda: box.currents_a, i),
                words="little",
            )
            for i in range(3)
        ),
        Point("power", Table.INPUT, 120, "int32", lambda: charge.power_w, words="little"),
        Point("energy_input", Table.INPUT, 128, "uint32", lambda: box.energy_kwh * 1000, words="little"),
        Point("charged_energy", Table.INPUT, 132, "uint32", lambda: box.session_kwh * 1000, words="little"),
        Point("enable", Table.COIL, 400, "bit", lambda: box.enabled, lambda v: sim.set_enabled(bool(v))),
        Point("card_enabled", Table.COIL, 419, "bit", lambda: False),
        Point(
            "max_current",
            Table.HOLDING,
            528,
            "uint16",
            lambda: box.offered_a,
            lambda v: sim.set_current(_current(v)),
        ),
        Point(
            "card_uid",
            Table.HOLDING,
            606,
            "string",
            lambda: (sim.car.spec.identifier or "") if sim.car else "",
            size=16,
        ),
        Point("energy", Table.HOLDING, 904, "uint32", lambda: box.energy_kwh * 1000, words="little"),
    ]


PHOENIX = Model("phoenix", "wallbox", points, unit_id=255, source="charge")
