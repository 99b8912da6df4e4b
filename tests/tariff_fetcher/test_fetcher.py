"""Fetch scheduling and failure handling: a failed fetch never changes a still-valid series."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from services.tariff_fetcher.service import TariffFetcher
from shared.config import parse_config
from shared.config_tariffs import TariffsConfig
from shared.messages import Request, TariffUsage
from tests.tariff_fetcher.support import (
    BERLIN,
    Clock,
    Upstream,
    fixture_json,
    refuse,
    serve_fixture,
    serve_text,
    time_out,
)

START = datetime(2026, 3, 29, 8, 5, tzinfo=UTC)  # 10:05 in Berlin on the spring DST day
AWATTAR = "awattar-2026-03-29.json"


def tariffs(tmp_path: Path, **extra: Any) -> TariffsConfig:
    data = {"grid": {"type": "awattar"}, "cache_file": str(tmp_path / "cache.json"), **extra}
    return parse_config({"tariffs": data}).tariffs


def grid_series(fetcher: TariffFetcher) -> Any:
    return fetcher.series()[TariffUsage.GRID]


async def fetch_once(fetcher: TariffFetcher, upstream: Upstream) -> None:
    async with upstream.client() as client:
        await fetcher.refresh_due(client)


async def test_first_fetch_publishes_from_the_current_slot_in_15_minute_slots(tmp_path: Path) -> None:
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    await fetch_once(fetcher, Upstream(serve_fixture(AWATTAR)))
    series = grid_series(fetcher)
    assert not series.outdated and series.error is None
    assert series.rates[0].start == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert all(r.end - r.start == timedelta(minutes=15) for r in series.rates)
    assert series.rates[-1].end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # tomorrow not published yet


def http_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="<html>Service Unavailable</html>")


FAILURES: dict[str, tuple[Callable[[httpx.Request], httpx.Response], str]] = {
    "http 503": (http_error, "awattar: HTTP 503"),
    "http 401": (lambda r: httpx.Response(401, json={"error": "unauthorized"}), "awattar: HTTP 401"),
    "not json": (serve_text("<html>maintenance</html>"), "awattar: malformed response: not JSON"),
    "wrong shape": (
        serve_text(json.dumps({"data": [{"start_timestamp": 1}]})),
        "awattar: malformed response",
    ),
    "timeout": (time_out, "awattar: request timed out"),
    "refused": (refuse, "awattar: request failed: ConnectError"),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_failed_fetch_logs_error_and_keeps_the_valid_series(tmp_path: Path, case: str) -> None:
    responder, message = FAILURES[case]
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path, retry_s=30), BERLIN, clock=clock)
    upstream = Upstream(serve_fixture(AWATTAR))
    await fetch_once(fetcher, upstream)
    before = grid_series(fetcher).rates

    clock.advance(hours=1)
    upstream.responder = responder
    with capture_logs() as logs:
        await fetch_once(fetcher, upstream)
    failed = [e for e in logs if e["event"] == "tariff fetch failed"]
    assert failed and failed[0]["log_level"] == "error" and message in failed[0]["error"]
    after = grid_series(fetcher)
    assert not after.outdated
    assert message in (after.error or "")
    assert after.rates == [r for r in before if r.end > clock.now]  # same numbers, only the past dropped


async def test_retries_back_off_exponentially_then_recover(tmp_path: Path) -> None:
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path, retry_s=30, refresh_s=3600), BERLIN, clock=clock)
    worker = fetcher.workers[TariffUsage.GRID]
    upstream = Upstream(http_error)
    delays = []
    for _ in range(4):
        await fetch_once(fetcher, upstream)
        delays.append((worker.next_fetch - clock.now).total_seconds())
        clock.now = worker.next_fetch
    assert delays == [30, 60, 120, 240]
    upstream.responder = serve_fixture(AWATTAR)
    await fetch_once(fetcher, upstream)
    assert (worker.next_fetch - clock.now).total_seconds() == 3600
    assert grid_series(fetcher).error is None


async def test_series_goes_outdated_two_hours_after_the_last_success(tmp_path: Path) -> None:
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    upstream = Upstream(serve_fixture(AWATTAR))
    await fetch_once(fetcher, upstream)
    upstream.responder = http_error
    clock.advance(hours=1, minutes=59)
    await fetch_once(fetcher, upstream)
    assert not grid_series(fetcher).outdated
    clock.advance(minutes=2)
    with capture_logs() as logs:
        series = grid_series(fetcher)
    assert series.outdated and series.rates == [] and "HTTP 503" in (series.error or "")
    assert any(e["event"] == "tariff outdated, values withdrawn" for e in logs)
    site = fetcher.site(fetcher.series())
    assert site.tariffGrid is None and "tariffGrid" in site.model_fields_set  # erased, not stale
    reply = await fetcher.handle_request(Request(id="1", reply_to="r", key="tariff/grid"))
    assert not reply.ok and reply.code == 404


async def test_new_data_is_merged_with_still_valid_old_slots(tmp_path: Path) -> None:
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    upstream = Upstream(serve_fixture(AWATTAR))
    await fetch_once(fetcher, upstream)
    payload = fixture_json(AWATTAR)
    later = {**payload, "data": payload["data"][-3:]}  # the provider now only returns the evening
    for item in later["data"]:
        item["marketprice"] += 100
    clock.advance(hours=1)
    upstream.responder = serve_text(json.dumps(later))
    await fetch_once(fetcher, upstream)
    rates = grid_series(fetcher).rates
    assert rates[0].start == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)  # the afternoon is still there
    assert rates[-1].value == pytest.approx(payload["data"][-1]["marketprice"] / 1000)


async def test_restart_serves_the_cached_series_before_the_first_fetch(tmp_path: Path) -> None:
    clock = Clock(START)
    first = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    await fetch_once(first, Upstream(serve_fixture(AWATTAR)))
    clock.advance(minutes=30)
    restarted = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    cached = grid_series(restarted)
    assert not cached.outdated
    assert cached.rates == grid_series(first).rates
    # a different provider configuration never serves the old provider's prices
    other = TariffFetcher(tariffs(tmp_path, grid={"type": "awattar", "charges": 0.2}), BERLIN, clock=clock)
    assert grid_series(other).outdated


async def test_unreadable_cache_is_ignored_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "cache.json").write_text("{not json", encoding="utf-8")
    with capture_logs() as logs:
        fetcher = TariffFetcher(tariffs(tmp_path), BERLIN, clock=Clock(START))
    assert any(e["event"] == "tariff cache ignored" for e in logs)
    series = grid_series(fetcher)
    assert series.outdated and series.error == "no data yet"


async def test_requests_answer_rates_or_404(tmp_path: Path) -> None:
    clock = Clock(START)
    fetcher = TariffFetcher(tariffs(tmp_path), BERLIN, clock=clock)
    await fetch_once(fetcher, Upstream(serve_fixture(AWATTAR)))
    ok = await fetcher.handle_request(Request(id="1", reply_to="r", key="tariff/grid"))
    assert ok.ok and ok.value["rates"][0]["start"] == "2026-03-29T08:00:00Z"
    planner = await fetcher.handle_request(Request(id="2", reply_to="r", key="tariff/planner"))
    assert planner.ok and planner.value == ok.value  # a dynamic grid tariff is the planner's
    for key in ("tariff/co2", "tariff/temperature", "loadpoints/1/mode"):
        reply = await fetcher.handle_request(Request(id="3", reply_to="r", key=key))
        assert not reply.ok and reply.code == 404, key


async def test_solar_planes_are_summed(tmp_path: Path) -> None:
    plane = {"type": "forecast-solar", "lat": 49.3, "lon": 8.8, "dec": 30, "az": -90, "kwp": 3}
    config = tariffs(tmp_path, grid=None, solar=[plane, {**plane, "az": 90}])
    clock = Clock(datetime(2026, 10, 25, 9, 0, tzinfo=UTC))
    fetcher = TariffFetcher(config, BERLIN, clock=clock)
    upstream = Upstream(serve_fixture("forecast-solar-2026-10-25.json"))
    await fetch_once(fetcher, upstream)
    assert len(upstream.requests) == 2
    solar = fetcher.series()[TariffUsage.SOLAR]
    single = TariffFetcher(tariffs(tmp_path, grid=None, solar=plane, cache_file=None), BERLIN, clock=clock)
    await fetch_once(single, Upstream(serve_fixture("forecast-solar-2026-10-25.json")))
    one = single.series()[TariffUsage.SOLAR]
    assert solar.rates[0].start == one.rates[0].start  # solar keeps the whole day
    assert [r.value for r in solar.rates] == pytest.approx([2 * r.value for r in one.rates])
    site = fetcher.site(fetcher.series())
    assert site.tariffSolar is not None and site.tariffSolar > 0
    assert site.forecast is not None and site.forecast.solar is not None
    assert site.forecast.solar.today is not None and site.forecast.solar.today.yield_


async def test_unusable_provider_config_is_reported_and_others_keep_working(tmp_path: Path) -> None:
    with capture_logs() as logs:
        fetcher = TariffFetcher(
            tariffs(tmp_path, feedin={"type": "octopus", "product": "AGILE-24-10-01"}),
            BERLIN,
            clock=Clock(START),
        )
    assert any(e["event"] == "tariff not usable" and e["usage"] == "feedin" for e in logs)
    await fetch_once(fetcher, Upstream(serve_fixture(AWATTAR)))
    series = fetcher.series()
    assert series[TariffUsage.FEEDIN].outdated and "product and region" in (
        series[TariffUsage.FEEDIN].error or ""
    )
    assert series[TariffUsage.GRID].rates
