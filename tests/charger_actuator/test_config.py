"""Charger configuration: bad input is refused at load time with the path of the bad key."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import ConfigError, parse_config


def config_with(charger: dict[str, Any]) -> dict[str, Any]:
    return {"chargers": [{"name": "wb", **charger}], "loadpoints": [{"title": "Garage", "charger": "wb"}]}


@pytest.mark.parametrize(
    ("charger", "message"),
    [
        ({"type": "keba"}, "chargers.0.type"),
        ({"type": "modbus"}, "type modbus needs a registers map"),
        (
            {"type": "alfen", "registers": {"status": {"address": 0}, "current": {"address": 1}}},
            "only for type modbus",
        ),
        ({"type": "demo", "failsafe": {"mode": "off"}}, "chargers.0.failsafe.mode"),
        ({"type": "demo", "failsafe": {"timeout_s": 0}}, "chargers.0.failsafe.timeout_s"),
        (
            {
                "type": "modbus",
                "registers": {"status": {"address": 0}, "current": {"address": 1, "scale": 0}},
            },
            "scale must not be 0",
        ),
        (
            {
                "type": "modbus",
                "registers": {
                    "status": {"address": 0},
                    "current": {"address": 1},
                    "currents": [{"address": 2}],
                },
            },
            "chargers.0.registers.currents",
        ),
    ],
)
def test_bad_charger_config_is_refused(charger: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config(config_with(charger))


def test_generic_charger_config_loads() -> None:
    config = parse_config(
        config_with(
            {
                "type": "modbus",
                "modbus": {"protocol": "rtuovertcp", "host": "10.0.0.9", "port": 8899},
                "registers": {
                    "status": {"address": 100, "source": "input", "type": "string", "length": 2},
                    "enable": {"address": 400, "source": "coil"},
                    "current": {"address": 528, "scale": 0.1},
                    "energy": {"address": 904, "type": "uint32", "word_order": "little", "scale": 0.001},
                },
                "failsafe": {"mode": "current", "current_a": 6, "timeout_s": 120},
            }
        )
    )
    charger = config.chargers[0]
    assert charger.registers is not None and charger.registers.energy is not None
    assert charger.registers.energy.scale == 0.001
    assert charger.failsafe.mode == "current"
    assert config.loadpoint_id("wb") == 1


@pytest.mark.parametrize(
    ("charger", "unit"),
    [
        ({"type": "phoenix", "modbus": {"host": "wb"}}, 255),
        ({"type": "wallbe"}, 255),
        ({"type": "phoenix", "modbus": {"host": "wb", "id": 7}}, 7),
        ({"type": "alfen", "modbus": {"host": "wb"}}, 1),
    ],
)
def test_left_out_unit_id_is_the_devices_usual_one(charger: dict[str, Any], unit: int) -> None:
    assert parse_config(config_with(charger)).chargers[0].modbus.id == unit
