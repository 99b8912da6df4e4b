"""Register encoding, status parsing, current quantisation and request grouping (pure)."""

from __future__ import annotations

import math

import pytest

from services.charger_actuator.codec import decode_number, decode_string, encode_number, word_count
from services.charger_actuator.driver import parse_status, quantize
from services.charger_actuator.drivers import abl
from services.charger_actuator.drivers.block_read import Span, plan_spans
from services.charger_actuator.modbus_link import DeviceError
from shared.config_devices import ChargerRegister
from shared.messages import ChargeStatus


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
    assert encode_number(value, data_type, order) == words  # type: ignore[arg-type]
    assert decode_number(words, data_type, order) == value  # type: ignore[arg-type]


def test_nan_decodes_and_wrong_width_is_refused() -> None:
    assert math.isnan(decode_number([0x7FC0, 0], "float32"))
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode_number([1], "float32")


def test_strings_are_trimmed() -> None:
    assert decode_string([0x4332, 0x0000, 0x0000]) == "C2"
    assert decode_string([0x4142, 0x4344, 0x2000]) == "ABCD"
    assert word_count("string", 5) == 5


@pytest.mark.parametrize(
    ("text", "status", "fault"),
    [
        ("A", ChargeStatus.A, None),
        ("B2", ChargeStatus.B, None),
        ("C1", ChargeStatus.B, None),
        ("D1", ChargeStatus.B, None),
        ("C2", ChargeStatus.C, None),
        ("D", ChargeStatus.C, None),
        ("c", ChargeStatus.C, None),
        ("E", ChargeStatus.A, "charger reports status E"),
        ("F", ChargeStatus.A, "charger reports status F"),
    ],
)
def test_status_parsing_like_evcc(text: str, status: ChargeStatus, fault: str | None) -> None:
    assert parse_status(text) == (status, fault)


@pytest.mark.parametrize("text", ["", "X", "9"])
def test_unknown_status_is_an_error(text: str) -> None:
    with pytest.raises(DeviceError):
        parse_status(text)


@pytest.mark.parametrize(
    ("current", "step", "expected"),
    [
        (7.9, 1.0, 7.0),
        (16.0, 1.0, 16.0),
        (7.95, 0.1, 7.9),
        (7.3, 0.1, 7.3),
        (15.999, 0.0, 15.999),
        (16, 0.06, 15.96),
    ],
)
def test_quantize_truncates_to_the_device_step(current: float, step: float, expected: float) -> None:
    assert quantize(current, step) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("word", "status", "fault"),
    [
        (0xA1, ChargeStatus.A, None),
        (0xB2, ChargeStatus.B, None),
        (0xC2, ChargeStatus.C, None),
        (0xF1, ChargeStatus.A, "ABL error code 0xF1"),
        (0x12, ChargeStatus.A, "ABL error code 0x12"),
    ],
)
def test_abl_status_nibble(word: int, status: ChargeStatus, fault: str | None) -> None:
    assert abl.status_of(word) == (status, fault)


def test_abl_duty_cycle() -> None:
    assert abl.duty_of(16) == 266
    assert abl.duty_of(6) == 100


def test_spans_group_nearby_registers_per_source() -> None:
    regs = [
        ChargerRegister(address=0),
        ChargerRegister(address=4, type="float32"),
        ChargerRegister(address=30, type="float32"),
        ChargerRegister(address=400, source="coil"),
        ChargerRegister(address=2, type="float32"),
    ]
    assert plan_spans(regs) == [Span("coil", 400, 1), Span("holding", 0, 6), Span("holding", 30, 2)]
