"""Register maps as data, their encoding, and the device that serves a map (reads render live values,
writes go to the physics and into a write log).

A map is a list of :class:`Point`. Reads inside a table's span but between points return 0 (real devices
have more registers than we model); reads outside the span or writes to anything but a writable point
answer with Modbus exception 2 (illegal data address); a value a point refuses gives exception 3.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType

from shared.logging import get_logger

Value = float | int | str | bool
DType = Literal["u16", "i16", "u32", "i32", "u64", "f32", "f64", "str", "bit"]
WordOrder = Literal["big", "little"]
"""``big`` = high word first; ``little`` = low word first (LSW first)."""


class Table(StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    HOLDING = "holding"
    INPUT = "input"


FC_TABLE: dict[int, Table] = {
    1: Table.COIL, 5: Table.COIL, 15: Table.COIL,
    2: Table.DISCRETE,
    3: Table.HOLDING, 6: Table.HOLDING, 16: Table.HOLDING, 22: Table.HOLDING, 23: Table.HOLDING,
    4: Table.INPUT,
}  # fmt: skip

_STRUCT: dict[str, tuple[str, int]] = {
    "u16": ("H", 1), "i16": ("h", 1), "u32": ("I", 2), "i32": ("i", 2),
    "u64": ("Q", 4), "f32": ("f", 2), "f64": ("d", 4),
}  # fmt: skip

_INT_RANGE: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF), "u64": (0, 0xFFFFFFFFFFFFFFFF),
}  # fmt: skip


def register_count(dtype: DType, size: int = 1) -> int:
    if dtype == "str":
        return size
    if dtype == "bit":
        return 1
    return _STRUCT[dtype][1]


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def encode(
    value: Value,
    dtype: DType,
    *,
    words: WordOrder = "big",
    size: int = 1,
    scale: float = 1.0,
    lsb_first: bool = False,
) -> list[int]:
    """Registers holding ``value`` (physical units; raw = value / scale). Integers saturate, NaN → 0."""
    if dtype == "str":
        raw = str(value).encode("ascii", "replace")[: size * 2].ljust(size * 2, b"\0")
        if lsb_first:
            raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
        return _words(raw)
    if dtype == "bit":
        return [1 if value else 0]
    fmt, _ = _STRUCT[dtype]
    number = float(value) / scale
    if dtype in _INT_RANGE:
        lo, hi = _INT_RANGE[dtype]
        packed = struct.pack(f">{fmt}", 0 if math.isnan(number) else max(lo, min(hi, round(number))))
    else:
        packed = struct.pack(f">{fmt}", number)
    regs = _words(packed)
    return regs[::-1] if words == "little" else regs


def decode(
    regs: Sequence[int],
    dtype: DType,
    *,
    words: WordOrder = "big",
    scale: float = 1.0,
    lsb_first: bool = False,
) -> Value:
    """The physical value held by ``regs`` (inverse of :func:`encode`)."""
    if dtype == "str":
        raw = b"".join(r.to_bytes(2, "big") for r in regs)
        if lsb_first:
            raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
        return raw.rstrip(b"\0").decode("ascii", "replace")
    if dtype == "bit":
        return bool(regs[0])
    fmt, _ = _STRUCT[dtype]
    ordered = list(regs)[::-1] if words == "little" else list(regs)
    (number,) = struct.unpack(f">{fmt}", b"".join(r.to_bytes(2, "big") for r in ordered))
    if dtype in _INT_RANGE and scale == 1.0:
        return int(number)
    return float(number) * scale


@dataclass(frozen=True)
class Point:
    """One value of a register map: where it lives, how it is encoded, where it comes from / goes to."""

    name: str
    table: Table
    address: int
    dtype: DType
    read: Callable[[], Value]
    write: Callable[[Value], None] | None = None
    """Called with the decoded value of a register write; raise ``ValueError`` to refuse it."""
    check: Callable[[Value], object] | None = None
    """Validates a written value without side effects (raise ``ValueError``); all points of one request
    are checked before any is written, so a refused multi-register write changes nothing."""
    words: WordOrder = "big"
    size: int = 1
    """Registers of a string."""
    scale: float = 1.0
    """Physical units per register count (0.1 → the register holds tenths)."""
    lsb_first: bool = False
    """Strings only: low byte first within each register."""

    @property
    def count(self) -> int:
        return register_count(self.dtype, self.size)

    def encode(self, value: Value) -> list[int]:
        return encode(
            value, self.dtype, words=self.words, size=self.size, scale=self.scale, lsb_first=self.lsb_first
        )

    def decode(self, regs: Sequence[int]) -> Value:
        return decode(regs, self.dtype, words=self.words, scale=self.scale, lsb_first=self.lsb_first)


def const(value: Value) -> Callable[[], Value]:
    return lambda: value


def item(values: Callable[[], Sequence[float]], index: int) -> Callable[[], Value]:
    """A source reading element ``index`` of whatever ``values`` returns at read time."""
    return lambda: values()[index]


@dataclass(frozen=True)
class WriteRecord:
    """One accepted register write (``at`` = simulated time, ``monotonic_s`` = real time.monotonic())."""

    at: datetime
    monotonic_s: float
    device: str
    unit: int
    table: Table
    address: int
    registers: tuple[int, ...]
    point: str
    value: Value


class WriteLog:
    """Every accepted write to a device, in order; tests await the one they expect.

    A long-running simulator keeps the newest ``max_records`` (older ones are dropped in chunks, which
    shifts indices — only a demo running for days gets there).
    """

    def __init__(self, max_records: int = 100_000) -> None:
        self.records: list[WriteRecord] = []
        self.max_records = max_records
        self._changed = asyncio.Event()

    def append(self, record: WriteRecord) -> None:
        self.records.append(record)
        if len(self.records) > self.max_records:
            del self.records[: len(self.records) - self.max_records * 9 // 10]
        self._changed.set()

    def __iter__(self) -> Iterator[WriteRecord]:
        return iter(list(self.records))

    def __len__(self) -> int:
        return len(self.records)

    def of(self, point: str) -> list[WriteRecord]:
        """Writes to the point named ``point`` (e.g. ``"max_current"``)."""
        return [r for r in self.records if r.point == point]

    def last(self, point: str | None = None) -> WriteRecord | None:
        matching = self.records if point is None else self.of(point)
        return matching[-1] if matching else None

    async def wait_for(
        self, predicate: Callable[[WriteRecord], bool], *, since: int = 0, timeout: float = 10.0
    ) -> WriteRecord:
        """The first record from index ``since`` on that satisfies ``predicate``, waiting for it if needed."""
        async with asyncio.timeout(timeout):
            while True:
                for record in self.records[since:]:
                    if predicate(record):
                        return record
                since = len(self.records)
                self._changed.clear()
                await self._changed.wait()


class MappedDevice:
    """A device that serves a register map for one or more unit ids.

    ``before_access`` runs before every request (the home uses it to bring the physics up to now).
    """

    def __init__(
        self,
        name: str,
        model: str,
        points: Sequence[Point],
        *,
        unit_ids: Sequence[int] = (1,),
        framer: FramerType = FramerType.SOCKET,
        clock: Callable[[], datetime],
        before_access: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.model = model
        self.unit_ids = tuple(unit_ids)
        self.framer = framer
        self.points = list(points)
        self.writes = WriteLog()
        self._log = get_logger("simulator", device=name)
        self._clock = clock
        self._before_access = before_access
        self._cells: dict[Table, dict[int, tuple[Point, int]]] = {t: {} for t in Table}
        for point in self.points:
            for offset in range(point.count):
                cells = self._cells[point.table]
                if point.address + offset in cells:
                    raise ValueError(
                        f"{model}: {point.name} overlaps {cells[point.address + offset][0].name}"
                    )
                cells[point.address + offset] = (point, offset)
        self._span = {t: (min(c), max(c)) for t, c in self._cells.items() if c}

    def point(self, name: str) -> Point:
        return next(p for p in self.points if p.name == name)

    def value(self, name: str) -> Value:
        """The live value of a point, as a client would decode it."""
        self._before_access()
        point = self.point(name)
        return point.decode(point.encode(point.read()))

    def _in_span(self, table: Table, address: int, count: int) -> bool:
        span = self._span.get(table)
        return span is not None and span[0] <= address and address + count - 1 <= span[1]

    def read(self, table: Table, address: int, count: int) -> list[int] | ExcCodes:
        if count < 1 or not self._in_span(table, address, count):
            return ExcCodes.ILLEGAL_ADDRESS
        self._before_access()
        cells = self._cells[table]
        rendered: dict[str, list[int]] = {}
        out: list[int] = []
        for addr in range(address, address + count):
            cell = cells.get(addr)
            if cell is None:
                out.append(0)
                continue
            point, offset = cell
            if point.name not in rendered:
                rendered[point.name] = point.encode(point.read())
            out.append(rendered[point.name][offset])
        return out

    def write(self, unit: int, table: Table, address: int, values: Sequence[int]) -> ExcCodes | None:
        cells = self._cells[table]
        touched: dict[str, tuple[Point, list[int]]] = {}
        self._before_access()
        for index, raw in enumerate(values):
            cell = cells.get(address + index)
            if cell is None or cell[0].write is None:
                return ExcCodes.ILLEGAL_ADDRESS
            point, offset = cell
            if point.name not in touched:
                # A partial write of a multi-register value keeps the registers it does not cover.
                touched[point.name] = (point, point.encode(point.read()))
            touched[point.name][1][offset] = int(raw)
        decoded = [(point, regs, point.decode(regs)) for point, regs in touched.values()]
        for point, _regs, value in decoded:
            if isinstance(value, float) and not math.isfinite(value):
                return ExcCodes.ILLEGAL_VALUE
            try:
                if point.check is not None:
                    point.check(value)
            except ValueError:
                return ExcCodes.ILLEGAL_VALUE
        for point, regs, value in decoded:
            assert point.write is not None
            try:
                point.write(value)
            except ValueError:
                return ExcCodes.ILLEGAL_VALUE
            self._log.debug(
                "register written", unit=unit, address=point.address, point=point.name, value=value
            )
            self.writes.append(
                WriteRecord(
                    at=self._clock(), monotonic_s=time.monotonic(), device=self.name, unit=unit, table=table,
                    address=point.address, registers=tuple(regs), point=point.name, value=value,
                )
            )  # fmt: skip
        return None
