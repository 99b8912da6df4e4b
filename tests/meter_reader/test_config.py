"""Meter configuration: strict validation of drivers, connections and the generic register map."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.config import ConfigError, parse_config
from shared.config_devices import MeterConfig

GENERIC = """
meters:
  - name: heatpump
    type: modbus
    usage: aux
    modbus: {protocol: rtuovertcp, host: 10.0.0.5, port: 8899, id: 3}
    interval_s: 5
    registers:
      power: {address: 100, source: input, type: int32, word_order: little, scale: 0.1}
      energy: {address: 110, type: uint32, scale: 0.001}
      currents:
        - {address: 120, type: float32}
        - {address: 122, type: float32}
        - {address: 124, type: float32}
"""


def test_generic_meter_from_yaml() -> None:
    config = parse_config(yaml.safe_load(GENERIC))
    regs = config.meters[0].registers
    assert regs is not None and regs.currents is not None
    assert (regs.power.source, regs.power.type, regs.power.word_order, regs.power.scale) == (
        "input",
        "int32",
        "little",
        0.1,
    )
    assert regs.energy is not None and regs.energy.source == "holding"


def bad(meter: dict[str, Any]) -> str:
    base = {"name": "m", "type": "sdm", "usage": "grid", "modbus": {"host": "127.0.0.1"}}
    with pytest.raises(ConfigError) as error:
        parse_config({"meters": [{**base, **meter}]})
    return str(error.value)


@pytest.mark.parametrize(
    ("meter", "says"),
    [
        ({"type": "fronius"}, "meters.0.type"),
        ({"type": "modbus"}, "needs a registers map"),
        ({"registers": {"power": {"address": 1}}}, "only for type modbus"),
        ({"modbus": {"protocol": "tcp"}}, "modbus.host is required"),
        ({"modbus": {"protocol": "rtu"}}, "modbus.device"),
        ({"type": "modbus", "registers": {"power": {"address": 1, "type": "int8"}}}, "registers.power.type"),
        ({"type": "modbus", "registers": {"power": {"address": 1, "scale": 0}}}, "scale must be a non-zero"),
        ({"type": "modbus", "registers": {"power": {"address": 65535, "type": "float32"}}}, "runs past"),
        (
            {"type": "modbus", "registers": {"power": {"address": 1}, "currents": [{"address": 2}]}},
            "currents",
        ),
        ({"type": "modbus", "registers": {"power": {"address": 1, "wordorder": "big"}}}, "wordorder"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_bad_meter_config_names_the_problem(meter: dict[str, Any], says: str) -> None:
    assert says in bad(meter)


def test_demo_meters_keep_their_names_and_ports() -> None:
    with open("services/demo.yaml", encoding="utf-8") as file:
        meters = [MeterConfig.model_validate(m) for m in yaml.safe_load(file)["meters"]]
    assert {m.name: (m.type, m.usage.value, m.modbus.port) for m in meters} == {
        "grid": ("sdm", "grid", 15021),
        "pv": ("sunspec", "pv", 15020),
        "battery": ("sunspec", "battery", 15022),
    }
