"""Prometheus against the live demo: every service reports, the site and loadpoint figures are there, the
command latency histogram fills, and every metric the Grafana example dashboard queries exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import wait_until
from tests.integrations.conftest import Live

pytestmark = pytest.mark.e2e

DASHBOARD = Path(__file__).parents[2] / "examples" / "grafana-dashboard.json"
SERVICES = ("meter-reader", "charger-actuator", "optimizer", "tariff-fetcher", "gateway")


Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


async def scrape(http: httpx.AsyncClient) -> tuple[Samples, set[str]]:
    """Samples by name and label set, and every series name a query may use (also without samples yet)."""
    text = (await http.get("/metrics")).text
    out: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out, names


async def test_the_demo_exposes_its_health_and_figures(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=5) as http:
        # a mode change is a new decision: a command goes out now and its latency is observed
        mode = (await http.get("/api/state", params={"jq": ".loadpoints[0].mode"})).json()["result"]
        await http.post(f"/api/loadpoints/1/mode/{'now' if mode != 'now' else 'off'}")
        await http.post(f"/api/loadpoints/1/mode/{mode}")

        async def complete() -> tuple[Samples, set[str]] | None:
            samples, names = await scrape(http)
            latency = samples.get("chargebus_command_latency_seconds_count", {})
            up = {dict(k)["service"]: v for k, v in samples.get("chargebus_service_up", {}).items()}
            done = all(up.get(s) == 1 for s in SERVICES) and sum(latency.values()) >= 1
            return (samples, names) if done else None

        # the demo is another process: its next command shows up when it does
        samples, exposed = await wait_until(complete, timeout=60, interval=0.5)
    flows = {dict(k)["flow"] for k in samples["chargebus_site_power_watts"]}
    assert flows >= {"grid", "pv", "home", "battery"}
    assert samples["chargebus_loadpoint_charge_power_watts"]
    assert sum(samples["chargebus_service_bus_reconnects"].values()) == 0
    assert samples["chargebus_state_age_seconds"][()] < 60

    queried = set()
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\b(chargebus_[a-z0-9_]+)", target["expr"]))
    missing = sorted(q for q in queried if q not in exposed)
    assert missing == [], f"the dashboard queries metrics that do not exist: {missing}"
