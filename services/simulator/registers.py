"""Register maps as data, their encoding, and the device that serves a map (reads render live values,
writes go to the physics and into a write log).

A map is a list of :class:`Point`. Reads inside a table's span but between points return 0 (real devices
have more registers than we model); reads outside the span or writes to anything but a writable point
answer with Modbus exception 2 (illegal data address); a value a point refuses gives exception 3.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType

from shared.devices.codec import (
    DataType,
    Kind,
    WordOrder,
    decode,
    decode_string,
    encode,
    encode_string,
    width,
)
from shared.logging import get_logger

Value = float | int | str | bool


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

_INTEGERS = {
    DataType.INT16,
    DataType.UINT16,
    DataType.INT32,
    DataType.UINT32,
    DataType.INT64,
    DataType.UINT64,
}


@dataclass(frozen=True)
class Point:
    """One value of a register map: where it lives, how it is encoded, where it comes from / goes to."""

    name: str
    table: Table
    address: int
    dtype: Kind
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
        return width(self.dtype, self.size)

    def encode(self, value: Value) -> list[int]:
        """The registers of ``value`` (physical units; raw = value / scale); integers saturate as a device
        register does, NaN reads 0."""
        kind = DataType(self.dtype)
        if kind is DataType.STRING:
            return encode_string(str(value), self.size, lsb_first=self.lsb_first)
        if kind is DataType.BIT:
            return [1 if value else 0]
        return encode(float(value) / self.scale, kind, self.words, saturate=True)

    def decode(self, regs: Sequence[int]) -> Value:
        """The physical value held by ``regs`` (inverse of :meth:`encode`)."""
        kind = DataType(self.dtype)
        if kind is DataType.STRING:
            return decode_string(regs, lsb_first=self.lsb_first)
        if kind is DataType.BIT:
            return bool(regs[0])
        number = decode(regs, kind, self.words)
        if kind in _INTEGERS and self.scale == 1.0:
            return int(number)
        return number * self.scale


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
