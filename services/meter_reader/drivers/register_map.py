"""Driver for devices described by a flat register map: the generic ``modbus`` meter and the Eastron SDMs."""

from __future__ import annotations

from collections.abc import Iterator

from services.meter_reader.drivers.base import Sample
from services.meter_reader.measurement import Convention, Measured, phases
from shared.config_devices import MeterRegister, MeterRegisterMap
from shared.devices.codec import WIDTH, Block, DataType, Image, decode, plan_reads
from shared.devices.modbus import RegisterReader, read_image


def _registers(regs: MeterRegisterMap) -> Iterator[MeterRegister]:
    for single in (regs.power, regs.energy, regs.return_energy, regs.soc, regs.capacity):
        if single is not None:
            yield single
    for group in (regs.currents, regs.voltages, regs.powers):
        yield from group or ()


def read_plan(regs: MeterRegisterMap) -> list[Block]:
    """The reads one poll needs; only adjacent registers are merged (SDMs reject reads across gaps)."""
    return plan_reads([(r.source, r.address, WIDTH[DataType(r.type)]) for r in _registers(regs)])


def value_of(register: MeterRegister, image: Image) -> float:
    """One register's value (scaled, inverted) out of the read results."""
    words = image.words(register.source, register.address, WIDTH[DataType(register.type)])
    value = decode(words, DataType(register.type), register.word_order) * register.scale
    return -value if register.invert else value


def decode_map(regs: MeterRegisterMap, image: Image) -> Measured:
    """All values of a register map from the raw words read (pure)."""

    def one(register: MeterRegister | None) -> float | None:
        return None if register is None else value_of(register, image)

    def three(group: list[MeterRegister] | None) -> tuple[float, float, float] | None:
        if group is None:
            return None
        return phases((one(group[0]), one(group[1]), one(group[2])))

    return Measured(
        power_w=one(regs.power),
        energy_kwh=one(regs.energy),
        return_energy_kwh=one(regs.return_energy),
        currents_a=three(regs.currents),
        voltages_v=three(regs.voltages),
        powers_w=three(regs.powers),
        soc_pct=one(regs.soc),
        capacity_kwh=one(regs.capacity),
    )


class RegisterMapDriver:
    def __init__(self, registers: MeterRegisterMap, convention: Convention) -> None:
        self.registers = registers
        self.convention = convention
        self.blocks = read_plan(registers)

    async def read(self, link: RegisterReader) -> Sample:
        return Sample(decode_map(self.registers, await read_image(link, self.blocks)), self.convention)

    def reset(self) -> None:
        """Nothing is learned about a register-mapped device."""
