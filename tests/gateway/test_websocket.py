"""/ws: a welcome with the whole state in evcc's key scheme, then live updates as topics change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from shared.state import ChargeMode, LoadpointState, SiteState, VehicleState
from tests.gateway.conftest import FakeOwner, RunningGateway
from tests.support.tree import publish_as_owners


async def next_message(socket: ClientConnection, predicate: Any) -> dict[str, Any]:
    """The next frame satisfying ``predicate`` (earlier frames are other updates)."""

    async def read() -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if predicate(message):
                return message

    return await asyncio.wait_for(read(), 10)


async def test_welcome_then_live_updates(gateway: RunningGateway, owner: FakeOwner) -> None:
    bus = owner.bus
    await publish_as_owners(bus, "site", SiteState(pvPower=4000.0, homePower=600.0))
    await publish_as_owners(bus, "loadpoints/1", LoadpointState(mode=ChargeMode.PV, chargePower=0.0))
    await publish_as_owners(bus, "vehicles/ev1", VehicleState(title="Blue e-Golf"))
    await gateway.store.wait_for(lambda s: s.loadpoint(1) is not None and s.vehicle("ev1") is not None)

    url = gateway.base_url.replace("http://", "ws://") + "/ws"
    async with connect(url) as socket:
        welcome = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert welcome["pvPower"] == 4000.0 and welcome["homePower"] == 600.0
        assert welcome["loadpoints.0.mode"] == "pv"
        assert welcome["vehicles"] == {"ev1": {"title": "Blue e-Golf"}}

        await publish_as_owners(bus, "loadpoints/1", LoadpointState(chargePower=7400.0, mode=ChargeMode.NOW))
        update = await next_message(socket, lambda m: "loadpoints.0.chargePower" in m)
        assert update["loadpoints.0.chargePower"] == 7400.0
        assert "pvPower" not in update  # only what changed

        await publish_as_owners(bus, "site", SiteState(pvPower=None))  # erased topic
        erased = await next_message(socket, lambda m: "pvPower" in m)
        assert erased == {"pvPower": None}


async def test_index_page_is_served(gateway: RunningGateway) -> None:
    page = await gateway.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/assets/app/main.js" in page.text  # the app (tests/web drives it in Chromium)
    store = await gateway.client.get("/assets/app/store.js")
    assert store.status_code == 200 and "/ws" in store.text
