"""Eastron SDM630 and SDM72DM-V2: input registers (FC 4), IEEE-754 float32, high word first (reference §8.2).

Both meters count import positive; as a PV meter the reading is negated and energy/return swapped by
:mod:`services.meter_reader.measurement`, as evcc's template does.
"""

from __future__ import annotations

from services.meter_reader.drivers.register_map import RegisterMapDriver
from services.meter_reader.measurement import Convention
from shared.config_devices import MeterRegister, MeterRegisterMap


def _f(address: int) -> MeterRegister:
    return MeterRegister(address=address, source="input", type="float32")


SDM630 = MeterRegisterMap(
    voltages=[_f(0x0000), _f(0x0002), _f(0x0004)],
    currents=[_f(0x0006), _f(0x0008), _f(0x000A)],
    powers=[_f(0x000C), _f(0x000E), _f(0x0010)],
    power=_f(0x0034),
    energy=_f(0x0048),
    return_energy=_f(0x004A),
)
"""V, A, W per phase; total W; import / export kWh."""

SDM72 = SDM630
"""The SDM72DM-V2 answers the same registers for everything evcc reads (reference §8.2)."""

MAPS: dict[str, MeterRegisterMap] = {"sdm": SDM630, "sdm630": SDM630, "sdm72": SDM72}


def sdm_driver(model: str) -> RegisterMapDriver:
    return RegisterMapDriver(MAPS[model], Convention.CONSUMER)
