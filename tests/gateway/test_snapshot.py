"""/api/state serves whole, immutable snapshots: never a 5xx, never a torn read while the tree changes;
it (and /api/health) say 503 and why until the configured system is complete; one bad status message
cannot poison health."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

from services.gateway.state_store import Expected, StateStore
from shared.encoding import go_json
from shared.state import GridState, LoadpointState, SiteState, VehicleState
from tests.gateway.conftest import FakeOwner, RunningGateway, publish_complete_tree
from tests.support.probe import Probe
from tests.support.tree import publish_as_owners


async def test_concurrent_readers_see_whole_snapshots_while_the_tree_changes(
    gateway: RunningGateway, ready: FakeOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = gateway.store
    served: set[bytes] = {store.snapshot().wrapped}
    build = StateStore._build

    def recording(self: StateStore, version: int) -> Any:
        snapshot = build(self, version)
        served.add(snapshot.wrapped)
        return snapshot

    monkeypatch.setattr(StateStore, "_build", recording)
    bus = ready.bus
    stop = asyncio.Event()

    async def churn() -> None:
        # Keys change, appear and vanish (vehicles come and go: the tree's dicts change size).
        n = 0
        while not stop.is_set():
            n += 1
            await publish_as_owners(bus, "site", SiteState(pvPower=float(n), grid=GridState(power=-n)))
            await publish_as_owners(
                bus, "loadpoints/1", LoadpointState(chargePower=float(n), sessionEnergy=n)
            )
            name = f"guest{n % 5}"
            if n % 2:
                await publish_as_owners(bus, f"vehicles/{name}", VehicleState(title=name, minSoc=n % 100))
            else:
                await publish_as_owners(bus, f"vehicles/{name}", VehicleState(title=None, minSoc=None))
            await store.wait_for(lambda s, n=n: s.site().pvPower == n)  # one round trip per step

    bodies: list[tuple[int, bytes]] = []
    seen: set[bytes] = set()
    enough = asyncio.Event()

    async def reader(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            response = await client.get("/api/state")
            bodies.append((response.status_code, response.content))
            seen.add(response.content)
            if len(bodies) >= 400 and len(seen) >= 10:  # many reads, across many versions of the tree
                enough.set()

    writer = asyncio.create_task(churn())
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        readers = [asyncio.create_task(reader(client)) for _ in range(8)]
        try:
            await asyncio.wait_for(enough.wait(), 30)
        finally:
            stop.set()
            await asyncio.gather(writer, *readers)
    assert {status for status, _ in bodies} == {200}
    torn = [body for _, body in bodies if body not in served]
    assert torn == []  # every response is exactly one snapshot's bytes
    json.loads(bodies[-1][1])


def test_readers_on_other_threads_never_see_a_changing_dict() -> None:
    store = StateStore("evcc", Expected(loadpoints=1))
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                snapshot = store.snapshot()
                json.loads(snapshot.body)
                list(snapshot.vehicles.items())
                store.loadpoint_ids(), store.vehicle_names(), store.welcome()
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 0.5:
        n += 1
        store.on_state_topic(f"evcc/vehicles/v{n % 50}/title", f"car {n}" if n % 3 else "")
        store.on_state_topic("evcc/loadpoints/1/chargePower", str(n))
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    snapshot = store.snapshot()
    assert snapshot.body == go_json(snapshot.document).encode()  # the bytes are exactly the document
    assert store.loadpoint(1) is not None and store.loadpoint(1).chargePower == n  # type: ignore[union-attr]


async def test_not_ready_until_the_configured_system_is_on_the_bus(
    gateway: RunningGateway, owner: FakeOwner
) -> None:
    config = gateway.ctx.config
    for path in ("/api/state", "/api/health"):
        early = await gateway.client.get(path)
        assert early.status_code == 503
        assert "starting: waiting for the site, loadpoint 1, vehicle ev1, ev2 from the bus" in early.text
    state = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0].mode"})
    assert state.status_code == 503 and state.headers["Retry-After"] == "1"
    await publish_as_owners(owner.bus, "vehicles/ev1", VehicleState(title="Blue e-Golf"))
    await gateway.store.wait_for(lambda s: s.vehicle("ev1") is not None)
    partial = await gateway.client.get("/api/state")
    assert partial.json() == {
        "error": "starting: waiting for the site, loadpoint 1, vehicle ev2 from the bus"
    }
    await publish_complete_tree(owner.bus, config)
    await gateway.store.wait_for(lambda s: s.snapshot().ready)
    complete = (await gateway.client.get("/api/state")).json()["result"]
    assert complete["loadpoints"][0]["mode"] == "off" and set(complete["vehicles"]) == {"ev1", "ev2"}
    # Once complete, a restarting optimizer (startupCompleted false again) does not take the state away.
    await publish_as_owners(owner.bus, "site", SiteState(startupCompleted=False))
    await gateway.store.wait_for(lambda s: s.site().startupCompleted is False)
    assert (await gateway.client.get("/api/state")).status_code == 200


async def test_one_bad_status_message_does_not_poison_health(
    gateway: RunningGateway, ready: FakeOwner, probe: Probe
) -> None:
    store = gateway.store
    topic = f"{gateway.ctx.config.mqtt.internal}/services/optimizer/status"
    await ready.bus.publish(f"{ready.bus.state_root}/updated", str(int(time.time())))
    await store.wait_for(lambda s: s.updated() is not None)
    assert (await gateway.client.get("/api/health")).status_code == 200
    for garbage in ("", "not json", '{"state": "sleeping"}', "\xff\xfe", "[]"):
        await probe.publish(topic, garbage, retain=True)
    assert store.service_online("optimizer") is True  # the last valid status stayed
    assert (await gateway.client.get("/api/health")).status_code == 200

    # A failing control cycle, reported in the optimizer's status, makes health say so.
    failing = "control cycle failed: OverflowError: cannot convert float infinity"
    ready.bus.report_problem("cycle", failing)
    await store.wait_for(lambda s: bool(s.services["optimizer"].problems))
    health = await gateway.client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["problems"] == [
        "optimizer: control cycle failed: OverflowError: cannot convert float infinity"
    ]
    ready.bus.report_problem("cycle", None)
    await store.wait_for(lambda s: not s.services["optimizer"].problems)
    assert (await gateway.client.get("/api/health")).status_code == 200
