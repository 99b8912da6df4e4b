"""The example flows in examples/node-red/ in stock Node-RED 4 against the live demo: they import unchanged
(only the broker's and the gateway's ports and the CSV path are pointed at the test's), use only Node-RED's
core nodes, and each does what it says."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.stack import api_result, wait_until
from tests.integrations.conftest import Live
from tests.integrations.node_red import NodeRed, running_node_red
from tests.support.probe import Probe

pytestmark = pytest.mark.e2e

FLOWS = Path(__file__).parents[2] / "examples" / "node-red"
SESSIONS_INJECT = "cb4f000000000011"


@pytest.fixture(scope="session")
def node_red(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRed]:
    with running_node_red(tmp_path_factory.mktemp("node-red")) as running:
        yield running


Nodes = list[dict[str, Any]]
HEADER = "created,finished,loadpoint,vehicle,energy_kwh,solar_pct,price,price_per_kwh,co2_per_kwh,odometer_km"


def pointed_at(nodes: Nodes, live: Live, csv_file: Path, env: dict[str, str]) -> Nodes:
    """The flows as a user would import them, with the test's ports (the files say localhost:1883/7070)."""
    out = []
    for node in json.loads(json.dumps(nodes)):
        if node["type"] == "mqtt-broker":
            assert (node["broker"], node["port"]) == ("localhost", "1883")
            node["port"] = str(live.stack.broker_port)
        if node["type"] == "tab":
            for variable in node["env"]:
                if variable["name"] == "API_URL":
                    assert variable["value"] == "http://localhost:7070/api/sessions"
                    variable["value"] = f"{live.base_url}/api/sessions"
                elif variable["name"] == "CSV_FILE":
                    variable["value"] = str(csv_file)
                elif variable["name"] in env:
                    variable["value"] = env[variable["name"]]
        out.append(node)
    return out


async def test_the_example_flows_run_in_stock_node_red(live: Live, node_red: NodeRed, tmp_path: Path) -> None:
    csv_file = tmp_path / "sessions.csv"
    weekday = 1 <= datetime.now().astimezone().isoweekday() <= 5
    expected_limit = "77" if weekday else "93"
    env = {"PRICE_LIMIT": "1000", "WEEKDAY_LIMIT": "77", "WEEKEND_LIMIT": "93"}  # always cheap; odd limits
    nodes: list[dict[str, Any]] = []
    for path in sorted(FLOWS.glob("*.json")):
        nodes += pointed_at(json.loads(path.read_text(encoding="utf-8")), live, csv_file, env)

    async with (
        httpx.AsyncClient(base_url=node_red.url, timeout=10) as admin,
        httpx.AsyncClient(base_url=live.base_url, timeout=5) as api,
        Probe(live.mqtt) as probe,
    ):
        core = {
            t
            for node_set in (await admin.get("/nodes", headers={"Accept": "application/json"})).json()
            if node_set["module"] == "node-red"
            for t in node_set["types"]
        }
        used = {n["type"] for n in nodes} - {"tab"}
        assert used <= core, f"not Node-RED core nodes: {sorted(used - core)}"
        before = api_result(await api.get("/api/state", params={"jq": ".loadpoints[0]"}))
        await probe.subscribe("nodered/#")
        deployed = await admin.post("/flows", json=nodes, headers={"Node-RED-Deployment-Type": "full"})
        assert deployed.status_code == 204, deployed.text
        try:
            # stop at 80 % on weekdays: the limit is set at deploy
            await probe.wait_state("loadpoints/1/limitSoc", lambda v: v == expected_limit, timeout=30)
            # charge now when cheap: every price is below 1000
            await probe.wait_state("loadpoints/1/mode", lambda v: v == "now", timeout=30)

            # the PV surplus feed, over MQTT and HTTP
            raw = await probe.wait_value(
                "nodered/chargebus/surplus", lambda v: '"pv_w"' in v and '"home_w"' in v, 30
            )
            feed = json.loads(raw)
            assert feed["surplus_w"] == max(0, feed["pv_w"] - feed["home_w"])

            async def served() -> Any:
                answer = (await admin.get("/chargebus/surplus")).json()
                return answer if "pv_w" in answer else None

            served_feed = await wait_until(served, timeout=15)
            assert served_feed["surplus_w"] == max(0, served_feed["pv_w"] - served_feed["home_w"])

            # sessions to CSV, on the button
            assert (await admin.post(f"/inject/{SESSIONS_INJECT}")).status_code == 200
            await wait_until(csv_file.exists, timeout=15)
            text = await asyncio.to_thread(csv_file.read_text, encoding="utf-8")
            rows = list(csv.DictReader(io.StringIO(text)))
            sessions = api_result(await api.get("/api/sessions"))
            assert len(rows) == len(sessions)
            header = text.splitlines()[0]
            assert header == HEADER
            if rows:
                assert rows[0]["loadpoint"] == sessions[0]["loadpoint"]
        finally:
            await admin.post("/flows", json=[], headers={"Node-RED-Deployment-Type": "full"})
            await api.post(f"/api/loadpoints/1/mode/{before['mode']}")
            await api.post(f"/api/loadpoints/1/limitsoc/{before['limitSoc']}")
