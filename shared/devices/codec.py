"""Modbus register words ↔ values: data types, word orders, text, SunSpec sentinels, and read planning.

Pure functions only; every driver, the battery control and the simulator encode and decode through here, so
the byte-level rules live in one place. A Modbus register is a 16-bit word sent high byte first; values
of several registers differ only in the order of their words (``big`` = most significant word first).
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
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    ACC32 = "acc32"
    """SunSpec accumulator: a uint32 that wraps."""
    SUNSSF = "sunssf"
    """SunSpec scale factor: an int16 power-of-ten exponent."""
    STRING = "string"
    """ASCII, two characters per register, high byte first (``lsb_first`` swaps them), NUL padded."""
    BIT = "bit"
    """A coil or discrete input: 0/1."""


TypeName = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "acc32", "sunssf",
    "string", "bit",
]  # fmt: skip
Kind = DataType | TypeName

_FORMAT: dict[DataType, str] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
    DataType.ACC32: ">I",
    DataType.SUNSSF: ">h",
}
_FLOATS = (DataType.FLOAT32, DataType.FLOAT64)

WIDTH: dict[DataType, int] = {t: struct.calcsize(f) // 2 for t, f in _FORMAT.items()} | {DataType.BIT: 1}
"""Registers per number (strings: their configured length)."""

_RANGE: dict[DataType, tuple[int, int]] = {
    t: (-(1 << (16 * WIDTH[t] - 1)), (1 << (16 * WIDTH[t] - 1)) - 1)
    if f[1].islower()
    else (0, (1 << (16 * WIDTH[t])) - 1)
    for t, f in _FORMAT.items()
    if t not in _FLOATS
}

# SunSpec marks a point the device does not implement with these raw patterns.
_NOT_IMPLEMENTED: dict[DataType, int] = {
    DataType.INT16: 0x8000,
    DataType.UINT16: 0xFFFF,
    DataType.INT32: 0x80000000,
    DataType.UINT32: 0xFFFFFFFF,
    DataType.SUNSSF: 0x8000,
}


class DecodeError(ValueError):
    """The words do not fit the requested type."""


class EncodeError(ValueError):
    """The value does not fit the requested type."""


def width(dtype: Kind, length: int = 1) -> int:
    """Registers a value of ``dtype`` occupies (strings: ``length``)."""
    kind = DataType(dtype)
    return length if kind is DataType.STRING else WIDTH[kind]


def _raw_bytes(words: Sequence[int], count: int, order: WordOrder, what: str) -> bytes:
    if len(words) != count:
        raise DecodeError(f"{what} needs {count} registers, got {len(words)}")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise DecodeError(f"register words must be 0..65535: {list(words)}")
    ordered = list(words) if order == "big" else list(reversed(words))
    return b"".join(w.to_bytes(2, "big") for w in ordered)


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def decode(words: Sequence[int], dtype: Kind, order: WordOrder = "big") -> float:
    """The number held in ``words`` (exactly :func:`width` registers). NaN floats decode as NaN."""
    kind = DataType(dtype)
    if kind is DataType.STRING:
        raise DecodeError("a string register holds text, not a number")
    if kind is DataType.BIT:
        _raw_bytes(words, 1, "big", kind)
        return float(bool(words[0]))
    (value,) = struct.unpack(_FORMAT[kind], _raw_bytes(words, WIDTH[kind], order, kind))
    return float(value)


def encode(value: float, dtype: Kind, order: WordOrder = "big", *, saturate: bool = False) -> list[int]:
    """The register words for ``value`` — the inverse of :func:`decode`. Integers are rounded to the
    nearest; a value outside the type's range is an :class:`EncodeError`, or clipped with ``saturate``
    (what a device register does — the simulator's choice; NaN then reads 0)."""
    kind = DataType(dtype)
    if kind is DataType.BIT:
        return [1 if value else 0]
    if kind is DataType.STRING:
        raise EncodeError("use encode_string for text")
    number: float | int
    if kind in _FLOATS:
        number = float(value)
    else:
        lo, hi = _RANGE[kind]
        if math.isnan(value):
            if not saturate:
                raise EncodeError(f"NaN is not a {kind}")
            number = 0
        elif math.isinf(value) or not lo <= round(value) <= hi:
            if not saturate:
                raise EncodeError(f"{value:g} does not fit {kind} ({lo}..{hi})")
            number = hi if value > 0 else lo
        else:
            number = round(value)
    words = _words(struct.pack(_FORMAT[kind], number))
    return words if order == "big" else list(reversed(words))


def _swap_bytes(raw: bytes) -> bytes:
    return b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))


def decode_string(words: Sequence[int], *, lsb_first: bool = False) -> str:
    """ASCII text packed two characters per register; NULs and surrounding blanks trimmed."""
    raw = _raw_bytes(words, len(words), "big", "string")
    if lsb_first:
        raw = _swap_bytes(raw)
    return raw.decode("ascii", errors="replace").replace("\x00", "").strip()


def encode_string(text: str, length: int, *, lsb_first: bool = False) -> list[int]:
    """``text`` in ``length`` registers, cut to fit and NUL padded."""
    raw = text.encode("ascii", "replace")[: length * 2].ljust(length * 2, b"\0")
    return _words(_swap_bytes(raw) if lsb_first else raw)


def finite_or_zero(value: float) -> float:
    """Devices report NaN for 'no value' (e.g. Alfen currents when idle); the bus carries 0 instead."""
    return value if math.isfinite(value) else 0.0


# --- SunSpec ---------------------------------------------------------------------------------------------


def decode_sunspec(words: Sequence[int], dtype: Kind) -> float | None:
    """A SunSpec point (always big-endian word order); ``None`` when the device marks it unimplemented."""
    kind = DataType(dtype)
    raw = int.from_bytes(_raw_bytes(words, WIDTH[kind], "big", kind), "big")
    if _NOT_IMPLEMENTED.get(kind) == raw:
        return None
    value = decode(words, kind)
    return None if math.isnan(value) else value


def apply_scale_factor(value: float | None, sf: float | None) -> float | None:
    """``value · 10^sf``; a point whose scale factor is unimplemented is unusable."""
    if value is None or sf is None:
        return None
    return value * float(10.0**sf)


# --- read planning ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers (or coils) from ``address`` of one table."""

    source: str
    """``holding``, ``input``, ``coil`` or ``discrete``."""
    address: int
    count: int

    def words(self, image: Sequence[int], address: int, count: int) -> list[int]:
        """The ``count`` words at absolute ``address`` out of this block's read result ``image``."""
        start = address - self.address
        if start < 0 or start + count > self.count:
            raise DecodeError(f"register {address} is outside block {self.address}+{self.count}")
        return list(image[start : start + count])


MAX_READ = 125
"""Modbus limit of registers per read (FC 3/4)."""


def plan_reads(
    spans: Sequence[tuple[str, int, int]], max_gap: int = 0, max_count: int = MAX_READ
) -> list[Block]:
    """Merge ``(source, address, count)`` spans into as few reads as possible, per table.

    Spans closer than ``max_gap`` registers are read together; ``max_gap=0`` only joins adjacent or
    overlapping spans, so devices that reject reads across undefined registers (many meters do) are safe.
    """
    blocks: list[Block] = []
    for source, address, count in sorted(set(spans)):
        last = blocks[-1] if blocks else None
        end = address + count
        if (
            last is not None
            and last.source == source
            and address <= last.address + last.count + max_gap
            and max(last.address + last.count, end) - last.address <= max_count
        ):
            blocks[-1] = Block(source, last.address, max(last.address + last.count, end) - last.address)
        else:
            blocks.append(Block(source, address, count))
    return blocks


@dataclass(frozen=True)
class Image:
    """The results of reading a plan: ``data[i]`` are the words of ``blocks[i]``."""

    blocks: Sequence[Block]
    data: Sequence[Sequence[int]]

    def words(self, source: str, address: int, count: int) -> list[int]:
        """The ``count`` words at ``address`` of table ``source``, from whichever block covers them."""
        for block, image in zip(self.blocks, self.data, strict=True):
            if (
                block.source == source
                and block.address <= address
                and address + count <= block.address + block.count
            ):
                return block.words(image, address, count)
        raise DecodeError(f"no read covers {source} register {address}")
