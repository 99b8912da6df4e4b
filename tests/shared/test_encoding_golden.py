"""Byte-level evcc encoding, checked against what evcc (Go) itself writes.

The expected values are evcc's own: its encoder tests (``util/encode/encode_test.go``: π → 3.142, NaN/Inf
→ null), its MQTT tests (``server/mqtt_test.go``: NaN → ``NaN``, +Inf, slices as count + items, structs as
sub-topics, the battery struct), payloads evcc publishes as quoted in its docs and by integrations
(``"maxCurrent": 16``, ``"tariffGrid": 0.233835``, ``"chargeCurrents": [0, 0, 0]``), and Go's
``encoding/json`` number and ``time.RFC3339``/``RFC3339Nano`` forms.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.docs import NOT_PUBLISHED
from shared.encoding import api_value, encode_api, encode_mqtt, go_float, go_json, go_time, ws_value
from shared.messages import Rate
from shared.state import (
    BatteryDevice,
    BatteryState,
    ChargeMode,
    LoadpointState,
    PlanStrategy,
    SiteState,
    VehiclePlan,
    VehicleState,
)

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (16.0, "16"),
        (6.0, "6"),
        (70.0, "70"),
        (-1200.0, "-1200"),
        (0.233835, "0.233835"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (-0.0, "-0"),
        (sys.float_info.max, "1.7976931348623157e+308"),
    ],
)
def test_numbers_as_go_encoding_json_writes_float64(value: float, text: str) -> None:
    assert go_float(value) == text
    assert float(text) == value


def test_evcc_state_encoder_rounds_top_level_floats_and_nulls_nan_and_inf() -> None:
    assert api_value(math.pi) == 3.142
    assert api_value(math.nan) is None and api_value(math.inf) is None
    assert api_value(0.0005) == 0.001 and api_value(-0.0005) == -0.001  # Go rounds halves away from zero
    assert go_json([api_value(16.0), api_value(5123.4567), api_value(math.nan)]) == "[16,5123.457,null]"


def test_float_noise_never_reaches_the_wire() -> None:
    noisy = 0.212 + 0.015  # a price formula: energy price plus a fee
    assert repr(noisy) == "0.22699999999999998"
    assert go_json({"value": noisy}) == '{"value":0.227}'
    assert go_json([0.1 + 0.2]) == "[0.3]"
    slots = [Rate(start=T0, end=T0 + timedelta(minutes=15), value=noisy)]
    topics = dict(encode_mqtt("evcc/loadpoints/1", LoadpointState(plan=slots)))
    assert topics["evcc/loadpoints/1/plan"] == (
        '[{"start":"2026-03-29T01:00:00Z","end":"2026-03-29T01:15:00Z","value":0.227}]'
    )
    assert go_json(encode_api(LoadpointState(plan=slots))["plan"]) == topics["evcc/loadpoints/1/plan"]


def test_times_as_go_formats_them() -> None:
    berlin = timezone(timedelta(hours=2))
    local = datetime(2026, 7, 1, 9, 30, 0, 500000, tzinfo=berlin)
    assert go_time(local) == "2026-07-01T07:30:00.5Z"  # RFC3339Nano: fraction without trailing zeros
    assert go_time(local, nano=False) == "2026-07-01T07:30:00Z"  # RFC3339: whole seconds
    assert api_value(local) == "2026-07-01T07:30:00Z"
    state = encode_api(LoadpointState(planTime=local))
    vehicle = encode_api(VehicleState(plan=VehiclePlan(soc=80, time=local.replace(microsecond=0))))
    assert state["planTime"] == "2026-07-01T07:30:00Z"
    assert vehicle["plan"]["time"] == "2026-07-01T07:30:00Z"  # the loadpoint's and the vehicle's agree


def test_go_json_escapes_like_go() -> None:
    assert go_json({"title": "<Garage & Carport>"}) == '{"title":"\\u003cGarage \\u0026 Carport\\u003e"}'
    assert go_json("Grüne Wiese\u2028") == '"Grüne Wiese\\u2028"'
    assert json.loads(go_json({"a": [1, 2.5, None, True, "x"]})) == {"a": [1, 2.5, None, True, "x"]}


def test_a_loadpoint_byte_for_byte() -> None:
    lp = LoadpointState(
        mode=ChargeMode.PV,
        minCurrent=6.0,
        maxCurrent=16.0,
        chargeCurrents=[0.0, 0.0, 0.0],
        chargePower=3680.0,
        planStrategy=PlanStrategy(continuous=False, precondition=0),
        sessionPrice=None,
    )
    text = go_json(encode_api(lp))
    assert text.startswith('{"mode":"pv","minCurrent":6,"maxCurrent":16,')
    assert '"chargePower":3680,' in text
    assert '"chargeCurrents":[0,0,0]' in text
    assert '"planStrategy":{"continuous":false,"precondition":0}' in text
    # keys evcc always carries are null, never absent
    for key in ("sessionPrice", "planTime", "planProjectedStart", "planProjectedEnd", "effectivePlanTime"):
        assert f'"{key}":null' in text
    assert "16.0" not in text and "6.0" not in text


def test_websocket_rounds_top_level_list_elements_like_evcc() -> None:
    assert ws_value([16.0004, 15.9996, 0.0]) == [16.0, 16.0, 0.0]
    assert api_value([16.0004]) == [16.0004]  # /api/state leaves nested values unrounded


def test_mqtt_as_evcc_server_tests_publish() -> None:
    battery = SiteState(battery=BatteryState(power=2, soc=20.0, devices=[BatteryDevice(power=1, soc=10.0)]))
    topics = dict(encode_mqtt("test", battery))
    assert topics["test/battery/power"] == "2"
    assert topics["test/battery/soc"] == "20"
    assert topics["test/battery/devices"] == "1"
    assert topics["test/battery/devices/1/power"] == "1"
    assert topics["test/battery/devices/1/soc"] == "10"
    floats = dict(
        encode_mqtt("lp", LoadpointState(chargePower=math.nan, maxCurrent=math.inf, minCurrent=6.0))
    )
    assert (floats["lp/chargePower"], floats["lp/maxCurrent"], floats["lp/minCurrent"]) == (
        "NaN",
        "+Inf",
        "6",
    )
    assert dict(encode_mqtt("lp", LoadpointState(planTime=T0)))["lp/planTime"] == "1774746000"
    assert dict(encode_mqtt("lp", LoadpointState(planTime=None)))["lp/planTime"] == ""


# Every key of evcc's state schema (server/openapi.state.yaml) and its vehicle struct (core/site_vehicles.go).
EVCC_SITE_KEYS = """telemetry experimental setupRequired startupCompleted apiReady forecast currency fatal
authProviders version availableVersion system timezone battery batteryMode grid gridConfigured pv pvPower
pvEnergy aux auxPower ext consumers homePower residualPower gridExportLimit greenShareHome
greenShareLoadpoints tariffs tariffGrid tariffFeedIn tariffCo2 tariffSolar tariffPriceHome
tariffPriceLoadpoints tariffCo2Home tariffCo2Loadpoints tariffTemperature mqtt influx network hems shm sponsor
eebus remote modbusproxy messaging messagingEvents interval circuits bufferSoc prioritySoc bufferStartSoc
batteryDischargeControl batteryGridDischarge solarAdjusted batteryGridChargeLimit batteryGridChargeActive
smartCostAvailable smartCostType smartFeedInPriorityAvailable historyUpdated siteTitle deviceColors statistics
authDisabled config database ocpp ocppforwarder optimizer optimizerChargingStrategy
optimizerChargingStrategies mcp demoMode batteryModeExternal""".split()  # noqa: SIM905
EVCC_LOADPOINT_KEYS = """name batteryBoost chargeCurrents chargeDuration chargePower chargeRemainingDuration
chargeRemainingEnergy chargeTotalImport chargeVoltages chargedEnergy chargerFeatureAutodetectDisabled
chargerFeatureAverage chargerFeatureCacheable chargerFeatureClimaterDisabled chargerFeatureCoarseCurrent
chargerFeatureContinuous chargerFeatureHeating chargerFeatureIntegratedDevice chargerFeatureOffline
chargerFeatureRetryable chargerFeatureStreaming chargerFeatureSwitchDevice chargerFeatureWakeUpDisabled
chargerFeatureWelcomeCharge chargerIcon chargerPhases1p3p chargerSinglePhase chargerStatusReason charging
connected connectedDuration disableDelay disableThreshold effectiveLimitSoc effectiveMaxCurrent
effectiveMinCurrent effectiveMinSoc effectivePlanId effectivePlanSoc effectivePlanTime effectivePlanStrategy
effectivePriority enableDelay enableThreshold enabled limitEnergy limitSoc maxCurrent minCurrent minSoc
minSocNotReached mode offeredCurrent phaseAction phaseRemaining phasesActive phasesConfigured plan planActive
planEnergy planOverrun planStrategy planProjectedEnd planProjectedStart planTime priority pvAction pvRemaining
last24hEnergy last7dEnergy sessionCo2PerKWh sessionEnergy sessionPrice sessionPricePerKWh
sessionSolarPercentage smartCostActive smartCostLimit smartCostNextStart smartFeedInPriorityActive
smartFeedInPriorityLimit smartFeedInPriorityNextStart suggestion title todayEnergy vehicleClimaterActive
vehicleDetectionActive vehicleLimitSoc vehicleName vehicleOdometer vehicleRange vehicleSoc vehicleTitle
vehicleWelcomeActive batteryBoostLimit ui vehicleIdentity dimmed""".split()  # noqa: SIM905
EVCC_VEHICLE_KEYS = """name title icon capacity phases mode minSoc limitSoc minCurrent maxCurrent priority
features plan repeatingPlans planStrategy""".split()  # noqa: SIM905


@pytest.mark.parametrize(
    ("scope", "model", "keys"),
    [
        ("site", SiteState, EVCC_SITE_KEYS),
        ("loadpoint", LoadpointState, EVCC_LOADPOINT_KEYS),
        ("vehicle", VehicleState, EVCC_VEHICLE_KEYS),
    ],
)
def test_every_evcc_key_is_published_or_listed_as_missing_with_a_reason(
    scope: str, model: type[SiteState], keys: list[str]
) -> None:
    published = set(model.model_fields)
    missing = NOT_PUBLISHED[scope]
    unaccounted = [k for k in keys if k not in published and k not in missing]
    assert unaccounted == [], f"evcc {scope} keys neither published nor in docs/mqtt.md: {unaccounted}"
    assert not (published & set(missing)), "a key cannot be published and missing at once"
    assert all(reason for reason in missing.values())
