"""One encoder on every wire: the same state reads the same on /api/state, /ws, MQTT and a setter's answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from websockets.asyncio.client import connect

from shared.messages import Rate
from shared.state import LoadpointState, SiteState, VehiclePlan, VehicleState
from tests.gateway.conftest import FakeOwner, RunningGateway
from tests.support.probe import Probe
from tests.support.tree import publish_as_owners

TARGET = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)


async def publish(owner: FakeOwner, gateway: RunningGateway) -> None:
    bus = owner.bus
    slot = Rate(start=TARGET - timedelta(hours=1), end=TARGET - timedelta(minutes=45), value=0.212 + 0.015)
    await publish_as_owners(bus, "site", SiteState(bufferSoc=70.0, prioritySoc=50.0, pvPower=5123.4567))
    await publish_as_owners(
        bus,
        "loadpoints/1",
        LoadpointState(
            maxCurrent=16.0, minCurrent=6.0, planTime=TARGET, plan=[slot], planProjectedStart=None
        ),
    )
    await publish_as_owners(
        bus, "vehicles/ev1", VehicleState(title="e-Golf", plan=VehiclePlan(soc=80, time=TARGET))
    )
    await gateway.store.wait_for(
        lambda s: (
            s.loadpoint(1) is not None
            and s.loadpoint(1).plan is not None
            and s.vehicle("ev1") is not None
            and s.vehicle("ev1").plan is not None
            and s.site().pvPower is not None
        )
    )


async def test_state_websocket_and_mqtt_agree_byte_for_byte(
    gateway: RunningGateway, ready: FakeOwner, probe: Probe
) -> None:
    owner = ready
    await publish(owner, gateway)
    body = (await gateway.client.get("/api/state")).text
    for fragment in (
        '"bufferSoc":70,',
        '"prioritySoc":50,',
        '"pvPower":5123.457,',
        '"maxCurrent":16,',
        '"minCurrent":6,',
        '"planTime":"2026-07-01T05:30:00Z"',
        '"plan":[{"start":"2026-07-01T04:30:00Z","end":"2026-07-01T04:45:00Z","value":0.227}]',
        '"planProjectedStart":null',
        '"plan":{"soc":80,"time":"2026-07-01T05:30:00Z"}',
    ):
        assert fragment in body, fragment
    assert ".0," not in body and ".0}" not in body

    url = gateway.base_url.replace("http://", "ws://") + "/ws"
    async with connect(url) as socket:
        welcome = str(await asyncio.wait_for(socket.recv(), 10))
    for fragment in (
        '"bufferSoc":70,',
        '"loadpoints.0.maxCurrent":16,',
        '"loadpoints.0.planTime":"2026-07-01T05:30:00Z"',
    ):
        assert fragment in welcome, fragment

    assert await probe.wait_state("loadpoints/1/maxCurrent", bool) == "16"
    assert await probe.wait_state("site/bufferSoc", bool) == "70"
    assert '"value":0.227}' in await probe.wait_state("loadpoints/1/plan", bool)


async def test_a_setter_answers_like_evcc(gateway: RunningGateway, owner: FakeOwner) -> None:
    response = await gateway.client.post("/api/loadpoints/1/maxcurrent/16")
    assert response.status_code == 200
    assert response.text == '{"result":16}'
    auth = await gateway.client.get("/api/auth/status")  # no admin password yet: not logged in, no 501
    assert (auth.status_code, auth.text) == (200, "false")
