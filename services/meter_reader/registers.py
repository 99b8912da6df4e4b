"""Raw Modbus register words → numbers: data types, word orders, scale factors, SunSpec sentinels.

Pure functions only; every driver decodes through here so the byte-level rules live in one place.
A Modbus register is a 16-bit word transmitted high byte first; multi-register values differ only in the
order of their words (``big`` = most significant word first).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

WordOrder = Literal["big", "little"]


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    ACC32 = "acc32"
    """SunSpec accumulator: uint32 that wraps."""
    SUNSSF = "sunssf"
    """SunSpec scale factor: int16 power-of-ten exponent."""


_FORMAT: dict[DataType, str] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
    DataType.ACC32: ">I",
    DataType.SUNSSF: ">h",
}

WIDTH: dict[DataType, int] = {t: struct.calcsize(f) // 2 for t, f in _FORMAT.items()}
"""Registers per value."""

# SunSpec marks a point the device does not implement with these raw patterns (SunSpec spec §"unimplemented").
_NOT_IMPLEMENTED: dict[DataType, int] = {
    DataType.INT16: 0x8000,
    DataType.UINT16: 0xFFFF,
    DataType.INT32: 0x80000000,
    DataType.UINT32: 0xFFFFFFFF,
    DataType.SUNSSF: 0x8000,
}


class DecodeError(ValueError):
    """The words do not fit the requested type."""


def _raw_bytes(words: Sequence[int], dtype: DataType, word_order: WordOrder) -> bytes:
    width = WIDTH[dtype]
    if len(words) != width:
        raise DecodeError(f"{dtype} needs {width} registers, got {len(words)}")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise DecodeError(f"register words must be 0..65535: {list(words)}")
    ordered = list(words) if word_order == "big" else list(reversed(words))
    return b"".join(w.to_bytes(2, "big") for w in ordered)


def decode(words: Sequence[int], dtype: DataType, word_order: WordOrder = "big") -> float:
    """The number held in ``words`` (exactly ``WIDTH[dtype]`` registers)."""
    (value,) = struct.unpack(_FORMAT[dtype], _raw_bytes(words, dtype, word_order))
    return float(value)


def encode(value: float, dtype: DataType, word_order: WordOrder = "big") -> list[int]:
    """The register words for ``value`` — the inverse of :func:`decode` (tests and simulators use it)."""
    code = _FORMAT[dtype]
    packed = struct.pack(code, value if code[-1] in "fd" else int(value))
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    return words if word_order == "big" else list(reversed(words))


def decode_sunspec(words: Sequence[int], dtype: DataType) -> float | None:
    """A SunSpec point (always big-endian word order); ``None`` when the device marks it unimplemented."""
    raw = int.from_bytes(_raw_bytes(words, dtype, "big"), "big")
    if _NOT_IMPLEMENTED.get(dtype) == raw:
        return None
    value = decode(words, dtype)
    return None if math.isnan(value) else value


def apply_scale_factor(value: float | None, sf: float | None) -> float | None:
    """``value · 10^sf``; a point whose scale factor is unimplemented is unusable."""
    if value is None or sf is None:
        return None
    return value * float(10.0**sf)


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers from ``address`` in one register table."""

    source: str
    address: int
    count: int

    def words(self, image: Sequence[int], address: int, width: int) -> list[int]:
        """The ``width`` words at absolute ``address`` out of this block's read result ``image``."""
        start = address - self.address
        if start < 0 or start + width > self.count:
            raise DecodeError(f"register {address} is outside block {self.address}+{self.count}")
        return list(image[start : start + width])


MAX_READ = 125
"""Modbus limit of registers per read (FC 3/4)."""


def plan_reads(
    spans: Sequence[tuple[str, int, int]], max_gap: int = 0, max_count: int = MAX_READ
) -> list[Block]:
    """Merge ``(source, address, width)`` spans into as few reads as possible.

    Spans closer than ``max_gap`` registers are read together; ``max_gap=0`` only joins adjacent or
    overlapping spans, so devices that reject reads across undefined registers (many meters do) are safe.
    """
    blocks: list[Block] = []
    for source, address, width in sorted(set(spans)):
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.source == source
            and address <= last.address + last.count + max_gap
            and max(last.address + last.count, address + width) - last.address <= max_count
        ):
            end = max(last.address + last.count, address + width)
            blocks[-1] = Block(source, last.address, end - last.address)
        else:
            blocks.append(Block(source, address, width))
    return blocks


def find_block(blocks: Sequence[Block], source: str, address: int, width: int) -> Block:
    for block in blocks:
        if (
            block.source == source
            and block.address <= address
            and address + width <= block.address + block.count
        ):
            return block
    raise DecodeError(f"no read covers {source} register {address}")
