"""ABL eMH1/eMH2: Modbus ASCII (serial 38400 8E1 in reality; served over TCP with the ASCII framer),
unit id 1, holding registers read with FC 3 and written with FC 16.

| reg | value | access |
|---|---|---|
| 0x01–0x02 | firmware; low byte of 0x02 bit 5 = current sensors present (set) | read |
| 0x04 | state code, low byte: A1 waiting, B1 asking, B2 allowed, C2 charging, E0 outlet off | read |
| 0x05 | modify state: 0xA1A1 enable/reset (also 0x5A5A), 0xE0E0 outlet disabled | write |
| 0x0F–0x13 | state block; 0x12 = amps config (duty cycle, 0x03E8 = disabled) | read |
| 0x14 | amps config: duty = current / 0.06 (6 A = 100 … 32 A = 533); 0x03E8 = disabled | read/write |
| 0x2E–0x32 | state block; 0x30/0x31/0x32 = currents L3/L2/L1 in 0.1 A (0x03E8 = none) | read |
"""

from __future__ import annotations

from pymodbus.framer import FramerType

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.registers import Point, Table, Value

DISABLED = 0x03E8
DUTY_A = 0.06
STATE_CODES = {"A": 0xA1, "C": 0xC2}


def points(env: DeviceEnv) -> list[Point]:
    sim = env.sim
    box = sim.wallbox
    state = {"outlet_disabled": False, "duty": DISABLED if not box.enabled else int(box.offered_a / DUTY_A)}

    def code() -> int:
        if state["outlet_disabled"]:
            return 0xE0
        if box.status == "B":
            return 0xB2 if box.enabled else 0xB1
        return STATE_CODES[box.status]

    def apply() -> None:
        duty = int(state["duty"])
        on = duty != DISABLED and not state["outlet_disabled"]
        if duty != DISABLED:
            sim.set_current(duty * DUTY_A)
        sim.set_enabled(on)

    def modify(value: Value) -> None:
        command = int(value)
        if command in (0xA1A1, 0x5A5A):
            state["outlet_disabled"] = False
        elif command == 0xE0E0:
            state["outlet_disabled"] = True
        else:
            raise ValueError(f"unknown state command {command:#06x}")
        apply()

    def amps(value: Value) -> None:
        duty = int(value)
        if duty != DISABLED and not 100 <= duty <= 533:
            raise ValueError("duty must be 100–533 or 0x03E8")
        state["duty"] = duty
        apply()

    def current(i: int) -> int:
        amps_x10 = round(box.currents_a[i] * 10)
        return amps_x10 if amps_x10 > 0 else DISABLED

    return [
        Point("firmware_1", Table.HOLDING, 0x01, "uint16", lambda: 0x0112),
        Point("firmware_2", Table.HOLDING, 0x02, "uint16", lambda: 0x0B21),
        Point("status", Table.HOLDING, 0x04, "uint16", code),
        Point("modify_state", Table.HOLDING, 0x05, "uint16", lambda: 0, modify),
        Point("state_block", Table.HOLDING, 0x0F, "uint16", code),
        Point("enabled_amps", Table.HOLDING, 0x12, "uint16", lambda: state["duty"]),
        Point("amps_config", Table.HOLDING, 0x14, "uint16", lambda: state["duty"], amps),
        Point("status_long", Table.HOLDING, 0x2E, "uint16", code),
        Point("current_l3", Table.HOLDING, 0x30, "uint16", lambda: current(2)),
        Point("current_l2", Table.HOLDING, 0x31, "uint16", lambda: current(1)),
        Point("current_l1", Table.HOLDING, 0x32, "uint16", lambda: current(0)),
    ]


ABL = Model("abl", "wallbox", points, framer=FramerType.ASCII, source="charge")
