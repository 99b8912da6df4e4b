"""``generic-meter``: a meter whose registers are configured (``SimulatedDevice.registers``), for drivers of
the generic ``modbus`` meter type. Each register serves one quantity of the measuring point.

Two writable registers control the simulated battery (any register type): ``battery_mode`` — 0 normal
(self-consumption), 1 hold (no discharging), 2 charge (from the grid at ``battery_charge_power``); other
values are refused with exception 3 — and ``battery_charge_power`` in W.
"""

from __future__ import annotations

from collections.abc import Callable

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import MAX_BATTERY_CHARGE_W, BatteryMode, MeterPoint, Simulation
from services.simulator.registers import Point, Table, Value, item


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


BATTERY_MODE_CODES: dict[int, BatteryMode] = {0: "normal", 1: "hold", 2: "charge"}


def _mode(value: Value) -> BatteryMode:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in BATTERY_MODE_CODES:
        raise ValueError("battery mode must be 0 (normal), 1 (hold) or 2 (charge)")
    return BATTERY_MODE_CODES[int(value)]


def _charge_power(value: Value) -> float:
    if isinstance(value, (bool, str)) or not 0 <= float(value) <= MAX_BATTERY_CHARGE_W:
        raise ValueError(f"charge power must be 0–{MAX_BATTERY_CHARGE_W:.0f} W")
    return float(value)


Control = tuple[Callable[[], Value], Callable[[Value], None], Callable[[Value], object]]


def _control(name: str, sim: Simulation) -> Control:
    """Read, write and check of a writable register."""
    codes = {mode: code for code, mode in BATTERY_MODE_CODES.items()}
    if name == "battery_mode":
        return (lambda: codes[sim.battery_mode], lambda v: sim.set_battery_mode(_mode(v)), _mode)
    return (
        lambda: sim.battery_charge_w,
        lambda v: sim.set_battery_charge_w(_charge_power(v)),
        _charge_power,
    )


def points(env: DeviceEnv) -> list[Point]:
    if not env.spec.registers:
        raise ValueError(f"generic-meter {env.spec.name!r} needs a registers list")
    sim = env.sim
    out = []
    for reg in env.spec.registers:
        name = f"{reg.value}@{reg.address}"
        table, dtype = Table(reg.table), reg.type
        if reg.value in ("battery_mode", "battery_charge_power"):
            read, write, check = _control(reg.value, sim)
            out.append(
                Point(
                    name, table, reg.address, dtype, read, write, check, words=reg.word_order, scale=reg.scale
                )
            )
            continue
        source = _quantity(reg.value, env.source, lambda: sim.battery_soc_pct)
        out.append(Point(name, table, reg.address, dtype, source, words=reg.word_order, scale=reg.scale))
    return out


GENERIC_METER = Model("generic-meter", "meter", points)
