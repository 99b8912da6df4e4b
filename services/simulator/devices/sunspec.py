"""SunSpec devices: the "SunS" marker at 40000, then models (ID, L, block) back to back, ended by 0xFFFF.

Holding registers, unit id 1, big-endian. Each model is a table of (point, offset, type); points we do
not feed carry SunSpec's "not implemented" value (int16/sunssf 0x8000, uint16/enum16 0xFFFF, acc32 0,
bitfield32 0xFFFFFFFF, float32 NaN, strings NUL).

- ``sunspec-inverter``: common model 1 + inverter model 103 (int + scale factors) + end.
- ``sunspec-inverter-float``: common model 1 + inverter model 113 (float32) + end.
- ``sunspec-meter``: common model 1 + three-phase wye meter model 203 + end. W is import-positive.
- ``sunspec-battery``: a hybrid inverter's battery view — model 1, inverter 103 for the battery's AC power
  (W > 0 discharging, < 0 charging, as a hybrid shows it), storage model 124 (ChaState = SoC) and battery
  model 802 (SoC, W with the same sign, WHRtg capacity, charge/discharge limits), end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import MeterPoint, Simulation
from services.simulator.registers import Point, Table, Value, const, item
from shared.devices.codec import TypeName

BASE = 40000
SUNS = 0x53756E53
END_ID = 0xFFFF

# SunSpec point types → (register type, registers, not-implemented value)
_TYPES: dict[str, tuple[TypeName, int, Value]] = {
    "int16": ("int16", 1, -0x8000),
    "sunssf": ("int16", 1, -0x8000),
    "uint16": ("uint16", 1, 0xFFFF),
    "enum16": ("uint16", 1, 0xFFFF),
    "bitfield16": ("uint16", 1, 0xFFFF),
    "pad": ("uint16", 1, 0x8000),
    "acc32": ("uint32", 2, 0),
    "uint32": ("uint32", 2, 0xFFFFFFFF),
    "bitfield32": ("uint32", 2, 0xFFFFFFFF),
    "float32": ("float32", 2, math.nan),
}

ModelTable = Sequence[tuple[str, int, str]]
"""(point name, offset in the block after ID and L, SunSpec type; ``string<n>`` for n registers)."""

COMMON_1: ModelTable = (
    ("Mn", 0, "string16"),
    ("Md", 16, "string16"),
    ("Opt", 32, "string8"),
    ("Vr", 40, "string8"),
    ("SN", 48, "string16"),
    ("DA", 64, "uint16"),
    ("Pad", 65, "pad"),
)

INVERTER_103: ModelTable = (
    ("A", 0, "uint16"),
    ("AphA", 1, "uint16"),
    ("AphB", 2, "uint16"),
    ("AphC", 3, "uint16"),
    ("A_SF", 4, "sunssf"),
    ("PPVphAB", 5, "uint16"),
    ("PPVphBC", 6, "uint16"),
    ("PPVphCA", 7, "uint16"),
    ("PhVphA", 8, "uint16"),
    ("PhVphB", 9, "uint16"),
    ("PhVphC", 10, "uint16"),
    ("V_SF", 11, "sunssf"),
    ("W", 12, "int16"),
    ("W_SF", 13, "sunssf"),
    ("Hz", 14, "uint16"),
    ("Hz_SF", 15, "sunssf"),
    ("VA", 16, "int16"),
    ("VA_SF", 17, "sunssf"),
    ("VAr", 18, "int16"),
    ("VAr_SF", 19, "sunssf"),
    ("PF", 20, "int16"),
    ("PF_SF", 21, "sunssf"),
    ("WH", 22, "acc32"),
    ("WH_SF", 24, "sunssf"),
    ("DCA", 25, "uint16"),
    ("DCA_SF", 26, "sunssf"),
    ("DCV", 27, "uint16"),
    ("DCV_SF", 28, "sunssf"),
    ("DCW", 29, "int16"),
    ("DCW_SF", 30, "sunssf"),
    ("TmpCab", 31, "int16"),
    ("TmpSnk", 32, "int16"),
    ("TmpTrns", 33, "int16"),
    ("TmpOt", 34, "int16"),
    ("Tmp_SF", 35, "sunssf"),
    ("St", 36, "enum16"),
    ("StVnd", 37, "enum16"),
    ("Evt1", 38, "bitfield32"),
    ("Evt2", 40, "bitfield32"),
    ("EvtVnd1", 42, "bitfield32"),
    ("EvtVnd2", 44, "bitfield32"),
    ("EvtVnd3", 46, "bitfield32"),
    ("EvtVnd4", 48, "bitfield32"),
)
INVERTER_103_LEN = 50

INVERTER_113: ModelTable = (
    ("A", 0, "float32"),
    ("AphA", 2, "float32"),
    ("AphB", 4, "float32"),
    ("AphC", 6, "float32"),
    ("PPVphAB", 8, "float32"),
    ("PPVphBC", 10, "float32"),
    ("PPVphCA", 12, "float32"),
    ("PhVphA", 14, "float32"),
    ("PhVphB", 16, "float32"),
    ("PhVphC", 18, "float32"),
    ("W", 20, "float32"),
    ("Hz", 22, "float32"),
    ("VA", 24, "float32"),
    ("VAr", 26, "float32"),
    ("PF", 28, "float32"),
    ("WH", 30, "float32"),
    ("DCA", 32, "float32"),
    ("DCV", 34, "float32"),
    ("DCW", 36, "float32"),
    ("TmpCab", 38, "float32"),
    ("TmpSnk", 40, "float32"),
    ("TmpTrns", 42, "float32"),
    ("TmpOt", 44, "float32"),
    ("St", 46, "enum16"),
    ("StVnd", 47, "enum16"),
    ("Evt1", 48, "bitfield32"),
    ("Evt2", 50, "bitfield32"),
    ("EvtVnd1", 52, "bitfield32"),
    ("EvtVnd2", 54, "bitfield32"),
    ("EvtVnd3", 56, "bitfield32"),
    ("EvtVnd4", 58, "bitfield32"),
)
INVERTER_113_LEN = 60


def _meter_203() -> tuple[ModelTable, int]:
    table: list[tuple[str, int, str]] = []
    offset = 0

    def add(name: str, kind: str) -> None:
        nonlocal offset
        table.append((name, offset, kind))
        offset += 2 if kind in ("acc32", "bitfield32") else 1

    for group, sf in (("A", "A_SF"), ("PhV", None), ("PPV", "V_SF")):
        if group == "PPV":
            add("PPV", "int16")
            for p in ("AB", "BC", "CA"):
                add(f"PhVph{p}", "int16")
            add(sf or "", "sunssf")
            continue
        add(group, "int16")
        for p in "ABC":
            add(f"{group}ph{p}" if group == "PhV" else f"Aph{p}", "int16")
        if sf:
            add(sf, "sunssf")
    add("Hz", "int16")
    add("Hz_SF", "sunssf")
    for group in ("W", "VA", "VAR", "PF"):
        add(group, "int16")
        for p in "ABC":
            add(f"{group}ph{p}", "int16")
        add(f"{group}_SF", "sunssf")
    for group in ("TotWhExp", "TotWhImp"):
        add(group, "acc32")
        for p in "ABC":
            add(f"{group}Ph{p}", "acc32")
    add("TotWh_SF", "sunssf")
    for group in ("TotVAhExp", "TotVAhImp"):
        add(group, "acc32")
        for p in "ABC":
            add(f"{group}Ph{p}", "acc32")
    add("TotVAh_SF", "sunssf")
    for group in ("TotVArhImpQ1", "TotVArhImpQ2", "TotVArhExpQ3", "TotVArhExpQ4"):
        add(group, "acc32")
        for p in "ABC":
            add(f"{group}Ph{p}", "acc32")
    add("TotVArh_SF", "sunssf")
    add("Evt", "bitfield32")
    return tuple(table), offset


METER_203, METER_203_LEN = _meter_203()

STORAGE_124: ModelTable = (
    ("WChaMax", 0, "uint16"),
    ("WChaGra", 1, "uint16"),
    ("WDisChaGra", 2, "uint16"),
    ("StorCtl_Mod", 3, "bitfield16"),
    ("VAChaMax", 4, "uint16"),
    ("MinRsvPct", 5, "uint16"),
    ("ChaState", 6, "uint16"),
    ("StorAval", 7, "uint16"),
    ("InBatV", 8, "uint16"),
    ("ChaSt", 9, "enum16"),
    ("OutWRte", 10, "int16"),
    ("InWRte", 11, "int16"),
    ("InOutWRte_WinTms", 12, "uint16"),
    ("InOutWRte_RvrtTms", 13, "uint16"),
    ("InOutWRte_RmpTms", 14, "uint16"),
    ("ChaGriSet", 15, "enum16"),
    ("WChaMax_SF", 16, "sunssf"),
    ("WChaDisChaGra_SF", 17, "sunssf"),
    ("VAChaMax_SF", 18, "sunssf"),
    ("MinRsvPct_SF", 19, "sunssf"),
    ("ChaState_SF", 20, "sunssf"),
    ("StorAval_SF", 21, "sunssf"),
    ("InBatV_SF", 22, "sunssf"),
    ("InOutWRte_SF", 23, "sunssf"),
)
STORAGE_124_LEN = 24

BATTERY_802: ModelTable = (
    ("AHRtg", 0, "uint16"),
    ("WHRtg", 1, "uint16"),
    ("WChaRteMax", 2, "uint16"),
    ("WDisChaRteMax", 3, "uint16"),
    ("DisChaRte", 4, "uint16"),
    ("SoCMax", 5, "uint16"),
    ("SoCMin", 6, "uint16"),
    ("SocRsvMax", 7, "uint16"),
    ("SoCRsvMin", 8, "uint16"),
    ("SoC", 9, "uint16"),
    ("DoD", 10, "uint16"),
    ("SoH", 11, "uint16"),
    ("NCyc", 12, "uint32"),
    ("ChaSt", 14, "enum16"),
    ("LocRemCtl", 15, "enum16"),
    ("Hb", 16, "uint16"),
    ("CtrlHb", 17, "uint16"),
    ("AlmRst", 18, "uint16"),
    ("Typ", 19, "enum16"),
    ("State", 20, "enum16"),
    ("StateVnd", 21, "enum16"),
    ("WarrDt", 22, "uint32"),
    ("Evt1", 24, "bitfield32"),
    ("Evt2", 26, "bitfield32"),
    ("EvtVnd1", 28, "bitfield32"),
    ("EvtVnd2", 30, "bitfield32"),
    ("V", 32, "uint16"),
    ("VMax", 33, "uint16"),
    ("VMin", 34, "uint16"),
    ("CellVMax", 35, "uint16"),
    ("CellVMaxStr", 36, "uint16"),
    ("CellVMaxMod", 37, "uint16"),
    ("CellVMin", 38, "uint16"),
    ("CellVMinStr", 39, "uint16"),
    ("CellVMinMod", 40, "uint16"),
    ("CellVAvg", 41, "uint16"),
    ("A", 42, "int16"),
    ("AChaMax", 43, "uint16"),
    ("ADisChaMax", 44, "uint16"),
    ("W", 45, "int16"),
    ("ReqInvState", 46, "enum16"),
    ("ReqW", 47, "int16"),
    ("SetOp", 48, "enum16"),
    ("SetInvState", 49, "enum16"),
    ("AHRtg_SF", 50, "sunssf"),
    ("WHRtg_SF", 51, "sunssf"),
    ("WChaDisChaMax_SF", 52, "sunssf"),
    ("DisChaRte_SF", 53, "sunssf"),
    ("SoC_SF", 54, "sunssf"),
    ("DoD_SF", 55, "sunssf"),
    ("SoH_SF", 56, "sunssf"),
    ("V_SF", 57, "sunssf"),
    ("CellV_SF", 58, "sunssf"),
    ("A_SF", 59, "sunssf"),
    ("AMax_SF", 60, "sunssf"),
    ("W_SF", 61, "sunssf"),
)
BATTERY_802_LEN = 62

Feeds = dict[str, tuple[Callable[[], Value], float]]
"""point name → (physical value source, physical units per count = 10**SF)."""


class Layout:
    """Builds the SunSpec address space model by model."""

    def __init__(self) -> None:
        self.points: list[Point] = [Point("SunS", Table.HOLDING, BASE, "uint32", const(SUNS))]
        self.address = BASE + 2

    def model(self, model_id: int, length: int, table: ModelTable, feeds: Feeds, prefix: str) -> None:
        self.points.append(Point(f"{prefix}.ID", Table.HOLDING, self.address, "uint16", const(model_id)))
        self.points.append(Point(f"{prefix}.L", Table.HOLDING, self.address + 1, "uint16", const(length)))
        block = self.address + 2
        for name, offset, kind in table:
            source, scale = feeds.get(name, (None, 1.0))
            if kind.startswith("string"):
                size = int(kind.removeprefix("string"))
                text = source() if source else ""
                self.points.append(
                    Point(f"{prefix}.{name}", Table.HOLDING, block + offset, "string", const(text), size=size)
                )
                continue
            dtype, _, missing = _TYPES[kind]
            self.points.append(
                Point(
                    f"{prefix}.{name}",
                    Table.HOLDING,
                    block + offset,
                    dtype,
                    source or const(missing),
                    scale=scale,
                )
            )
        self.address = block + length

    def end(self) -> list[Point]:
        self.points.append(Point("end.ID", Table.HOLDING, self.address, "uint16", const(END_ID)))
        self.points.append(Point("end.L", Table.HOLDING, self.address + 1, "uint16", const(0)))
        return self.points


def _common(model: str, serial: str) -> Feeds:
    return {
        "Mn": (const("chargebus"), 1.0),
        "Md": (const(model), 1.0),
        "Opt": (const("simulated"), 1.0),
        "Vr": (const("1.0.0"), 1.0),
        "SN": (const(serial), 1.0),
        "DA": (const(1), 1.0),
    }


def _sf(exponent: int) -> tuple[Callable[[], Value], float]:
    return const(exponent), 1.0


def _inverter_feeds(m: MeterPoint, sign: float, running: Callable[[], bool]) -> Feeds:
    """Model 103/113 values of an inverter whose AC output is ``sign × -(consumption)`` (W > 0 = output)."""

    def out(i: int) -> float:
        return -sign * m.powers_w[i]

    return {
        "A": (lambda: sum(abs(c) for c in m.currents_a), 0.01),
        "AphA": (lambda: abs(m.currents_a[0]), 0.01),
        "AphB": (lambda: abs(m.currents_a[1]), 0.01),
        "AphC": (lambda: abs(m.currents_a[2]), 0.01),
        "A_SF": _sf(-2),
        "PPVphAB": (lambda: m.voltages_v[0] * math.sqrt(3), 0.1),
        "PPVphBC": (lambda: m.voltages_v[1] * math.sqrt(3), 0.1),
        "PPVphCA": (lambda: m.voltages_v[2] * math.sqrt(3), 0.1),
        "PhVphA": (lambda: m.voltages_v[0], 0.1),
        "PhVphB": (lambda: m.voltages_v[1], 0.1),
        "PhVphC": (lambda: m.voltages_v[2], 0.1),
        "V_SF": _sf(-1),
        "W": (lambda: out(0) + out(1) + out(2), 1.0),
        "W_SF": _sf(0),
        "Hz": (lambda: m.frequency_hz, 0.01),
        "Hz_SF": _sf(-2),
        "VA": (lambda: abs(out(0) + out(1) + out(2)), 1.0),
        "VA_SF": _sf(0),
        "VAr": (const(0), 1.0),
        "VAr_SF": _sf(0),
        "PF": (const(100), 1.0),
        "PF_SF": _sf(0),
        "WH": (lambda: (m.export_kwh if sign > 0 else m.import_kwh) * 1000.0, 1.0),
        "WH_SF": _sf(0),
        "DCW": (lambda: (out(0) + out(1) + out(2)) / 0.97, 1.0),
        "DCW_SF": _sf(0),
        "DCV": (lambda: 400.0 if running() else 0.0, 0.1),
        "DCV_SF": _sf(-1),
        "DCA": (lambda: abs(out(0) + out(1) + out(2)) / 0.97 / 400.0, 0.01),
        "DCA_SF": _sf(-2),
        "TmpCab": (const(35.0), 0.1),
        "Tmp_SF": _sf(-1),
        "St": (lambda: 4 if running() else 2, 1.0),  # 4 = MPPT, 2 = SLEEPING
        "Evt1": (const(0), 1.0),
    }


def _float_feeds(feeds: Feeds) -> Feeds:
    """The same values for the float model 113: physical units, no scale factors."""
    return {name: (src, 1.0) for name, (src, _) in feeds.items() if not name.endswith("_SF")}


def inverter_points(env: DeviceEnv) -> list[Point]:
    layout = Layout()
    layout.model(1, 66, COMMON_1, _common("SimInverter", f"PV-{env.spec.name}"), "common")
    m = env.source
    layout.model(
        103, INVERTER_103_LEN, INVERTER_103, _inverter_feeds(m, 1.0, lambda: m.power_w < 0), "inverter"
    )
    return layout.end()


def inverter_float_points(env: DeviceEnv) -> list[Point]:
    layout = Layout()
    layout.model(1, 66, COMMON_1, _common("SimInverterFloat", f"PV-{env.spec.name}"), "common")
    m = env.source
    feeds = _float_feeds(_inverter_feeds(m, 1.0, lambda: m.power_w < 0))
    layout.model(113, INVERTER_113_LEN, INVERTER_113, feeds, "inverter")
    return layout.end()


def meter_points(env: DeviceEnv) -> list[Point]:
    m = env.source
    feeds: Feeds = {
        "A": (lambda: sum(m.currents_a), 0.01),
        "A_SF": _sf(-2),
        "PhV": (lambda: sum(m.voltages_v) / 3, 0.1),
        "PPV": (lambda: sum(m.voltages_v) / 3 * math.sqrt(3), 0.1),
        "V_SF": _sf(-1),
        "Hz": (lambda: m.frequency_hz, 0.01),
        "Hz_SF": _sf(-2),
        "W": (lambda: m.power_w, 1.0),
        "W_SF": _sf(0),
        "VA": (lambda: abs(m.power_w), 1.0),
        "VA_SF": _sf(0),
        "VAR": (const(0), 1.0),
        "VAR_SF": _sf(0),
        "PF": (const(100), 1.0),
        "PF_SF": _sf(0),
        "TotWhExp": (lambda: m.export_kwh * 1000, 1.0),
        "TotWhImp": (lambda: m.import_kwh * 1000, 1.0),
        "TotWh_SF": _sf(0),
        "Evt": (const(0), 1.0),
    }
    for i, p in enumerate("ABC"):
        feeds[f"Aph{p}"] = (item(lambda: m.currents_a, i), 0.01)
        feeds[f"PhVph{p}"] = (item(lambda: m.voltages_v, i), 0.1)
        feeds[f"Wph{p}"] = (item(lambda: m.powers_w, i), 1.0)
        feeds[f"VAph{p}"] = (item(lambda: [abs(w) for w in m.powers_w], i), 1.0)
        feeds[f"PFph{p}"] = (const(100), 1.0)
        feeds[f"TotWhExpPh{p}"] = (item(lambda: [e * 1000 for e in m.phase_export_kwh], i), 1.0)
        feeds[f"TotWhImpPh{p}"] = (item(lambda: [e * 1000 for e in m.phase_import_kwh], i), 1.0)
    for pair in ("AB", "BC", "CA"):
        feeds[f"PhVph{pair}"] = (lambda: sum(m.voltages_v) / 3 * math.sqrt(3), 0.1)
    layout = Layout()
    layout.model(1, 66, COMMON_1, _common("SimMeter", f"M-{env.spec.name}"), "common")
    layout.model(203, METER_203_LEN, METER_203, feeds, "meter")
    return layout.end()


def _charge_state(sim: Simulation) -> int:
    """SunSpec ChaSt: 3 DISCHARGING, 4 CHARGING, 5 FULL, 2 EMPTY, 6 HOLDING."""
    if sim.battery_w > 0:
        return 3
    if sim.battery_w < 0:
        return 4
    if sim.battery_soc_pct >= sim.scenario.battery.max_soc_pct:
        return 5
    if sim.battery_soc_pct <= sim.scenario.battery.min_soc_pct:
        return 2
    return 6


def battery_points(env: DeviceEnv) -> list[Point]:
    sim, m = env.sim, env.source
    bat = sim.scenario.battery
    dc_v = 400.0
    layout = Layout()
    layout.model(1, 66, COMMON_1, _common("SimHybrid", f"BAT-{env.spec.name}"), "common")
    layout.model(
        103, INVERTER_103_LEN, INVERTER_103, _inverter_feeds(m, 1.0, lambda: sim.battery_w != 0), "inverter"
    )
    layout.model(
        124,
        STORAGE_124_LEN,
        STORAGE_124,
        {
            "WChaMax": (const(bat.max_charge_w), 1.0),
            "WChaMax_SF": _sf(0),
            "MinRsvPct": (const(bat.min_soc_pct), 0.1),
            "MinRsvPct_SF": _sf(-1),
            "ChaState": (lambda: sim.battery_soc_pct, 0.1),
            "ChaState_SF": _sf(-1),
            "StorAval": (
                lambda: bat.capacity_kwh * 1000 * max(0.0, sim.battery_soc_pct - bat.min_soc_pct) / 100,
                10.0,
            ),
            "StorAval_SF": _sf(1),
            "InBatV": (const(dc_v), 0.1),
            "InBatV_SF": _sf(-1),
            "ChaSt": (lambda: _charge_state(sim), 1.0),
        },
        "storage",
    )
    layout.model(
        802,
        BATTERY_802_LEN,
        BATTERY_802,
        {
            "AHRtg": (const(bat.capacity_kwh * 1000 / dc_v), 0.1),
            "AHRtg_SF": _sf(-1),
            "WHRtg": (const(bat.capacity_kwh * 1000), 10.0),
            "WHRtg_SF": _sf(1),
            "WChaRteMax": (const(bat.max_charge_w), 1.0),
            "WDisChaRteMax": (const(bat.max_discharge_w), 1.0),
            "WChaDisChaMax_SF": _sf(0),
            "SoCMax": (const(bat.max_soc_pct), 0.1),
            "SoCMin": (const(bat.min_soc_pct), 0.1),
            "SoC": (lambda: sim.battery_soc_pct, 0.1),
            "DoD": (lambda: 100.0 - sim.battery_soc_pct, 0.1),
            "SoC_SF": _sf(-1),
            "DoD_SF": _sf(-1),
            "SoH": (const(100), 1.0),
            "SoH_SF": _sf(0),
            "ChaSt": (lambda: _charge_state(sim), 1.0),
            "Typ": (const(4), 1.0),  # LITHIUM_ION
            "State": (const(3), 1.0),  # CONNECTED
            "V": (const(dc_v), 0.1),
            "V_SF": _sf(-1),
            "A": (lambda: sim.battery_w / dc_v, 0.1),
            "A_SF": _sf(-1),
            "W": (lambda: sim.battery_w, 1.0),
            "W_SF": _sf(0),
            "Evt1": (const(0), 1.0),
            "Evt2": (const(0), 1.0),
        },
        "battery",
    )
    return layout.end()


SUNSPEC_INVERTER = Model("sunspec-inverter", "meter", inverter_points, source="pv")
SUNSPEC_INVERTER_FLOAT = Model("sunspec-inverter-float", "meter", inverter_float_points, source="pv")
SUNSPEC_METER = Model("sunspec-meter", "meter", meter_points, source="grid")
SUNSPEC_BATTERY = Model("sunspec-battery", "battery", battery_points, source="battery")
