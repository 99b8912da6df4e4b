"""The simulator's demo wallbox: a preset of the generic Modbus charger.

Unit 1, holding registers, float32 high word first: 0 status (1=A, 2=B, 3=C); 1 enabled (0/1); 2 max current
in 0.1 A; 3 phases 1/3; 4–5 power W; 6–7 energy kWh; 8–9 vehicle SoC %; 10–15 currents L1..L3 A;
16–21 voltages L1..L3 V; 22–23 vehicle capacity kWh (not on the bus: ChargerStatus has no field for it);
25–34 vehicle identifier, ASCII, NUL padded (the simulator's extension).
"""

from __future__ import annotations

from services.charger_actuator.drivers.generic import GenericModbusCharger
from shared.config_devices import (
    ChargerConfig,
    ChargerEnableRegister,
    ChargerRegister,
    ChargerRegisterMap,
    ChargerStatusRegister,
)
from shared.devices.modbus import LinkPool


def _f32(address: int) -> ChargerRegister:
    return ChargerRegister(address=address, type="float32")


DEMO_REGISTERS = ChargerRegisterMap(
    status=ChargerStatusRegister(address=0, type="uint16", map={1: "A", 2: "B", 3: "C"}),
    enable=ChargerEnableRegister(address=1, type="uint16", on=1, off=0),
    current=ChargerRegister(address=2, type="uint16", scale=0.1),
    phases=ChargerRegister(address=3, type="uint16"),
    power=_f32(4),
    energy=_f32(6),
    soc=_f32(8),
    currents=[_f32(10), _f32(12), _f32(14)],
    voltages=[_f32(16), _f32(18), _f32(20)],
    identifier=ChargerRegister(address=25, type="string", length=10),
)


def create(config: ChargerConfig, pool: LinkPool) -> GenericModbusCharger:
    return GenericModbusCharger(pool.unit(config.modbus), DEMO_REGISTERS, physical_phases=config.phases)
