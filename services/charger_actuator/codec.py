"""Modbus register encoding: 16-bit words ↔ numbers and strings, with word order and scale.

Kept free of I/O so every driver's register map can be tested with plain lists of words.
"""

from __future__ import annotations

import math
import struct
from typing import Literal

WordOrder = Literal["big", "little"]
NumberType = Literal["uint16", "int16", "uint32", "int32", "float32", "float64"]

_FORMATS: dict[str, tuple[str, int]] = {
    "uint16": (">H", 1),
    "int16": (">h", 1),
    "uint32": (">I", 2),
    "int32": (">i", 2),
    "float32": (">f", 2),
    "float64": (">d", 4),
}


def word_count(data_type: str, length: int = 1) -> int:
    """Registers occupied by a value of ``data_type`` (strings: ``length``)."""
    if data_type == "string":
        return length
    return _FORMATS[data_type][1]


def _bytes(words: list[int], order: WordOrder) -> bytes:
    ordered = words if order == "big" else list(reversed(words))
    return b"".join((w & 0xFFFF).to_bytes(2, "big") for w in ordered)


def decode_number(words: list[int], data_type: NumberType, order: WordOrder = "big") -> float:
    """The number held by ``words`` (exactly the registers of one value). NaN floats decode as NaN."""
    fmt, size = _FORMATS[data_type]
    if len(words) != size:
        raise ValueError(f"{data_type} needs {size} registers, got {len(words)}")
    value: float = struct.unpack(fmt, _bytes(words, order))[0]
    return float(value)


def encode_number(value: float, data_type: NumberType, order: WordOrder = "big") -> list[int]:
    """The registers that hold ``value`` as ``data_type`` (integers are rounded to the nearest)."""
    fmt, size = _FORMATS[data_type]
    number: float | int = value if data_type.startswith("float") else round(value)
    raw = struct.pack(fmt, number)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * size, 2)]
    return words if order == "big" else list(reversed(words))


def decode_string(words: list[int]) -> str:
    """ASCII text packed two characters per register, high byte first; NULs and blanks trimmed."""
    return _bytes(words, "big").decode("ascii", errors="replace").replace("\x00", "").strip()


def finite_or_zero(value: float) -> float:
    """Devices report NaN for 'no value' (e.g. Alfen currents); the bus carries 0 instead."""
    return value if math.isfinite(value) else 0.0
