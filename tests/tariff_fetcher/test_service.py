"""The service over the real broker: retained series, evcc site keys, requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.tariff_fetcher.service import run, run_fetcher
from shared.bus import Bus
from shared.config import Config, MqttSettings, parse_config
from shared.messages import RateSeries
from tests.support.probe import Probe
from tests.tariff_fetcher.support import Clock, Upstream, serve_fixture


def config_for(mqtt: MqttSettings, tariffs: Mapping[str, Any]) -> Config:
    config = parse_config({"tariffs": tariffs})
    return config.model_copy(update={"mqtt": mqtt})


@asynccontextmanager
async def running(main: Awaitable[None], stop: asyncio.Event) -> AsyncIterator[None]:
    task = asyncio.ensure_future(main)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_fixed_tariff_publishes_series_and_site_keys(
    mqtt_settings: MqttSettings, probe: Probe, tmp_path: Path
) -> None:
    tariffs = {
        "grid": {"type": "fixed", "price": 0.3},
        "feedin": {"type": "fixed", "price": 0.08},
        "cache_file": None,
    }
    stop = asyncio.Event()
    async with running(run(config_for(mqtt_settings, tariffs), stop), stop):
        await probe.wait_state("site/tariffGrid", lambda v: v == "0.3")
        await probe.wait_state("site/tariffFeedIn", lambda v: v == "0.08")
        await probe.wait_state("site/smartCostType", lambda v: v == "pricestatic")
        assert probe.state("site/smartCostAvailable") == "false"
        topic = f"{mqtt_settings.internal}/tariffs/grid"
        payload = await probe.wait_value(topic, lambda v: bool(v))
        series = RateSeries.model_validate_json(payload)
        assert series.type == "pricestatic" and series.currency == "EUR" and not series.outdated
        assert series.rates and {r.value for r in series.rates} == {0.3}
        await probe.wait_value(f"{mqtt_settings.internal}/tariffs/planner", lambda v: bool(v))
        count = int(await probe.wait_state("site/forecast/grid", lambda v: v.isdigit() and int(v) > 0))
        await probe.wait_state(f"site/forecast/grid/{count}/3", lambda v: v == "0.3")
        # the planner list is the last thing published; stopping mid-publish makes the shared bus's
        # disconnect wait for aiomqtt's timeout (reported), so let it finish
        await probe.wait_state(f"site/forecast/planner/{count}/3", lambda v: v == "0.3")


async def test_dynamic_tariff_over_http_answers_requests(mqtt_settings: MqttSettings, probe: Probe) -> None:
    tariffs = {"grid": {"type": "awattar"}, "cache_file": None}
    clock = Clock(datetime(2026, 3, 29, 8, 5, tzinfo=UTC))
    upstream = Upstream(serve_fixture("awattar-2026-03-29.json"))
    stop = asyncio.Event()
    main = run_fetcher(config_for(mqtt_settings, tariffs), stop, clock=clock, transport=upstream.transport)
    async with running(main, stop), Bus(mqtt_settings, "gateway") as gateway:
        await probe.wait_state("site/smartCostType", lambda v: v == "priceforecast")
        grid = json.loads(
            await probe.wait_value(f"{mqtt_settings.internal}/tariffs/grid", lambda v: '"rates":[{' in v)
        )
        assert grid["rates"][0]["start"] == "2026-03-29T08:00:00Z"
        assert probe.state("site/smartCostAvailable") == "true"
        await gateway.wait_connected(5)
        reply = await gateway.request("tariff-fetcher", "tariff/grid")
        assert reply.ok and reply.value["rates"] == grid["rates"]
        missing = await gateway.request("tariff-fetcher", "tariff/co2")
        assert not missing.ok and missing.code == 404


async def test_shorter_forecast_erases_the_indices_it_no_longer_has(
    mqtt_settings: MqttSettings, probe: Probe, tmp_path: Path
) -> None:
    from services.tariff_fetcher.service import Publisher, TariffFetcher
    from tests.tariff_fetcher.support import BERLIN

    tariffs = parse_config({"tariffs": {"grid": {"type": "awattar"}, "cache_file": None}}).tariffs
    clock = Clock(datetime(2026, 3, 29, 8, 5, tzinfo=UTC))
    fetcher = TariffFetcher(tariffs, BERLIN, clock=clock)
    upstream = Upstream(serve_fixture("awattar-2026-03-29.json"))
    async with Bus(mqtt_settings, "tariff-fetcher") as bus, upstream.client() as client:
        publisher = Publisher(bus)
        await fetcher.refresh_due(client)
        await publisher.publish(fetcher)
        first = int(await probe.wait_state("site/forecast/grid", lambda v: v.isdigit() and int(v) > 0))
        await probe.wait_state(f"site/forecast/grid/{first}/3", lambda v: v != "")
        clock.advance(hours=2)
        await fetcher.refresh_due(client)
        await publisher.publish(fetcher)
        second = int(await probe.wait_state("site/forecast/grid", lambda v: v.isdigit() and int(v) < first))
        await probe.wait_state(f"site/forecast/grid/{first}/3", lambda v: v == "")
        assert probe.state(f"site/forecast/grid/{second}/3") not in (None, "")
        await probe.wait_state("site/forecast/planner", lambda v: v == str(second))


async def test_restart_with_fewer_tariffs_erases_the_old_retained_keys(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    root, internal = mqtt_settings.topic, mqtt_settings.internal
    leftovers = {
        f"{root}/site/tariffCo2": "412",
        f"{root}/site/forecast/co2": "1",
        f"{root}/site/forecast/co2/1/3": "412",
        f"{internal}/tariffs/co2": '{"usage":"co2"}',
    }
    for topic, payload in leftovers.items():
        await probe.publish(topic, payload, retain=True)
    for topic in leftovers:
        await probe.wait_value(topic, lambda v: v != "")
    stop = asyncio.Event()
    tariffs = {"grid": {"type": "fixed", "price": 0.3}, "cache_file": None}
    async with running(run(config_for(mqtt_settings, tariffs), stop), stop):
        await probe.wait_state("site/tariffGrid", lambda v: v == "0.3")
        for topic in leftovers:
            await probe.wait_value(topic, lambda v: v == "")
        count = await probe.wait_state("site/forecast/planner", lambda v: v.isdigit() and int(v) > 0)
        await probe.wait_state(f"site/forecast/planner/{count}/3", lambda v: v == "0.3")


async def test_provider_that_never_answers_times_out_and_says_so(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    """A real local HTTP endpoint that accepts and stays silent: the configured timeout ends the fetch."""
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tariffs = {
        "grid": {"type": "awattar", "url": f"http://127.0.0.1:{port}/v1/marketdata"},
        "timeout_s": 0.3,
        "cache_file": None,
    }
    stop = asyncio.Event()
    try:
        async with running(run(config_for(mqtt_settings, tariffs), stop), stop):
            payload = await probe.wait_value(
                f"{mqtt_settings.internal}/tariffs/grid", lambda v: "timed out" in v
            )
            series = RateSeries.model_validate_json(payload)
            assert series.outdated and series.rates == [] and accepted.is_set()
            assert "awattar: request timed out" in (series.error or "")
            await probe.wait_state("site/smartCostType", lambda v: v == "priceforecast")
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_new_prices_are_not_held_up_behind_the_forecast_keys(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    """A refresh's prices reach the bus while the first publish's thousands of forecast keys go out.

    The publisher listens to its own topics only to find retained leftovers. It used to do so at QoS 1, so
    every key it published came back as a QoS 1 message it had to acknowledge; with Nagle on the client's
    socket each following publish then waited for the broker's delayed ACK (~40 ms): some 3000 keys took
    minutes, and prices fetched meanwhile stayed queued behind them (seen on the demo stack)."""
    price = {"value": 100.0}  # EUR/MWh

    def energy_charts(request: httpx.Request) -> httpx.Response:
        now = datetime.now(UTC)
        start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        starts = [int((start + timedelta(minutes=15 * i)).timestamp()) for i in range(96)]
        return httpx.Response(200, json={"unix_seconds": starts, "price": [price["value"]] * len(starts)})

    tariffs = {
        "grid": {
            "type": "custom",
            "url": "https://api.energy-charts.info/price?bzn=DE-LU",
            "jq": "[.unix_seconds, .price] | transpose | map({start: .[0], value: .[1]})",
            "scale": 0.001,
            "slot_minutes": 15,
        },
        "feedin": {"type": "fixed", "price": 0.08},
        "refresh_s": 1,
        "cache_file": None,
    }
    topic = f"{mqtt_settings.internal}/tariffs/grid"

    def first_value(payload: str) -> float | None:
        rates = json.loads(payload).get("rates") if payload else None
        return float(rates[0]["value"]) if rates else None

    stop = asyncio.Event()
    upstream = Upstream(energy_charts)
    main = run_fetcher(config_for(mqtt_settings, tariffs), stop, transport=upstream.transport)
    async with running(main, stop):
        await probe.wait_value(topic, lambda v: first_value(v) == 0.1)
        price["value"] = 200.0
        await probe.wait_value(topic, lambda v: first_value(v) == 0.2)
        # ... and the forecast keys all went out too
        count = await probe.wait_state("site/forecast/planner", lambda v: v.isdigit() and int(v) > 0)
        await probe.wait_state(f"site/forecast/planner/{count}/3", lambda v: v == "0.2")
