"""Reading many registers of a generic map in as few Modbus requests as possible."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.charger_actuator.codec import word_count
from services.charger_actuator.modbus_link import ModbusLink
from shared.config_devices import ChargerRegister

MAX_SPAN = 100
"""Registers per request (Modbus allows 125 registers / 2000 coils; stay well inside)."""
MAX_GAP = 8
"""Read across a gap of unused registers rather than send another request."""


@dataclass(frozen=True)
class Span:
    source: str
    start: int
    count: int


def plan_spans(registers: Sequence[ChargerRegister]) -> list[Span]:
    """Group registers by source into contiguous spans (pure, so the grouping is testable)."""
    spans: list[Span] = []
    by_source: dict[str, list[tuple[int, int]]] = {}
    for reg in registers:
        by_source.setdefault(reg.source, []).append((reg.address, word_count(reg.type, reg.length)))
    for source, items in sorted(by_source.items()):
        items.sort()
        start, end = items[0][0], items[0][0] + items[0][1]
        for address, size in items[1:]:
            if address - end <= MAX_GAP and address + size - start <= MAX_SPAN:
                end = max(end, address + size)
            else:
                spans.append(Span(source, start, end - start))
                start, end = address, address + size
        spans.append(Span(source, start, end - start))
    return spans


async def read_registers(
    link: ModbusLink, registers: Sequence[ChargerRegister]
) -> dict[tuple[str, int], list[int]]:
    """Words of every register, keyed by (source, address)."""
    words: dict[tuple[str, int], list[int]] = {}
    for span in plan_spans(registers):
        data = await link.read(span.source, span.start, span.count)
        for offset, value in enumerate(data):
            words[(span.source, span.start + offset)] = [value]
    out: dict[tuple[str, int], list[int]] = {}
    for reg in registers:
        size = word_count(reg.type, reg.length)
        out[(reg.source, reg.address)] = [words[(reg.source, reg.address + i)][0] for i in range(size)]
    return out
