"""Every setter: the request the owner receives and the response shape the client gets; bad input is
refused before anything is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.optimizer.setters import find_setter
from services.optimizer.settings import Settings, VehicleSettings
from shared.config import Config
from shared.messages import Rate, RateSeries, Reply, Request, TariffType, TariffUsage
from shared.setters import table
from shared.setters.values import Invalid, next_occurrence
from shared.tree import Tree
from tests.gateway.conftest import FakeOwner, RunningGateway, fake_owner

FUTURE = "2030-01-02T07:30:00Z"

# (method, path, expected request key, expected request value, expected response result)
CASES: list[tuple[str, str, str, Any, Any]] = [
    ("POST", "/batterydischargecontrol/1", "site/batteryDischargeControl", True, True),
    ("POST", "/batterydischargecontrol/false", "site/batteryDischargeControl", False, False),
    ("DELETE", "/batterygridchargelimit", "site/batteryGridChargeLimit", None, None),
    ("POST", "/batterygridchargelimit/0.15", "site/batteryGridChargeLimit", 0.15, 0.15),
    ("DELETE", "/batterymode", "site/batteryMode", None, 0),
    ("POST", "/batterymode/hold", "site/batteryMode", "hold", 2),
    ("POST", "/batterymode/holdcharge", "site/batteryMode", "holdcharge", 4),
    ("POST", "/batterymode/unknown", "site/batteryMode", None, 0),  # the spec's enum: hands control back
    ("POST", "/buffersoc/60", "site/bufferSoc", 60, 60),
    ("POST", "/bufferstartsoc/80.5", "site/bufferStartSoc", 80.5, 80.5),
    ("POST", "/prioritysoc/20", "site/prioritySoc", 20, 20),
    ("POST", "/residualpower/-100", "site/residualPower", -100.0, -100.0),
    ("POST", "/smartcostlimit/0.2", "site/smartCostLimit", 0.2, 0.2),
    ("DELETE", "/smartcostlimit", "site/smartCostLimit", None, None),
    ("POST", "/loadpoints/1/batteryboost/true", "loadpoints/1/batteryBoost", True, True),
    ("POST", "/loadpoints/1/disable/delay/180", "loadpoints/1/disableDelay", 180, 180_000_000_000),
    ("POST", "/loadpoints/1/enable/delay/60", "loadpoints/1/enableDelay", 60, 60_000_000_000),
    ("POST", "/loadpoints/1/disable/threshold/200", "loadpoints/1/disableThreshold", 200.0, 200.0),
    ("POST", "/loadpoints/1/enable/threshold/-500", "loadpoints/1/enableThreshold", -500.0, -500.0),
    ("POST", "/loadpoints/1/limitenergy/12.5", "loadpoints/1/limitEnergy", 12.5, 12.5),
    ("POST", "/loadpoints/1/limitsoc/80", "loadpoints/1/limitSoc", 80, 80),
    ("POST", "/loadpoints/1/maxcurrent/16", "loadpoints/1/maxCurrent", 16.0, 16.0),
    ("POST", "/loadpoints/1/mincurrent/6", "loadpoints/1/minCurrent", 6.0, 6.0),
    ("POST", "/loadpoints/1/phases/1", "loadpoints/1/phasesConfigured", 1, 1),
    ("POST", "/loadpoints/1/priority/2", "loadpoints/1/priority", 2, 2),
    ("POST", "/loadpoints/1/smartcostlimit/0.25", "loadpoints/1/smartCostLimit", 0.25, 0.25),
    ("DELETE", "/loadpoints/1/smartcostlimit", "loadpoints/1/smartCostLimit", None, None),
    ("DELETE", "/loadpoints/1/plan/energy", "loadpoints/1/planEnergy", None, {}),
    (
        "POST",
        f"/loadpoints/1/plan/energy/20/{FUTURE}",
        "loadpoints/1/planEnergy",
        {"time": FUTURE, "value": 20.0},
        {"energy": 20.0, "time": FUTURE},
    ),
    (
        "GET",
        f"/loadpoints/1/plan/static/preview/soc/80/{FUTURE}",
        "loadpoints/1/plan/preview",
        {"type": "soc", "value": 80, "time": "2030-01-02T07:30:00+00:00"},
        {"type": "soc", "value": 80, "time": "2030-01-02T07:30:00+00:00"},
    ),
    (
        "GET",
        f"/loadpoints/1/plan/static/preview/energy/10/{FUTURE}",
        "loadpoints/1/plan/preview",
        {"type": "energy", "value": 10.0, "time": "2030-01-02T07:30:00+00:00"},
        {"type": "energy", "value": 10.0, "time": "2030-01-02T07:30:00+00:00"},
    ),
    ("DELETE", "/loadpoints/1/vehicle", "loadpoints/1/vehicle", None, {}),
    ("PATCH", "/loadpoints/1/vehicle", "loadpoints/1/vehicleDetection", True, {}),
    ("POST", "/loadpoints/1/vehicle/ev2", "loadpoints/1/vehicle", "ev2", {"vehicle": "Red Zoe"}),
    ("POST", "/vehicles/ev1/limitsoc/90", "vehicles/ev1/limitSoc", 90, {"soc": 90}),
    ("POST", "/vehicles/ev1/minsoc/25", "vehicles/ev1/minSoc", 25, {"soc": 25}),
    ("DELETE", "/vehicles/ev1/plan/soc", "vehicles/ev1/planSoc", None, {}),
    (
        "POST",
        f"/vehicles/ev1/plan/soc/80/{FUTURE}?precondition=3600",
        "vehicles/ev1/planSoc",
        {"time": FUTURE, "value": 80, "precondition": 3600},
        {"soc": 80, "time": FUTURE, "precondition": 3600},
    ),
    # evcc endpoints beyond the reference spec
    ("POST", "/gridexportlimit/5000", "site/gridExportLimit", 5000.0, 5000.0),
    ("POST", "/batterygriddischarge/0", "site/batteryGridDischarge", False, False),
    ("POST", "/smartfeedinprioritylimit/0.05", "site/smartFeedInPriorityLimit", 0.05, 0.05),
    ("DELETE", "/smartfeedinprioritylimit", "site/smartFeedInPriorityLimit", None, None),
    ("POST", "/solaradjusted/true", "site/solarAdjusted", True, True),
    ("POST", "/loadpoints/1/minsoc/20", "loadpoints/1/minSoc", 20, 20),
    ("POST", "/loadpoints/1/mintemp/30", "loadpoints/1/minSoc", 30, 30),
    ("POST", "/loadpoints/1/batteryboostlimit/50", "loadpoints/1/batteryBoostLimit", 50, 50),
    ("POST", "/loadpoints/1/smartfeedinprioritylimit/0.1", "loadpoints/1/smartFeedInPriorityLimit", 0.1, 0.1),
    ("DELETE", "/loadpoints/1/smartfeedinprioritylimit", "loadpoints/1/smartFeedInPriorityLimit", None, None),
    ("POST", "/vehicles/ev1/mode/minpv", "vehicles/ev1/mode", "minpv", "minpv"),
    ("DELETE", "/vehicles/ev1/mode", "vehicles/ev1/mode", None, None),
]


async def test_every_setter_asks_owner_and_answers_spec_shape(
    gateway: RunningGateway, owner: FakeOwner
) -> None:
    for method, path, key, value, expected in CASES:
        owner.requests.clear()
        response = await gateway.client.request(method, "/api" + path)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == {"result": expected}, path
        assert [(r.key, r.value) for r in owner.requests] == [(key, value)], path


async def test_loadpoint_plan_is_the_owners_answer(gateway: RunningGateway, owner: FakeOwner) -> None:
    plan = {"planId": 1, "planTime": FUTURE, "duration": 3600, "plan": [], "power": 11000}
    owner.replies["loadpoints/1/plan"] = lambda r: Reply(id=r.id, ok=True, value=plan)
    response = await gateway.client.get("/api/loadpoints/1/plan")
    assert response.json() == {"result": plan}


async def test_repeating_plans_body_and_preview(gateway: RunningGateway, owner: FakeOwner) -> None:
    plans = [{"weekdays": [1, 3], "time": "07:30", "tz": "Europe/Berlin", "soc": 80, "active": True}]
    response = await gateway.client.post("/api/vehicles/ev1/plan/repeating", json={"plans": plans})
    assert response.json() == {"result": {"plans": plans}}
    bare = await gateway.client.post("/api/vehicles/ev1/plan/repeating", json=plans)
    assert bare.status_code == 200
    preview = await gateway.client.get(
        "/api/loadpoints/1/plan/repeating/preview/80/1,3/07:30/Europe%2FBerlin"
    )
    assert preview.status_code == 200
    asked = owner.requests[-1].value
    assert asked["type"] == "soc" and asked["value"] == 80
    target = datetime.fromisoformat(asked["time"])
    assert target > datetime.now(UTC) and target.isoweekday() % 7 in (1, 3)
    assert (target.hour, target.minute) == (7, 30)
    for bad_plans in ([{"weekdays": [7], "time": "07:30", "tz": "UTC", "soc": 80}], {"plans": "x"}, 5):
        refused = await gateway.client.post("/api/vehicles/ev1/plan/repeating", json=bad_plans)
        assert refused.status_code == 400, bad_plans
    assert [r.key for r in owner.requests].count("vehicles/ev1/repeatingPlans") == 2


async def test_plan_strategy_bodies(gateway: RunningGateway, owner: FakeOwner) -> None:
    strategy = {"continuous": True, "precondition": 1800}
    for path, key in (
        ("/api/loadpoints/1/plan/strategy", "loadpoints/1/planStrategy"),
        ("/api/vehicles/ev2/plan/strategy", "vehicles/ev2/planStrategy"),
    ):
        response = await gateway.client.post(path, json=strategy)
        assert response.json() == {"result": strategy}
        assert (owner.requests[-1].key, owner.requests[-1].value) == (key, strategy)
    sent = len(owner.requests)
    for bad in ({"continuous": "yes"}, {"precondition": -1}, {"other": 1}, [1]):
        refused = await gateway.client.post("/api/loadpoints/1/plan/strategy", json=bad)
        assert refused.status_code == 400, bad
    assert len(owner.requests) == sent


def test_next_occurrence_crosses_weekend_and_dst() -> None:
    saturday_evening = datetime(2025, 3, 29, 20, 0, tzinfo=UTC)  # DST starts in Berlin on Sunday 30th
    target = next_occurrence((1,), "07:30", "Europe/Berlin", saturday_evening)
    assert target is not None and target.isoformat() == "2025-03-31T07:30:00+02:00"
    same_day = next_occurrence((6,), "23:00", "Europe/Berlin", saturday_evening)
    assert same_day is not None and same_day.isoformat() == "2025-03-29T23:00:00+01:00"


BAD_INPUT = [
    ("POST", "/loadpoints/1/mode/turbo", 400),
    ("POST", "/loadpoints/abc/mode/pv", 400),
    ("POST", "/loadpoints/2/mode/pv", 404),
    ("POST", "/loadpoints/1/phases/2", 400),
    ("POST", "/loadpoints/1/limitsoc/101", 400),
    ("POST", "/loadpoints/1/limitsoc/-1", 400),
    ("POST", "/loadpoints/1/limitsoc/50.5", 400),
    ("POST", "/buffersoc/abc", 400),
    ("POST", "/buffersoc/NaN", 400),
    ("POST", "/residualpower/inf", 400),
    ("POST", "/batterydischargecontrol/yes", 400),
    ("POST", "/batterymode/turbo", 400),
    ("POST", "/loadpoints/1/mincurrent/-6", 400),
    ("POST", "/loadpoints/1/enable/delay/1.5", 400),
    ("POST", "/loadpoints/1/plan/energy/10/tomorrow", 400),
    ("POST", "/loadpoints/1/plan/energy/10/2030-01-02T07:30:00", 400),  # no offset
    ("GET", "/loadpoints/1/plan/repeating/preview/80/1,9/07:30/UTC", 400),
    ("GET", "/loadpoints/1/plan/repeating/preview/80/1/25:00/UTC", 400),
    ("GET", "/loadpoints/1/plan/repeating/preview/80/1/07:30/Mars%2FOlympus", 400),
    ("POST", "/vehicles/nope/minsoc/20", 404),
    ("POST", "/vehicles/bad%20name/minsoc/20", 404),  # as evcc: its route does not match such a name
    ("POST", "/loadpoints/1/vehicle/nope", 404),
    ("POST", "/vehicles/ev1/plan/soc/80/" + FUTURE + "?precondition=-5", 400),
]


async def test_bad_input_is_refused_and_nothing_is_sent(gateway: RunningGateway, owner: FakeOwner) -> None:
    for method, path, status in BAD_INPUT:
        response = await gateway.client.request(method, "/api" + path)
        assert response.status_code == status, path
        assert isinstance(response.json()["error"], str) and response.json()["error"], path
    assert owner.requests == []


async def test_owner_validation_error_reaches_client(gateway: RunningGateway, owner: FakeOwner) -> None:
    def reject(request: Request) -> Reply:
        return Reply(
            id=request.id, ok=False, error="phases 0 (automatic) needs a charger that can switch phases"
        )

    owner.replies["loadpoints/1/phasesConfigured"] = reject
    response = await gateway.client.post("/api/loadpoints/1/phases/0")
    assert response.status_code == 400 and "switch phases" in response.json()["error"]


async def test_tariff_from_retained_rate_series(gateway: RunningGateway, owner: FakeOwner) -> None:
    missing = await gateway.client.get("/api/tariff/grid")
    unknown = await gateway.client.get("/api/tariff/bitcoin")
    assert missing.status_code == 404 and unknown.status_code == 404
    start = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    slot = timedelta(minutes=15)
    rates = [
        Rate(start=start + i * slot, end=start + (i + 1) * slot, value=v)
        for i, v in enumerate([0.25, 0.2512])
    ]
    series = RateSeries(usage=TariffUsage.GRID, type=TariffType.PRICE_DYNAMIC, rates=rates)
    await owner.bus.publish_model(f"{owner.bus.topics.tariff('grid')}", series)
    await gateway.store.wait_for(lambda s: "grid" in s.tariffs)
    rates = (await gateway.client.get("/api/tariff/grid")).json()["result"]["rates"]
    assert [r["value"] for r in rates] == [0.25, 0.2512]
    assert [datetime.fromisoformat(r["start"]) for r in rates] == [start, start + timedelta(minutes=15)]
    assert json.dumps(rates)  # plain JSON


async def test_telemetry_is_stored_only(gateway: RunningGateway) -> None:
    assert (await gateway.client.get("/api/settings/telemetry")).json() == {"result": False}
    assert (await gateway.client.post("/api/settings/telemetry/true")).json() == {"result": True}
    assert (await gateway.client.get("/api/settings/telemetry")).json() == {"result": True}
    assert (await gateway.client.post("/api/settings/telemetry/maybe")).status_code == 400


# --- a key another service owns ------------------------------------------------------------------------


async def test_a_key_of_another_owner_is_routed_to_that_owner(
    gateway: RunningGateway, owner: FakeOwner, config: Config
) -> None:
    entry = table.find(table.parse_path("vehicles/ev1/soc"))
    assert entry is not None and entry.owner == "meter-reader"
    async with fake_owner(config, gateway, "meter-reader") as meter_reader:
        response = await gateway.client.post("/api/vehicles/ev1/soc/55.5")
        assert response.status_code == 200 and response.json() == {"result": {"soc": 55.5}}
        assert [(r.key, r.value) for r in meter_reader.requests] == [("vehicles/ev1/soc", 55.5)]
        assert owner.requests == []  # the optimizer is not asked
        refused = await gateway.client.post("/api/vehicles/ev1/soc/101")
        assert refused.status_code == 400 and len(meter_reader.requests) == 1
    assert table.set_topics(Tree("evcc"), "meter-reader") == ["evcc/vehicles/+/soc/set"]
    assert "evcc/vehicles/+/soc/set" not in table.set_topics(Tree("evcc"), "optimizer")
    settings = Settings(vehicles={"ev1": VehicleSettings(title="EV", capacity_kwh=50)})
    with pytest.raises(Invalid) as error:  # the optimizer refuses what it does not own
        find_setter(settings, "vehicles/ev1/soc")
    assert error.value.code == 404
