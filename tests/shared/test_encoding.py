"""evcc's encoders (reference §0.2, §1.3) and the decoder back from topics."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from shared.encoding import api_value, decode_model, encode_api, encode_mqtt, encode_scalar, format_float
from shared.messages import Rate
from shared.state import (
    BatteryDevice,
    BatteryState,
    ChargeMode,
    GridState,
    LoadpointState,
    Measurement,
    PlanStrategy,
    SiteState,
    Statistics,
    StatisticsPeriod,
    VehiclePlan,
    VehicleState,
)

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (1234.5, "1234.5"),
        (0.0, "0"),
        (-0.0001, "0"),
        (2.0, "2"),
        (0.1234, "0.123"),
        (-500.0, "-500"),
        (1e-9, "0"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_mqtt_float_format(value: float, payload: str) -> None:
    assert format_float(value) == payload


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (True, "true"),
        (False, "false"),
        (16, "16"),
        (None, ""),
        (ChargeMode.MINPV, "minpv"),
        (T0, "1774746000"),
    ],
)
def test_mqtt_scalars(value: object, payload: str) -> None:
    assert encode_scalar(value) == payload


def test_top_level_phases_publish_l1_to_l3_and_the_sum_even_for_voltages() -> None:
    topics = dict(encode_mqtt("evcc/loadpoints/1", LoadpointState(chargeVoltages=[230.0, 231.0, 229.5])))
    assert topics == {
        "evcc/loadpoints/1/chargeVoltages/l1": "230",
        "evcc/loadpoints/1/chargeVoltages/l2": "231",
        "evcc/loadpoints/1/chargeVoltages/l3": "229.5",
        "evcc/loadpoints/1/chargeVoltages": "690.5",
    }


def test_nested_three_element_lists_are_lists_not_phases() -> None:
    topics = dict(encode_mqtt("evcc/site", SiteState(grid=GridState(currents=[1.0, -2.0, 3.0]))))
    assert topics["evcc/site/grid/currents"] == "3"
    assert topics["evcc/site/grid/currents/2"] == "-2"
    assert "evcc/site/grid/currents/l1" not in topics


def test_structs_lists_and_go_field_names() -> None:
    site = SiteState(
        pv=[Measurement(power=3000.0, excessDCPower=12.0)],
        battery=BatteryState(devices=[BatteryDevice(soc=55.5)]),
    )
    topics = dict(encode_mqtt("evcc/site", site))
    assert topics["evcc/site/pv"] == "1"
    assert topics["evcc/site/pv/1/excessDCPower"] == "12"  # Go field name on MQTT
    assert topics["evcc/site/battery/devices/1/soc"] == "55.5"
    assert encode_api(site)["pv"] == [{"power": 3000.0, "excessdcpower": 12.0}]  # JSON tag in the API


def test_only_set_fields_are_published_and_nil_erases() -> None:
    topics = dict(encode_mqtt("evcc/loadpoints/2", LoadpointState(mode=ChargeMode.NOW, planTime=None)))
    assert topics == {"evcc/loadpoints/2/mode": "now", "evcc/loadpoints/2/planTime": ""}


def test_plan_is_one_json_string_on_mqtt() -> None:
    rate = Rate(start=T0, end=T0.replace(minute=15), value=0.25)
    payload = dict(encode_mqtt("evcc/loadpoints/1", LoadpointState(plan=[rate])))["evcc/loadpoints/1/plan"]
    assert payload == '[{"start":"2026-03-29T01:00:00Z","end":"2026-03-29T01:15:00Z","value":0.25}]'


def test_api_encoder_rounds_top_level_floats_only() -> None:
    site = SiteState(homePower=1234.56789, grid=GridState(power=-99.123456))
    out = encode_api(site)
    assert out["homePower"] == 1234.568
    assert out["grid"] == {"power": -99.123456}
    assert api_value(math.nan) is None


def test_api_encoder_times_are_rfc3339_with_offset() -> None:
    out = encode_api(LoadpointState(planTime=T0))
    assert datetime.fromisoformat(out["planTime"]) == T0
    assert "+" in out["planTime"] or out["planTime"].endswith("Z") or "-" in out["planTime"][19:]


@pytest.mark.parametrize(
    "model",
    [
        SiteState(
            homePower=500.0,
            grid=GridState(power=-1200.5, powers=[-400.0, -400.0, -400.5], currents=[-1.7, -1.7, -1.8]),
            pv=[Measurement(name="pv", power=3000.0, energy=12.5)],
            battery=BatteryState(power=-800.0, soc=61.0, devices=[BatteryDevice(soc=61.0, capacity=10.0)]),
            statistics=Statistics(d30=StatisticsPeriod(chargedKWh=120.5, solarPercentage=72.0)),
            gridConfigured=True,
        ),
        LoadpointState(
            mode=ChargeMode.PV,
            chargeCurrents=[6.0, 6.0, 6.0],
            chargePower=4140.0,
            connected=True,
            planTime=T0,
            planStrategy=PlanStrategy(continuous=True, precondition=900),
            plan=[Rate(start=T0, end=T0.replace(minute=15), value=0.2)],
            limitSoc=80,
        ),
        VehicleState(title="EV", capacity=60.0, plan=VehiclePlan(soc=80, time=T0), features=["Offline"]),
    ],
)
def test_decoder_inverts_the_mqtt_encoder(model: SiteState | LoadpointState | VehicleState) -> None:
    topics = dict(encode_mqtt("root/x", model))
    decoded = decode_model(type(model), topics, "root/x")
    assert encode_api(decoded) == encode_api(model)


def test_decoder_ignores_unparseable_payloads() -> None:
    decoded = decode_model(LoadpointState, {"r/chargePower": "abc", "r/mode": "now"}, "r")
    assert decoded.model_fields_set == {"mode"}
