"""Phoenix Contact EV-ETH controllers and Wallbe/Compleo boxes built on them (Modbus TCP, unit 255).

Input registers carry status and measurements (32-bit values low word first), coil 400 enables charging,
holding 528 is the max current — in A, or in 0.1 A on Wallbe "milli current" firmware, recognised by a
value ≥ 60 there (no box takes 60 A) unless ``millicurrent`` is configured. Coil 419 tells whether RFID is
on; the tag is then in holding 606 (16 registers of ASCII).
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
from shared.devices.codec import decode, decode_string
from shared.devices.errors import DeviceError
from shared.devices.modbus import LinkPool, ModbusUnit

STATUS = 100
"""Input: status letter in the low byte."""
MEASUREMENTS = 108
"""Input: voltages 108/110/112 V, currents 114/116/118 A, power 120 W — int32, low word first."""
MEASUREMENT_COUNT = 14
ENERGY = 904
"""Holding: energy Wh, uint32 low word first."""
WALLBE_ENERGY = 2980
"""Holding (Wallbe firmware): energy Wh, uint64 low word first."""
ENABLE = 400
"""Coil: charging enabled."""
RFID_ENABLED = 419
"""Coil: RFID reader on."""
RFID_TAG = 606
RFID_LENGTH = 16
MAX_CURRENT = 528
"""Holding: max current A (or 0.1 A with milli current)."""
MILLI_THRESHOLD = 60
MIN_CURRENT_A = 6.0


def _int32_lsw(words: list[int], offset: int) -> float:
    return decode(words[offset : offset + 2], "int32", "little")


def _uint_lsw(words: list[int]) -> int:
    return sum(w << (16 * i) for i, w in enumerate(words))


class PhoenixEvEth(ModbusDriver):
    def __init__(self, link: ModbusUnit, *, millicurrent: bool | None = None, wallbe: bool = False) -> None:
        super().__init__(link, self._capabilities(bool(millicurrent)))
        self._milli = millicurrent
        self._wallbe = wallbe

    @staticmethod
    def _capabilities(milli: bool) -> Capabilities:
        return Capabilities(current_step_a=0.1 if milli else 1.0, min_current_a=MIN_CURRENT_A, has_meter=True)

    @property
    def _factor(self) -> float:
        return 10.0 if self._milli else 1.0

    async def _max_current_raw(self) -> int:
        raw = (await self.link.read("holding", MAX_CURRENT, 1))[0]
        if self._milli is None:
            self._milli = raw >= MILLI_THRESHOLD
            self.capabilities = self._capabilities(self._milli)
        return raw

    async def _energy_kwh(self) -> float:
        if self._wallbe:
            try:
                return _uint_lsw(await self.link.read("holding", WALLBE_ENERGY, 4)) / 1000
            except DeviceError:
                # Firmware without the 64-bit counter: use the EV-ETH one from now on.
                self._wallbe = False
        return _uint_lsw(await self.link.read("holding", ENERGY, 2)) / 1000

    async def _identifier(self) -> str | None:
        if not (await self.link.read("coil", RFID_ENABLED, 1))[0]:
            return None
        return decode_string(await self.link.read("holding", RFID_TAG, RFID_LENGTH)) or None

    async def read(self) -> ChargerReading:
        status_word = (await self.link.read("input", STATUS, 1))[0]
        status, fault = parse_status(chr(status_word & 0xFF))
        enabled = bool((await self.link.read("coil", ENABLE, 1))[0])
        current = await self._max_current_raw() / self._factor
        m = await self.link.read("input", MEASUREMENTS, MEASUREMENT_COUNT)
        return ChargerReading(
            status=status,
            enabled=enabled,
            current_a=current,
            power_w=_int32_lsw(m, 12),
            energy_kwh=await self._energy_kwh(),
            voltages_v=(_int32_lsw(m, 0), _int32_lsw(m, 2), _int32_lsw(m, 4)),
            currents_a=(_int32_lsw(m, 6), _int32_lsw(m, 8), _int32_lsw(m, 10)),
            identifier=await self._identifier(),
            fault=fault,
        )

    async def set_current(self, current_a: float) -> float:
        if self._milli is None:
            await self._max_current_raw()
        await self.link.write(MAX_CURRENT, [round(current_a * self._factor)])
        held = (await self.link.read("holding", MAX_CURRENT, 1))[0] / self._factor
        verify_current(current_a, held, self.capabilities.current_step_a)
        return held

    async def set_enabled(self, enabled: bool) -> None:
        await self.link.write_coil(ENABLE, enabled)
        verify_equal("enable", int(enabled), (await self.link.read("coil", ENABLE, 1))[0])


def create(config: ChargerConfig, pool: LinkPool) -> PhoenixEvEth:
    return PhoenixEvEth(
        pool.unit(config.modbus),
        millicurrent=config.millicurrent,
        wallbe=config.type == "wallbe",
    )
