"""/api/state, jq, /api/health and the mode setter through the request/reply path."""

from __future__ import annotations

import time

from shared.bus import Bus
from shared.config import Config
from shared.messages import Reply, Request
from shared.state import ChargeMode, GridState, LoadpointState, SiteState, VehicleState
from tests.gateway.conftest import FakeOwner, RunningGateway, publish_complete_tree
from tests.support.probe import Probe
from tests.support.tree import publish_as_owners


async def publish_home(owner: FakeOwner, gateway: RunningGateway) -> None:
    bus = owner.bus
    await publish_complete_tree(bus, gateway.ctx.config)
    await publish_as_owners(
        bus, "site", SiteState(pvPower=5123.4567, grid=GridState(power=-1200.0), bufferSoc=50.0)
    )
    await publish_as_owners(
        bus, "loadpoints/1", LoadpointState(mode=ChargeMode.PV, chargePower=3700.0, connected=True)
    )
    await publish_as_owners(bus, "vehicles/ev1", VehicleState(title="Blue e-Golf", minSoc=20))
    await bus.publish(f"{bus.state_root}/updated", str(int(time.time())))
    await gateway.store.wait_for(
        lambda s: (
            s.loadpoint(1) is not None
            and s.loadpoint(1).connected is True
            and s.vehicle("ev1") is not None
            and s.vehicle("ev1").minSoc == 20
            and s.site().bufferSoc == 50.0
            and s.updated() is not None
        )
    )


async def test_state_decodes_tree_into_evcc_shape(gateway: RunningGateway, owner: FakeOwner) -> None:
    await publish_home(owner, gateway)
    response = await gateway.client.get("/api/state")
    assert response.status_code == 200
    state = response.json()["result"]
    assert state["pvPower"] == 5123.457  # top-level floats rounded to 3 decimals like evcc
    assert state["grid"]["power"] == -1200.0
    assert state["loadpoints"][0]["mode"] == "pv"
    assert state["loadpoints"][0]["chargePower"] == 3700.0
    assert state["vehicles"]["ev1"] == {"title": "Blue e-Golf", "minSoc": 20}


async def test_jq_filters_to_exactly_one_value(gateway: RunningGateway, owner: FakeOwner) -> None:
    await publish_home(owner, gateway)
    one = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0].chargePower"})
    assert one.status_code == 200 and one.json() == {"result": 3700.0}
    legacy = await gateway.client.get("/api/state", params={"jq": ".result.loadpoints[0].mode"})
    assert legacy.json() == {"result": "pv"}
    many = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0] | .mode, .chargePower"})
    empty = await gateway.client.get("/api/state", params={"jq": "empty"})
    broken = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0"})
    assert (many.status_code, many.json()) == (400, {"error": "jq: too many results"})
    assert (empty.status_code, empty.json()) == (400, {"error": "jq: empty result"})
    assert broken.status_code == 400 and broken.json()["error"].startswith("jq:")


async def test_unwrapped_shape_when_configured(
    config: Config, owner: FakeOwner, gateway: RunningGateway
) -> None:
    config.gateway.wrap_result = False
    await publish_home(owner, gateway)
    response = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0].mode"})
    assert response.json() == "pv"
    mode = await gateway.client.post("/api/loadpoints/1/mode/now")
    assert mode.json() == "now"


async def test_health_needs_online_optimizer_and_fresh_state(gateway: RunningGateway, config: Config) -> None:
    before = await gateway.client.get("/api/health")
    assert before.status_code == 503 and "optimizer" in before.json()["error"]
    settings = config.mqtt.model_copy(update={"client_id": "health-owner"})
    async with Bus(settings, "optimizer") as optimizer:
        await gateway.store.wait_for(lambda s: s.service_online("optimizer") is True)
        stale = await gateway.client.get("/api/health")
        assert stale.status_code == 503 and "update" in stale.json()["error"]
        assert (
            "starting: waiting for the site, loadpoint 1, vehicle ev1, ev2 from the bus"
            in stale.json()["problems"]
        )
        await publish_complete_tree(optimizer, config)
        await optimizer.publish(f"{optimizer.state_root}/updated", str(int(time.time())))
        await gateway.store.wait_for(lambda s: s.updated() is not None and s.snapshot().ready)
        ok = await gateway.client.get("/api/health")
        assert (ok.status_code, ok.text) == (200, "OK")
    await gateway.store.wait_for(lambda s: s.service_online("optimizer") is False)
    down = await gateway.client.get("/api/health")
    assert down.status_code == 503 and "offline" in down.json()["error"]


async def test_mode_goes_through_owner_and_returns_confirmed_value(
    gateway: RunningGateway, owner: FakeOwner
) -> None:
    owner.replies["loadpoints/1/mode"] = lambda r: Reply(id=r.id, ok=True, value="minpv")
    response = await gateway.client.post("/api/loadpoints/1/mode/minpv")
    assert (response.status_code, response.json()) == (200, {"result": "minpv"})
    smart = await gateway.client.post("/api/loadpoints/1/mode/smart")
    assert smart.status_code == 200
    assert [(r.key, r.value) for r in owner.requests] == [
        ("loadpoints/1/mode", "minpv"),
        ("loadpoints/1/mode", "pv"),
    ]


async def test_mode_rejections_change_nothing(gateway: RunningGateway, owner: FakeOwner) -> None:
    bad = await gateway.client.post("/api/loadpoints/1/mode/fast")
    unknown = await gateway.client.post("/api/loadpoints/7/mode/pv")
    zero = await gateway.client.post("/api/loadpoints/0/mode/pv")
    assert bad.status_code == 400 and "fast" in bad.json()["error"]
    assert unknown.status_code == 404 and "loadpoint 7" in unknown.json()["error"]
    assert zero.status_code == 400
    assert owner.requests == []


async def test_owner_rejection_code_is_passed_through(gateway: RunningGateway, owner: FakeOwner) -> None:
    def conflict(request: Request) -> Reply:
        return Reply(id=request.id, ok=False, error="vehicle not connected", code=409)

    owner.replies["loadpoints/1/mode"] = conflict
    response = await gateway.client.post("/api/loadpoints/1/mode/now")
    assert (response.status_code, response.json()) == (409, {"error": "vehicle not connected"})


async def test_silent_owner_is_504_and_offline_owner_is_503(gateway: RunningGateway, config: Config) -> None:
    silent = await gateway.client.post("/api/loadpoints/1/mode/pv")
    assert silent.status_code == 504 and "did not answer" in silent.json()["error"]
    settings = config.mqtt.model_copy(update={"client_id": "gone-owner"})
    async with Bus(settings, "optimizer"):
        await gateway.store.wait_for(lambda s: s.service_online("optimizer") is True)
    await gateway.store.wait_for(lambda s: s.service_online("optimizer") is False)
    offline = await gateway.client.post("/api/loadpoints/1/mode/pv")
    assert offline.status_code == 503 and "offline" in offline.json()["error"]


async def test_set_topics_and_bad_payloads_do_not_break_state(
    gateway: RunningGateway, owner: FakeOwner, probe: Probe
) -> None:
    await publish_home(owner, gateway)
    root = owner.bus.state_root
    await probe.publish(f"{root}/loadpoints/1/chargePower", "not-a-number", retain=True)
    await probe.publish(f"{root}/loadpoints/1/mode/set", "now")
    await probe.publish(f"{root}/loadpoints/1/limitSoc", "80", retain=True)
    await gateway.store.wait_for(lambda s: s.loadpoint(1).limitSoc == 80)
    state = (await gateway.client.get("/api/state")).json()["result"]["loadpoints"][0]
    assert state["mode"] == "pv" and state["limitSoc"] == 80 and "chargePower" not in state
