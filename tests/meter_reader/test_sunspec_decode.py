"""SunSpec model blocks (raw words as a device sends them) → values, and which model feeds which usage."""

from __future__ import annotations

import pytest

from services.meter_reader.drivers.sunspec import (
    BATTERY,
    INVERTER_FLOAT,
    INVERTER_INT,
    METER_FLOAT,
    METER_INT,
    MODELS,
    STORAGE,
    Kind,
    ModelHeader,
    ModelMap,
    combine,
    decode_model,
    select,
    span,
)
from services.meter_reader.measurement import Convention
from shared.devices.codec import DataType, encode
from shared.devices.errors import DeviceError
from shared.messages import MeterUsage

NOT_IMPL_I16 = 0x8000


def block(length: int, points: dict[int, list[int]]) -> list[int]:
    """A model's data words: zeros, with ``points`` (offset → words) filled in."""
    words = [0] * length
    for offset, value in points.items():
        words[offset : offset + len(value)] = value
    return words


def i16(v: int) -> list[int]:
    return encode(v, DataType.INT16)


def u16(v: int) -> list[int]:
    return encode(v, DataType.UINT16)


def f32(v: float) -> list[int]:
    return encode(v, DataType.FLOAT32)


def acc32(v: int) -> list[int]:
    return encode(v, DataType.UINT32)


def test_model_103_int_with_scale_factors() -> None:
    # 4321.5 W as 43215 × 10^-1 … does not fit int16, so devices send 4322 × 10^0 or 432 × 10^1
    words = block(
        50,
        {
            1: u16(632),
            2: u16(631),
            3: u16(630),
            4: i16(-2),
            8: u16(2312),
            9: u16(2305),
            10: u16(2320),
            11: i16(-1),
            12: i16(432),
            13: i16(1),
            22: acc32(1234567),
            24: i16(0),
        },
    )
    v = decode_model(INVERTER_INT, words)
    assert v["W"] == 4320.0
    assert v["AphA"] == pytest.approx(6.32) and v["AphC"] == pytest.approx(6.30)
    assert v["PhVphA"] == pytest.approx(231.2) and v["PhVphB"] == pytest.approx(230.5)
    assert v["WH"] == 1234567.0


def test_single_phase_inverter_leaves_phases_b_and_c_unimplemented() -> None:
    words = block(50, {1: u16(100), 2: u16(0xFFFF), 3: u16(0xFFFF), 4: i16(-1), 12: i16(2300), 13: i16(0)})
    sample = combine(MeterUsage.PV, {Kind.INVERTER: decode_model(INVERTER_INT, words)})
    assert sample.measured.power_w == 2300.0
    assert sample.measured.currents_a == (10.0, 0.0, 0.0)


def test_unimplemented_scale_factor_makes_the_point_unusable() -> None:
    words = block(50, {12: i16(1500), 13: [NOT_IMPL_I16]})
    assert decode_model(INVERTER_INT, words)["W"] is None


def test_model_113_float() -> None:
    words = block(
        60, {2: f32(5.5), 4: f32(5.4), 6: f32(5.3), 14: f32(230.1), 20: f32(3790.5), 30: f32(98765.0)}
    )
    v = decode_model(INVERTER_FLOAT, words)
    assert (v["W"], v["WH"]) == (3790.5, 98765.0)
    assert v["AphB"] == pytest.approx(5.4)


def test_model_203_meter_with_scale_factors() -> None:
    words = block(
        105,
        {
            1: i16(-87),
            2: i16(-86),
            3: i16(-88),
            4: i16(-1),
            6: i16(2301),
            7: i16(2302),
            8: i16(2303),
            13: i16(-1),
            16: i16(-600),
            17: i16(-200),
            18: i16(-200),
            19: i16(-200),
            20: i16(1),
            36: acc32(45678),
            44: acc32(123456),
            52: i16(0),
        },
    )
    v = decode_model(METER_INT, words)
    assert v["W"] == -6000.0 and v["WphA"] == -2000.0
    assert v["AphA"] == pytest.approx(-8.7) and v["PhVphC"] == pytest.approx(230.3)
    assert (v["TotWhImp"], v["TotWhExp"]) == (123456.0, 45678.0)
    sample = combine(MeterUsage.GRID, {Kind.METER: v})
    assert sample.convention is Convention.CONSUMER
    assert sample.measured.energy_kwh == pytest.approx(123.456)
    assert sample.measured.return_energy_kwh == pytest.approx(45.678)
    assert sample.measured.powers_w == (-2000.0, -2000.0, -2000.0)


def test_model_213_float_meter() -> None:
    words = block(
        124,
        {
            26: f32(1500.0),
            28: f32(500.0),
            30: f32(500.0),
            32: f32(500.0),
            58: f32(10.0),
            66: f32(2000.0),
            10: f32(230.0),
        },
    )
    v = decode_model(METER_FLOAT, words)
    assert (v["W"], v["WphC"], v["TotWhExp"], v["TotWhImp"], v["PhVphA"]) == (
        1500.0,
        500.0,
        10.0,
        2000.0,
        230.0,
    )


def test_storage_124_and_battery_802() -> None:
    storage = decode_model(STORAGE, block(24, {6: u16(6550), 20: i16(-2)}))
    assert storage["ChaState"] == pytest.approx(65.5)
    battery = decode_model(
        BATTERY, block(62, {1: u16(1350), 9: u16(815), 45: i16(-250), 51: i16(1), 54: i16(-1), 61: i16(1)})
    )
    assert battery["WHRtg"] == 13500.0 and battery["SoC"] == pytest.approx(81.5) and battery["W"] == -2500.0


def test_a_short_model_leaves_missing_points_unimplemented() -> None:
    v = decode_model(METER_INT, block(40, {16: i16(100), 20: i16(0)}))
    assert v["W"] == 100.0 and v["TotWhImp"] is None


INVERTER = {
    "W": 3000.0,
    "WH": 4_000_000.0,
    "AphA": 4.3,
    "AphB": 4.3,
    "AphC": 4.3,
    "PhVphA": 230.0,
    "PhVphB": 230.0,
    "PhVphC": 230.0,
}
METER = {
    "W": -2500.0,
    "TotWhImp": 1_000_000.0,
    "TotWhExp": 2_000_000.0,
    "WphA": -800.0,
    "WphB": -800.0,
    "WphC": -900.0,
    "AphA": 3.5,
    "AphB": 3.5,
    "AphC": 3.9,
    "PhVphA": 231.0,
    "PhVphB": 231.0,
    "PhVphC": 231.0,
}


@pytest.mark.parametrize(
    ("usage", "power", "convention"),
    [
        (MeterUsage.PV, 3000.0, Convention.PRODUCER),
        (MeterUsage.GRID, -2500.0, Convention.CONSUMER),
        (MeterUsage.CHARGE, -2500.0, Convention.CONSUMER),
    ],
)
def test_usage_picks_inverter_or_meter_model(usage: MeterUsage, power: float, convention: Convention) -> None:
    # e.g. an inverter with its grid meter behind the same SunSpec chain
    sample = combine(usage, {Kind.INVERTER: INVERTER, Kind.METER: METER})
    assert (sample.measured.power_w, sample.convention) == (power, convention)


def test_battery_prefers_the_batterys_own_power_and_reports_soc_and_capacity() -> None:
    battery = {"W": -1800.0, "SoC": 42.0, "WHRtg": 10000.0}
    sample = combine(MeterUsage.BATTERY, {Kind.INVERTER: INVERTER, Kind.BATTERY: battery})
    assert sample.measured.power_w == -1800.0 and sample.convention is Convention.PRODUCER
    assert (sample.measured.soc_pct, sample.measured.capacity_kwh) == (42.0, 10.0)


def test_battery_inverter_with_storage_model() -> None:
    sample = combine(MeterUsage.BATTERY, {Kind.INVERTER: INVERTER, Kind.STORAGE: {"ChaState": 77.0}})
    assert (sample.measured.power_w, sample.measured.soc_pct, sample.measured.capacity_kwh) == (
        3000.0,
        77.0,
        None,
    )


def test_no_power_model_is_an_error() -> None:
    with pytest.raises(DeviceError, match="no SunSpec"):
        combine(MeterUsage.PV, {Kind.STORAGE: {"ChaState": 50.0}})


def test_select_takes_the_first_model_of_each_kind() -> None:
    chain = [
        ModelHeader(1, 40004, 66),
        ModelHeader(103, 40072, 50),
        ModelHeader(160, 40124, 48),
        ModelHeader(203, 40174, 105),
        ModelHeader(204, 40281, 105),
        ModelHeader(802, 40388, 62),
    ]
    chosen = select(chain)
    assert {k: h.id for k, h in chosen.items()} == {Kind.INVERTER: 103, Kind.METER: 203, Kind.BATTERY: 802}


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_every_supported_model_is_read_in_one_request(model_id: int) -> None:
    model: ModelMap = MODELS[model_id][1]
    assert span(model) <= 125
