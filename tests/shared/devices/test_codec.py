"""Register words ↔ values: every data type, both word orders, text, SunSpec sentinels and scale factors."""

from __future__ import annotations

import math

import pytest

from shared.devices.codec import (
    Block,
    DataType,
    DecodeError,
    EncodeError,
    apply_scale_factor,
    decode,
    decode_string,
    decode_sunspec,
    encode,
    encode_string,
    plan_reads,
    width,
)

T = DataType


@pytest.mark.parametrize(
    ("words", "dtype", "order", "expected"),
    [
        ([0x0064], T.UINT16, "big", 100.0),
        ([0xFFFF], T.UINT16, "big", 65535.0),
        ([0xFFFF], T.INT16, "big", -1.0),
        ([0x8000], T.INT16, "big", -32768.0),
        ([0x0001, 0x0000], T.UINT32, "big", 65536.0),
        ([0x0000, 0x0001], T.UINT32, "little", 65536.0),
        ([0xFFFF, 0xFFFE], T.INT32, "big", -2.0),
        ([0xFFFE, 0xFFFF], T.INT32, "little", -2.0),
        ([0x4376, 0x0000], T.FLOAT32, "big", 246.0),  # a phase voltage as an SDM630 sends it
        ([0x0000, 0x4376], T.FLOAT32, "little", 246.0),
        ([0xC4FA, 0x0000], T.FLOAT32, "big", -2000.0),  # 2 kW export on a grid meter
        ([0x40FE, 0x2408, 0x0000, 0x0000], T.FLOAT64, "big", 123456.5),
        ([0x0000, 0x0000, 0x2408, 0x40FE], T.FLOAT64, "little", 123456.5),
    ],
)
def test_decode(words: list[int], dtype: DataType, order: str, expected: float) -> None:
    assert decode(words, dtype, order) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [T.INT16, T.UINT16, T.INT32, T.UINT32, T.FLOAT32, T.FLOAT64])
@pytest.mark.parametrize("order", ["big", "little"])
def test_encode_is_the_inverse_of_decode(dtype: DataType, order: str) -> None:
    value = 1234.0 if dtype in (T.UINT16, T.UINT32) else -1234.0
    assert decode(encode(value, dtype, order), dtype, order) == value  # type: ignore[arg-type]


def test_wrong_number_of_words_is_an_error() -> None:
    with pytest.raises(DecodeError):
        decode([1], T.FLOAT32)
    with pytest.raises(DecodeError):
        decode([0x1FFFF], T.UINT16)


@pytest.mark.parametrize(
    ("words", "dtype", "expected"),
    [
        ([0x8000], T.INT16, None),
        ([0xFFFF], T.UINT16, None),
        ([0x8000, 0x0000], T.INT32, None),
        ([0xFFFF, 0xFFFF], T.UINT32, None),
        ([0x8000], T.SUNSSF, None),
        ([0x7FC0, 0x0000], T.FLOAT32, None),  # NaN = not implemented in float models
        ([0xFFFE], T.SUNSSF, -2.0),
        ([0x0000, 0x0000], T.ACC32, 0.0),  # an accumulator at zero is a real zero
        ([0x0012, 0xD687], T.ACC32, 1234567.0),
        ([0xFC18], T.INT16, -1000.0),
    ],
)
def test_sunspec_unimplemented_points_are_none(
    words: list[int], dtype: DataType, expected: float | None
) -> None:
    assert decode_sunspec(words, dtype) == expected


@pytest.mark.parametrize(
    ("value", "sf", "expected"),
    [(2345.0, -1, 234.5), (123.0, 2, 12300.0), (5.0, 0, 5.0), (None, -1, None), (12.0, None, None)],
)
def test_scale_factor(value: float | None, sf: float | None, expected: float | None) -> None:
    result = apply_scale_factor(value, sf)
    assert result == expected or (
        result is not None and expected is not None and math.isclose(result, expected)
    )


def test_plan_reads_joins_only_adjacent_spans_of_one_table() -> None:
    spans = [
        ("input", 0x34, 2),
        ("input", 0, 2),
        ("input", 2, 2),
        ("input", 4, 2),
        ("input", 0x48, 2),
        ("input", 0x4A, 2),
        ("holding", 6, 1),
    ]
    assert plan_reads(spans) == [
        Block("holding", 6, 1),
        Block("input", 0, 6),
        Block("input", 0x34, 2),
        Block("input", 0x48, 4),
    ]


def test_plan_reads_respects_the_modbus_read_limit_and_gap() -> None:
    spans = [("holding", a, 2) for a in range(0, 200, 2)]
    blocks = plan_reads(spans)
    assert [b.count for b in blocks] == [124, 76]
    assert plan_reads([("holding", 0, 1), ("holding", 5, 1)], max_gap=4) == [Block("holding", 0, 6)]


@pytest.mark.parametrize(
    ("value", "data_type", "order", "words"),
    [
        (16.0, "float32", "big", [0x4180, 0x0000]),
        (16.0, "float32", "little", [0x0000, 0x4180]),
        (70000, "uint32", "big", [0x0001, 0x1170]),
        (70000, "int32", "little", [0x1170, 0x0001]),
        (-2, "int16", "big", [0xFFFE]),
        (160, "uint16", "big", [160]),
        (12345.5, "float64", "big", [0x40C8, 0x1CC0, 0x0000, 0x0000]),
    ],
)
def test_numbers_round_trip(value: float, data_type: str, order: str, words: list[int]) -> None:
    assert encode(value, data_type, order) == words  # type: ignore[arg-type]
    assert decode(words, data_type, order) == value  # type: ignore[arg-type]


def test_nan_decodes_and_wrong_width_is_refused() -> None:
    assert math.isnan(decode([0x7FC0, 0], "float32"))
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], "float32")


def test_strings_are_trimmed() -> None:
    assert decode_string([0x4332, 0x0000, 0x0000]) == "C2"
    assert decode_string([0x4142, 0x4344, 0x2000]) == "ABCD"
    assert width("string", 5) == 5


def test_out_of_range_integers_are_refused_or_saturated() -> None:
    with pytest.raises(EncodeError, match="does not fit uint16"):
        encode(70000, "uint16")
    with pytest.raises(EncodeError):
        encode(math.nan, "int32")
    assert encode(70000, "uint16", saturate=True) == [0xFFFF]
    assert encode(-1e9, "int16", saturate=True) == [0x8000]
    assert encode(math.nan, "uint32", saturate=True) == [0, 0]
    assert encode(2**40, "uint64") == [0, 0x100, 0, 0]


def test_strings_round_trip_in_either_byte_order() -> None:
    assert encode_string("C2", 5) == [0x4332, 0, 0, 0, 0]
    assert decode_string(encode_string("3.1", 2, lsb_first=True), lsb_first=True) == "3.1"
    assert encode_string("3.1", 2, lsb_first=True) == [0x2E33, 0x0031]
    assert encode_string("much too long", 2) == encode_string("much", 2)
