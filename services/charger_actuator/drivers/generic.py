"""The generic ``type: modbus`` charger: any wallbox described by a register map in the YAML.

Without an enable register the charger is enabled by a current > 0 and disabled by writing 0 (like Alfen
and EVSE-DIN); the requested current is then remembered while disabled and written on enable.
"""

from __future__ import annotations

from services.charger_actuator.driver import (
    Capabilities,
    ChargerReading,
    ModbusDriver,
    Phases3,
    parse_status,
    verify_current,
    verify_equal,
)
from shared.config_devices import ChargerConfig, ChargerRegister, ChargerRegisterMap
from shared.devices.codec import (
    Block,
    Image,
    decode,
    decode_string,
    encode,
    finite_or_zero,
    plan_reads,
    width,
)
from shared.devices.errors import DeviceError
from shared.devices.modbus import LinkPool, ModbusUnit, read_image
from shared.messages import ChargeStatus

DEFAULT_ENABLE_CURRENT_A = 6.0
"""Current written on enable when no current was ever requested (the IEC minimum)."""
MAX_SPAN = 100
"""Registers per request (Modbus allows 125 registers / 2000 coils; stay well inside)."""
MAX_GAP = 8
"""Read across a gap of unused registers rather than send another request."""


def register_step(reg: ChargerRegister) -> float:
    """Resolution of a writable register in its unit: the scale for integers, none for floats."""
    return 0.0 if reg.type.startswith("float") else abs(reg.scale)


def decode_value(reg: ChargerRegister, words: list[int]) -> float:
    if reg.type == "string":
        raise DeviceError(f"register {reg.address} is a string, a number was expected")
    return finite_or_zero(decode(words, reg.type, reg.word_order)) * reg.scale


def encode_value(reg: ChargerRegister, value: float) -> list[int]:
    return encode(value / reg.scale, reg.type, reg.word_order)


def words_of(reg: ChargerRegister, image: Image) -> list[int]:
    return image.words(reg.source, reg.address, width(reg.type, reg.length))


def decode_status(regs: ChargerRegisterMap, words: list[int]) -> tuple[ChargeStatus, str | None]:
    reg = regs.status
    if reg.type == "string":
        return parse_status(decode_string(words))
    code = int(decode_value(reg, words))
    if reg.map is None:
        raise DeviceError("numeric status register needs a map")
    letter = reg.map.get(code)
    if letter is None:
        return ChargeStatus.A, f"unknown status code {code}"
    return parse_status(letter)


def all_registers(r: ChargerRegisterMap) -> list[ChargerRegister]:
    singles = [r.status, r.current, r.enable, r.phases, r.power, r.energy, r.soc, r.identifier]
    return [reg for reg in singles if reg is not None] + list(r.currents or []) + list(r.voltages or [])


def read_plan(registers: ChargerRegisterMap) -> list[Block]:
    """Every register of the map in as few requests as possible (gaps of up to 8 registers read across)."""
    spans = [(reg.source, reg.address, width(reg.type, reg.length)) for reg in all_registers(registers)]
    return plan_reads(spans, max_gap=MAX_GAP, max_count=MAX_SPAN)


class GenericModbusCharger(ModbusDriver):
    def __init__(self, link: ModbusUnit, registers: ChargerRegisterMap, *, physical_phases: int = 3) -> None:
        super().__init__(
            link,
            Capabilities(
                phase_switching=registers.phases is not None and physical_phases == 3,
                current_step_a=register_step(registers.current),
                has_meter=registers.power is not None,
            ),
        )
        self.registers = registers
        self._requested_a = DEFAULT_ENABLE_CURRENT_A
        self.blocks = read_plan(registers)

    async def _read_one(self, reg: ChargerRegister) -> list[int]:
        return await self.link.read(reg.source, reg.address, width(reg.type, reg.length))

    @staticmethod
    def _triple(regs: list[ChargerRegister] | None, image: Image) -> Phases3 | None:
        if regs is None:
            return None
        a, b, c = (decode_value(reg, words_of(reg, image)) for reg in regs)
        return (a, b, c)

    async def read(self) -> ChargerReading:
        r = self.registers
        image = await read_image(self.link, self.blocks)

        def value(reg: ChargerRegister | None) -> float | None:
            return None if reg is None else decode_value(reg, words_of(reg, image))

        status, fault = decode_status(r, words_of(r.status, image))
        current = value(r.current) or 0.0
        enabled = self._enabled_from(image, current)
        phases = value(r.phases)
        identifier = None
        if r.identifier is not None:
            identifier = decode_string(words_of(r.identifier, image)) or None
        return ChargerReading(
            status=status,
            enabled=enabled,
            current_a=current,
            phases=int(phases) if phases in (1.0, 3.0) else None,
            power_w=value(r.power),
            energy_kwh=value(r.energy),
            currents_a=self._triple(r.currents, image),
            voltages_v=self._triple(r.voltages, image),
            identifier=identifier,
            soc_pct=value(r.soc),
            fault=fault,
        )

    def _enabled_from(self, image: Image, current_a: float) -> bool:
        enable = self.registers.enable
        if enable is None:
            return current_a > 0
        raw = words_of(enable, image)
        return (
            int(decode_value(enable, raw) if enable.source in ("holding", "input") else raw[0]) == enable.on
        )

    async def _write_current(self, current_a: float) -> float:
        reg = self.registers.current
        await self.link.write(reg.address, encode_value(reg, current_a))
        held = decode_value(reg, await self._read_one(reg))
        verify_current(current_a, held, self.capabilities.current_step_a)
        return held

    async def set_current(self, current_a: float) -> float:
        self._requested_a = current_a
        if self.registers.enable is None:
            # current 0 means disabled here: writing a current to a disabled charger would enable it.
            held = decode_value(self.registers.current, await self._read_one(self.registers.current))
            if held <= 0:
                return current_a
        return await self._write_current(current_a)

    async def set_enabled(self, enabled: bool) -> None:
        enable = self.registers.enable
        if enable is None:
            await self._write_current(self._requested_a if enabled else 0.0)
            return
        raw = enable.on if enabled else enable.off
        if enable.source == "coil":
            await self.link.write_coil(enable.address, bool(raw))
            held = (await self._read_one(enable))[0]
            verify_equal("enable", int(bool(raw)), held)
            return
        await self.link.write(enable.address, encode_value(enable, raw))
        held_value = int(decode_value(enable, await self._read_one(enable)))
        verify_equal("enable", raw, held_value)

    async def set_phases(self, phases: int) -> None:
        reg = self.registers.phases
        if reg is None:
            await super().set_phases(phases)
            return
        await self.link.write(reg.address, encode_value(reg, phases))
        verify_equal("phases", phases, int(decode_value(reg, await self._read_one(reg))))


def create(config: ChargerConfig, pool: LinkPool) -> GenericModbusCharger:
    if config.registers is None:
        raise DeviceError(f"charger {config.name}: type modbus needs registers")
    return GenericModbusCharger(pool.unit(config.modbus), config.registers, physical_phases=config.phases)
