"""SunSpec over Modbus TCP: inverters (101–103 int+SF, 111–113 float), meters (201–204, 211–214) and
batteries (storage 124, battery 802), discovered by walking the model chain from the ``SunS`` marker.

The maps below are the SunSpec information models' point offsets (relative to the first register after a
model's ID and L words). A meter model counts import positive, an inverter counts production (for a battery
inverter: discharge) positive; 802's ``W`` is the battery's own power, discharge positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.meter_reader.drivers.base import Sample
from services.meter_reader.measurement import Convention, Measured, phases
from shared.devices.codec import WIDTH, DataType, apply_scale_factor, decode_sunspec
from shared.devices.errors import DeviceError, DeviceRefused
from shared.devices.modbus import RegisterReader
from shared.messages import MeterUsage

SUNS = (0x5375, 0x6E53)
"""The ASCII marker "SunS" at the base address."""
BASES = (40000, 50000, 0)
"""Base addresses where devices put the marker, most common first."""
END_OF_CHAIN = 0xFFFF
MAX_MODELS = 64
"""Stop walking a chain that never ends (a broken device must not hang discovery)."""


@dataclass(frozen=True)
class Point:
    offset: int
    dtype: DataType
    sf: str | None = None
    """Name of the scale-factor point of the same model."""


ModelMap = Mapping[str, Point]

U16, I16, ACC32, SF, F32 = DataType.UINT16, DataType.INT16, DataType.ACC32, DataType.SUNSSF, DataType.FLOAT32

INVERTER_INT: ModelMap = {
    "AphA": Point(1, U16, "A_SF"),
    "AphB": Point(2, U16, "A_SF"),
    "AphC": Point(3, U16, "A_SF"),
    "A_SF": Point(4, SF),
    "PhVphA": Point(8, U16, "V_SF"),
    "PhVphB": Point(9, U16, "V_SF"),
    "PhVphC": Point(10, U16, "V_SF"),
    "V_SF": Point(11, SF),
    "W": Point(12, I16, "W_SF"),
    "W_SF": Point(13, SF),
    "WH": Point(22, ACC32, "WH_SF"),
    "WH_SF": Point(24, SF),
}
"""Models 101 (single phase), 102 (split), 103 (three phase); length 50."""

INVERTER_FLOAT: ModelMap = {
    "AphA": Point(2, F32),
    "AphB": Point(4, F32),
    "AphC": Point(6, F32),
    "PhVphA": Point(14, F32),
    "PhVphB": Point(16, F32),
    "PhVphC": Point(18, F32),
    "W": Point(20, F32),
    "WH": Point(30, F32),
}
"""Models 111, 112, 113; length 60."""

METER_INT: ModelMap = {
    "AphA": Point(1, I16, "A_SF"),
    "AphB": Point(2, I16, "A_SF"),
    "AphC": Point(3, I16, "A_SF"),
    "A_SF": Point(4, SF),
    "PhVphA": Point(6, I16, "V_SF"),
    "PhVphB": Point(7, I16, "V_SF"),
    "PhVphC": Point(8, I16, "V_SF"),
    "V_SF": Point(13, SF),
    "W": Point(16, I16, "W_SF"),
    "WphA": Point(17, I16, "W_SF"),
    "WphB": Point(18, I16, "W_SF"),
    "WphC": Point(19, I16, "W_SF"),
    "W_SF": Point(20, SF),
    "TotWhExp": Point(36, ACC32, "TotWh_SF"),
    "TotWhImp": Point(44, ACC32, "TotWh_SF"),
    "TotWh_SF": Point(52, SF),
}
"""Models 201 (single phase), 202 (split), 203 (wye), 204 (delta); length 105."""

METER_FLOAT: ModelMap = {
    "AphA": Point(2, F32),
    "AphB": Point(4, F32),
    "AphC": Point(6, F32),
    "PhVphA": Point(10, F32),
    "PhVphB": Point(12, F32),
    "PhVphC": Point(14, F32),
    "W": Point(26, F32),
    "WphA": Point(28, F32),
    "WphB": Point(30, F32),
    "WphC": Point(32, F32),
    "TotWhExp": Point(58, F32),
    "TotWhImp": Point(66, F32),
}
"""Models 211–214; length 124."""

STORAGE: ModelMap = {
    "ChaState": Point(6, U16, "ChaState_SF"),
    "ChaState_SF": Point(20, SF),
}
"""Model 124 (basic storage controls); length 24. ``ChaState`` = SoC %."""

BATTERY: ModelMap = {
    "WHRtg": Point(1, U16, "WHRtg_SF"),
    "SoC": Point(9, U16, "SoC_SF"),
    "W": Point(45, I16, "W_SF"),
    "WHRtg_SF": Point(51, SF),
    "SoC_SF": Point(54, SF),
    "W_SF": Point(61, SF),
}
"""Model 802 (battery base); length 62. ``WHRtg`` = capacity Wh."""


class Kind(StrEnum):
    INVERTER = "inverter"
    METER = "meter"
    STORAGE = "storage"
    BATTERY = "battery"


MODELS: dict[int, tuple[Kind, ModelMap]] = {
    **{m: (Kind.INVERTER, INVERTER_INT) for m in (101, 102, 103)},
    **{m: (Kind.INVERTER, INVERTER_FLOAT) for m in (111, 112, 113)},
    **{m: (Kind.METER, METER_INT) for m in (201, 202, 203, 204)},
    **{m: (Kind.METER, METER_FLOAT) for m in (211, 212, 213, 214)},
    124: (Kind.STORAGE, STORAGE),
    802: (Kind.BATTERY, BATTERY),
}

# Which model gives the power of a usage: a PV or battery meter reads the inverter, a grid/charge meter the
# meter model, each falling back to the other (an inverter with a grid meter attached carries both).
_POWER_SOURCES: dict[MeterUsage, tuple[Kind, Kind]] = {
    MeterUsage.PV: (Kind.INVERTER, Kind.METER),
    MeterUsage.BATTERY: (Kind.INVERTER, Kind.METER),
    MeterUsage.GRID: (Kind.METER, Kind.INVERTER),
    MeterUsage.CHARGE: (Kind.METER, Kind.INVERTER),
    MeterUsage.AUX: (Kind.METER, Kind.INVERTER),
}


@dataclass(frozen=True)
class ModelHeader:
    id: int
    start: int
    """Address of the model's first data register (after ID and L)."""
    length: int


def span(model: ModelMap) -> int:
    """Registers from the model start that cover every point of the map."""
    return max(p.offset + WIDTH[p.dtype] for p in model.values())


def decode_model(model: ModelMap, words: list[int]) -> dict[str, float | None]:
    """Every point of ``model`` from a model's data words, scale factors applied; ``None`` where the device
    does not implement a point (or its model is shorter than the point's offset)."""
    raw: dict[str, float | None] = {}
    for name, point in model.items():
        end = point.offset + WIDTH[point.dtype]
        raw[name] = decode_sunspec(words[point.offset : end], point.dtype) if end <= len(words) else None
    values: dict[str, float | None] = {}
    for name, point in model.items():
        if point.dtype is DataType.SUNSSF:
            continue
        values[name] = apply_scale_factor(raw[name], raw[point.sf]) if point.sf else raw[name]
    return values


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else wh / 1000.0


def _measured(kind: Kind, v: Mapping[str, float | None]) -> Measured:
    currents = phases((v.get("AphA"), v.get("AphB"), v.get("AphC")))
    voltages = phases((v.get("PhVphA"), v.get("PhVphB"), v.get("PhVphC")))
    if kind is Kind.INVERTER:
        return Measured(power_w=v["W"], energy_kwh=_kwh(v["WH"]), currents_a=currents, voltages_v=voltages)
    return Measured(
        power_w=v["W"],
        energy_kwh=_kwh(v["TotWhImp"]),
        return_energy_kwh=_kwh(v["TotWhExp"]),
        currents_a=currents,
        voltages_v=voltages,
        powers_w=phases((v["WphA"], v["WphB"], v["WphC"])),
    )


_CONVENTION = {Kind.INVERTER: Convention.PRODUCER, Kind.METER: Convention.CONSUMER}


def combine(usage: MeterUsage, values: Mapping[Kind, Mapping[str, float | None]]) -> Sample:
    """One sample for ``usage`` from the decoded models of a device (pure)."""
    battery = values.get(Kind.BATTERY, {})
    storage = values.get(Kind.STORAGE, {})
    soc = battery.get("SoC")
    if soc is None:
        soc = storage.get("ChaState")
    capacity = _kwh(battery.get("WHRtg"))
    if usage is MeterUsage.BATTERY and battery.get("W") is not None:
        inverter = values.get(Kind.INVERTER)
        base = _measured(Kind.INVERTER, inverter) if inverter else Measured()
        measured = Measured(
            power_w=battery["W"],
            energy_kwh=base.energy_kwh,
            currents_a=base.currents_a,
            voltages_v=base.voltages_v,
            soc_pct=soc,
            capacity_kwh=capacity,
        )
        return Sample(measured, Convention.PRODUCER)
    for kind in _POWER_SOURCES[usage]:
        if kind in values:
            measured = _measured(kind, values[kind])
            if soc is not None or capacity is not None:
                measured = Measured(**{**measured.__dict__, "soc_pct": soc, "capacity_kwh": capacity})
            return Sample(measured, _CONVENTION[kind])
    raise DeviceError("no SunSpec inverter, meter or battery model to read power from")


async def discover(link: RegisterReader) -> list[ModelHeader]:
    """Find the ``SunS`` marker and walk the model chain to its end marker."""
    for base in BASES:
        try:
            marker = await link.read("holding", base, 2)
        except DeviceRefused:
            continue  # nothing mapped there; try the next base
        if tuple(marker) != SUNS:
            continue
        models: list[ModelHeader] = []
        address = base + 2
        for _ in range(MAX_MODELS):
            model_id, length = await link.read("holding", address, 2)
            if model_id == END_OF_CHAIN:
                return models
            models.append(ModelHeader(model_id, address + 2, length))
            address += 2 + length
        raise DeviceError(f"SunSpec model chain from {base} has no end marker after {MAX_MODELS} models")
    raise DeviceError("no SunSpec device: no 'SunS' marker at 40000, 50000 or 0")


def select(models: list[ModelHeader]) -> dict[Kind, ModelHeader]:
    """The first model of each kind we can read (by chain order)."""
    chosen: dict[Kind, ModelHeader] = {}
    for header in models:
        known = MODELS.get(header.id)
        if known is not None and known[0] not in chosen:
            chosen[known[0]] = header
    return chosen


class SunSpecDriver:
    def __init__(self, usage: MeterUsage) -> None:
        self.usage = usage
        self.models: dict[Kind, ModelHeader] | None = None

    async def read(self, link: RegisterReader) -> Sample:
        if self.models is None:
            found = await discover(link)
            self.models = select(found)
            if not self.models:
                self.models = None
                ids = ", ".join(str(m.id) for m in found) or "none"
                raise DeviceError(f"SunSpec device has no supported model (found {ids})")
        values: dict[Kind, dict[str, float | None]] = {}
        for kind, header in self.models.items():
            model = MODELS[header.id][1]
            count = min(header.length, span(model))
            words = await link.read("holding", header.start, count)
            values[kind] = decode_model(model, words)
        return combine(self.usage, values)

    def reset(self) -> None:
        self.models = None
