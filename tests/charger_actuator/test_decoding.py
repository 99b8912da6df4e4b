"""Status parsing, current quantisation and the generic map's request grouping (pure)."""

from __future__ import annotations

import pytest

from services.charger_actuator.driver import parse_status, quantize
from services.charger_actuator.drivers import abl
from services.charger_actuator.drivers.generic import read_plan
from shared.config_devices import ChargerRegister, ChargerRegisterMap, ChargerStatusRegister
from shared.devices.codec import Block
from shared.devices.errors import DeviceError
from shared.messages import ChargeStatus


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


def test_reads_group_nearby_registers_per_source() -> None:
    regs = ChargerRegisterMap(
        status=ChargerStatusRegister(address=0, map={1: "A"}),
        current=ChargerRegister(address=4, type="float32"),
        power=ChargerRegister(address=30, type="float32"),
        enable={"address": 400, "source": "coil"},
        energy=ChargerRegister(address=2, type="float32"),
    )
    assert read_plan(regs) == [Block("coil", 400, 1), Block("holding", 0, 6), Block("holding", 30, 2)]
