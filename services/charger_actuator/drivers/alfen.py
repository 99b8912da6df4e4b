"""Alfen Eve (Modbus TCP, "Active Load Balancing" / EMS mode).

Holding registers, float32 high word first. The max current register doubles as the enable switch
(0 = disabled) and must be re-written at least every 25 s, or the Eve falls back to its safe current.
"""

from __future__ import annotations

from services.charger_actuator.driver import (
    Capabilities,
    ChargerReading,
    ModbusDriver,
    parse_status,
    verify_current,
    verify_equal,
)
from shared.config_devices import ChargerConfig
from shared.devices.codec import decode, decode_string, encode, finite_or_zero
from shared.devices.modbus import LinkPool, ModbusUnit
from shared.messages import ChargeStatus

VOLTAGES = 306
"""L1..L3 V, float32 each (306, 308, 310)."""
CURRENTS = 320
"""L1..L3 A, float32 each (320, 322, 324); NaN when idle."""
POWER = 344
"""Active power W, float32."""
ENERGY = 374
"""Delivered energy Wh, float64."""
MEASUREMENTS_SPAN = (VOLTAGES, ENERGY + 4 - VOLTAGES)
STATUS = 1201
"""IEC 61851 status as 5 registers of ASCII, e.g. "C2"."""
MAX_CURRENT = 1210
"""Max current A, float32; 0 = disabled."""
PHASES = 1215
"""Charge phases 1/3, uint16."""
CONTROL_SPAN = (STATUS, PHASES + 1 - STATUS)
HEARTBEAT_S = 25.0
DEFAULT_ENABLE_CURRENT_A = 6.0


def _f32(words: list[int], address: int, base: int) -> float:
    offset = address - base
    return finite_or_zero(decode(words[offset : offset + 2], "float32"))


class AlfenEve(ModbusDriver):
    def __init__(self, link: ModbusUnit, *, physical_phases: int = 3) -> None:
        super().__init__(
            link,
            Capabilities(
                phase_switching=physical_phases == 3,
                current_step_a=0.0,
                heartbeat_s=HEARTBEAT_S,
                has_meter=True,
            ),
        )
        self._requested_a = DEFAULT_ENABLE_CURRENT_A

    async def read(self) -> ChargerReading:
        base, count = MEASUREMENTS_SPAN
        m = await self.link.read("holding", base, count)
        cbase, ccount = CONTROL_SPAN
        c = await self.link.read("holding", cbase, ccount)
        text = decode_string(c[0:5])
        # Alfen reports E when idle without a vehicle; evcc treats it as A.
        status, fault = (ChargeStatus.A, None) if text[:1] == "E" else parse_status(text)
        current = _f32(c, MAX_CURRENT, cbase)
        phases = c[PHASES - cbase]
        energy_offset = ENERGY - base
        energy_wh = finite_or_zero(decode(m[energy_offset : energy_offset + 4], "float64"))
        return ChargerReading(
            status=status,
            enabled=current > 0,
            current_a=current,
            phases=phases if phases in (1, 3) else None,
            power_w=_f32(m, POWER, base),
            energy_kwh=energy_wh / 1000,
            currents_a=(_f32(m, CURRENTS, base), _f32(m, CURRENTS + 2, base), _f32(m, CURRENTS + 4, base)),
            voltages_v=(_f32(m, VOLTAGES, base), _f32(m, VOLTAGES + 2, base), _f32(m, VOLTAGES + 4, base)),
            fault=fault,
        )

    async def _held_current(self) -> float:
        return finite_or_zero(decode(await self.link.read("holding", MAX_CURRENT, 2), "float32"))

    async def _write_current(self, current_a: float) -> float:
        await self.link.write(MAX_CURRENT, encode(current_a, "float32"))
        held = await self._held_current()
        verify_current(current_a, held, 0.0)
        return held

    async def set_current(self, current_a: float) -> float:
        self._requested_a = current_a
        # Writing a current to a disabled Eve would enable it: remember it for set_enabled(True).
        if await self._held_current() <= 0:
            return current_a
        return await self._write_current(current_a)

    async def set_enabled(self, enabled: bool) -> None:
        await self._write_current(self._requested_a if enabled else 0.0)

    async def set_phases(self, phases: int) -> None:
        await self.link.write(PHASES, [phases])
        verify_equal("phases", phases, (await self.link.read("holding", PHASES, 1))[0])


def create(config: ChargerConfig, pool: LinkPool) -> AlfenEve:
    return AlfenEve(pool.unit(config.modbus), physical_phases=config.phases)
