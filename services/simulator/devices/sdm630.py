"""Eastron SDM630 / SDM72DM-V2: input registers (FC 4), IEEE-754 float32, high word first, unit id 1.

Addresses are the 0-based register numbers of the manufacturer's map (= mbmd opcodes). Currents are
magnitudes (the meter does not sign them); powers and the total power are signed, import positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.registers import Point, Table, item

# (name, address, value of the measuring point)
_PHASE_VALUES = (
    ("voltage_l{}", 0x0000, "voltages_v"),
    ("current_l{}", 0x0006, "currents_a"),
    ("power_l{}", 0x000C, "powers_w"),
    ("apparent_power_l{}", 0x0012, "apparent_w"),
    ("reactive_power_l{}", 0x0018, "reactive"),
    ("power_factor_l{}", 0x001E, "power_factor"),
    ("import_l{}", 0x015A, "phase_import_kwh"),
    ("export_l{}", 0x0160, "phase_export_kwh"),
)


def points(env: DeviceEnv) -> list[Point]:
    m = env.source

    def phase(kind: str) -> Sequence[float]:
        if kind == "currents_a":
            return [abs(c) for c in m.currents_a]
        if kind == "apparent_w":
            return [abs(w) for w in m.powers_w]
        if kind == "reactive":
            return [0.0, 0.0, 0.0]
        if kind == "power_factor":
            return [1.0, 1.0, 1.0]
        values: Sequence[float] = getattr(m, kind)
        return values

    out = [
        Point(template.format(i + 1), Table.INPUT, base + 2 * i, "float32", item(partial(phase, kind), i))
        for template, base, kind in _PHASE_VALUES
        for i in range(3)
    ]
    out += [
        Point("power", Table.INPUT, 0x0034, "float32", lambda: m.power_w),
        Point("apparent_power", Table.INPUT, 0x0038, "float32", lambda: abs(m.power_w)),
        Point("reactive_power", Table.INPUT, 0x003C, "float32", lambda: 0.0),
        Point("power_factor", Table.INPUT, 0x003E, "float32", lambda: 1.0),
        Point("frequency", Table.INPUT, 0x0046, "float32", lambda: m.frequency_hz),
        Point("import", Table.INPUT, 0x0048, "float32", lambda: m.import_kwh),
        Point("export", Table.INPUT, 0x004A, "float32", lambda: m.export_kwh),
        Point("total", Table.INPUT, 0x0156, "float32", lambda: m.import_kwh + m.export_kwh),
    ]
    return out


SDM630 = Model("sdm630", "meter", points)
SDM72 = Model("sdm72", "meter", points)
