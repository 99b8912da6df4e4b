"""The gateway against the real optimizer service: a REST setter changes the setting, the confirmed
value comes back, and the new state flows back into /api/state over MQTT."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.config import Config
from tests.gateway.conftest import RunningGateway


@contextlib.asynccontextmanager
async def real_optimizer(config: Config, tmp_path: Path) -> AsyncIterator[None]:
    service = pytest.importorskip(
        "services.optimizer.service", reason="the optimizer service is not built yet"
    )
    config = config.model_copy(
        update={"optimizer": config.optimizer.model_copy(update={"state_file": str(tmp_path / "opt.json")})}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(config, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_rest_setters_through_the_real_optimizer(
    gateway: RunningGateway, config: Config, tmp_path: Path
) -> None:
    async with real_optimizer(config, tmp_path):
        await gateway.store.wait_for(
            lambda s: s.service_online("optimizer") is True and s.loadpoint(1) is not None, timeout=15
        )
        mode = await gateway.client.post("/api/loadpoints/1/mode/now")
        assert mode.json() == {"result": "now"}
        await gateway.store.wait_for(lambda s: s.loadpoint(1).mode == "now")
        state = (await gateway.client.get("/api/state", params={"jq": ".loadpoints[0].mode"})).json()
        assert state == {"result": "now"}

        limit = await gateway.client.post("/api/vehicles/ev1/minsoc/30")
        assert limit.json() == {"result": {"soc": 30}}

        too_low = await gateway.client.post("/api/loadpoints/1/maxcurrent/2")  # below minCurrent 6 A
        assert too_low.status_code == 400 and "maxCurrent" in too_low.json()["error"]
        unchanged = await gateway.client.get("/api/state", params={"jq": ".loadpoints[0].maxCurrent"})
        assert unchanged.json()["result"] != 2

        plan = await gateway.client.get("/api/loadpoints/1/plan")
        assert plan.status_code == 200 and plan.json()["result"]["plan"] == []  # no plan set
