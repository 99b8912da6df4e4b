"""``generic-meter``: a meter whose registers are configured (``SimulatedDevice.registers``), for drivers of
the generic ``modbus`` meter type. Each register serves one quantity of the measuring point.
"""

from __future__ import annotations

from collections.abc import Callable

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import MeterPoint
from services.simulator.registers import DType, Point, Table, Value, item

_TYPES: dict[str, DType] = {
    "int16": "i16", "uint16": "u16", "int32": "i32", "uint32": "u32", "float32": "f32", "float64": "f64",
}  # fmt: skip


def _quantity(name: str, m: MeterPoint, soc: Callable[[], float]) -> Callable[[], Value]:
    table: dict[str, Callable[[], Value]] = {
        "power": lambda: m.power_w,
        "import": lambda: m.import_kwh,
        "export": lambda: m.export_kwh,
        "frequency": lambda: m.frequency_hz,
        "soc": soc,
    }
    for i in range(3):
        table[f"current_l{i + 1}"] = item(lambda: m.currents_a, i)
        table[f"voltage_l{i + 1}"] = item(lambda: m.voltages_v, i)
        table[f"power_l{i + 1}"] = item(lambda: m.powers_w, i)
    return table[name]


def points(env: DeviceEnv) -> list[Point]:
    if not env.spec.registers:
        raise ValueError(f"generic-meter {env.spec.name!r} needs a registers list")
    sim = env.sim
    return [
        Point(
            f"{reg.value}@{reg.address}",
            Table(reg.table),
            reg.address,
            _TYPES[reg.type],
            _quantity(reg.value, env.source, lambda: sim.battery_soc_pct),
            words=reg.word_order,
            scale=reg.scale,
        )
        for reg in env.spec.registers
    ]


GENERIC_METER = Model("generic-meter", "meter", points)
