"""Each provider's parser and HTTP edge against recorded payloads in the provider's own format."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from services.tariff_fetcher.providers.awattar import AwattarProvider, parse_awattar
from services.tariff_fetcher.providers.base import Context, ProviderError
from services.tariff_fetcher.providers.custom import CustomProvider, parse_custom
from services.tariff_fetcher.providers.energy_charts import EnergyChartsProvider, parse_energy_charts
from services.tariff_fetcher.providers.entsoe import EntsoeProvider, parse_entsoe
from services.tariff_fetcher.providers.forecast_solar import ForecastSolarProvider, local_samples
from services.tariff_fetcher.providers.gruenstromindex import GruenstromindexProvider
from services.tariff_fetcher.providers.octopus import (
    OctopusProvider,
    parse_octopus,
    product_from_tariff_code,
    tariff_code_from_account,
)
from services.tariff_fetcher.providers.tibber import TibberProvider, parse_tibber
from services.tariff_fetcher.slots import SLOT, rate_at
from shared.config_tariffs import (
    AwattarTariff,
    CustomTariff,
    EnergyChartsTariff,
    EntsoeTariff,
    ForecastSolarTariff,
    GruenstromindexTariff,
    OctopusTariff,
    TibberTariff,
)
from shared.messages import TariffType
from tests.tariff_fetcher.support import (
    BERLIN,
    Upstream,
    fixture_json,
    fixture_text,
    serve_fixture,
    serve_text,
)

CONTEXT = Context(timezone=BERLIN)
SPRING = datetime(2026, 3, 29, 10, tzinfo=UTC)
AUTUMN = datetime(2026, 10, 25, 10, tzinfo=UTC)


def local_day(day: datetime) -> tuple[datetime, datetime]:
    start = day.astimezone(BERLIN).replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- aWATTar ----------------------------------------------------------------------------------------------


async def test_awattar_dst_day_has_23_hours_in_kwh_with_charges_and_tax() -> None:
    payload = fixture_json("awattar-2026-03-29.json")
    upstream = Upstream(serve_fixture("awattar-2026-03-29.json"))
    config = AwattarTariff(type="awattar", region="AT", charges=0.1, tax=0.2, url=None)
    async with upstream.client() as client:
        rates = await AwattarProvider(config, CONTEXT).fetch(client, SPRING)
    assert upstream.requests[0].url.host == "api.awattar.at"
    start_ms = int(upstream.requests[0].url.params["start"])
    assert start_ms == int((SPRING - timedelta(hours=2)).timestamp() * 1000)
    assert len(rates) == 23  # 2026-03-29 in Berlin: 02:00 does not exist
    assert (rates[0].start, rates[-1].end) == local_day(SPRING)
    first = payload["data"][0]["marketprice"]
    assert rates[0].value == pytest.approx((first / 1000 + 0.1) * 1.2)


def test_awattar_malformed_body_is_a_clear_error() -> None:
    with pytest.raises(ProviderError, match="awattar: malformed response"):
        parse_awattar({"data": [{"start_timestamp": "soon"}]})


# --- Tibber -----------------------------------------------------------------------------------------------


async def test_tibber_quarter_hours_on_autumn_dst_day_without_tomorrow() -> None:
    payload = fixture_json("tibber-2026-10-25.json")
    upstream = Upstream(serve_fixture("tibber-2026-10-25.json"))
    config = TibberTariff(type="tibber", token=SecretStr("t0ken"))
    async with upstream.client() as client:
        rates = await TibberProvider(config, CONTEXT).fetch(client, AUTUMN)
    sent = upstream.requests[0]
    assert sent.method == "POST" and sent.headers["authorization"] == "Bearer t0ken"
    assert "QUARTER_HOURLY" in json.loads(sent.content)["query"]
    assert len(rates) == 100  # 25 hours of quarters
    assert all(r.end - r.start == SLOT for r in rates)
    assert all(b.start == a.end for a, b in itertools.pairwise(rates))  # no gap across 02:00–03:00 twice
    assert (rates[0].start, rates[-1].end) == local_day(AUTUMN)
    today = payload["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfo"]["today"]
    assert rates[0].value == today[0]["total"]  # Tibber's total unless charges/tax/formula are set


async def test_tibber_with_charges_uses_energy_and_home_id_as_variable() -> None:
    payload = fixture_json("tibber-2026-10-25.json")
    home = payload["data"]["viewer"]["homes"][0]
    by_id = {"data": {"viewer": {"home": home}}}
    upstream = Upstream(serve_text(json.dumps(by_id)))
    config = TibberTariff(type="tibber", token=SecretStr("x"), home_id=home["id"], charges=0.2)
    async with upstream.client() as client:
        rates = await TibberProvider(config, CONTEXT).fetch(client, AUTUMN)
    assert json.loads(upstream.requests[0].content)["variables"] == {"id": home["id"]}
    first = home["currentSubscription"]["priceInfo"]["today"][0]
    assert rates[0].value == pytest.approx(first["energy"] + 0.2)


def test_tibber_graphql_error_is_reported() -> None:
    with pytest.raises(ProviderError, match="tibber: API error: invalid token"):
        parse_tibber({"errors": [{"message": "invalid token"}], "data": None})


# --- Octopus ----------------------------------------------------------------------------------------------


async def test_octopus_product_and_region_in_gbp_sorted() -> None:
    payload = fixture_json("octopus-agile.json")
    upstream = Upstream(serve_fixture("octopus-agile.json"))
    config = OctopusTariff(type="octopus", product="AGILE-24-10-01", region="c")
    async with upstream.client() as client:
        rates = await OctopusProvider(config, CONTEXT).fetch(client, SPRING)
    assert upstream.requests[0].url.path == (
        "/v1/products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standard-unit-rates/"
    )
    newest = payload["results"][0]
    match = [r for r in rates if r.start == datetime.fromisoformat(newest["valid_from"])]
    assert match and match[0].value == pytest.approx(newest["value_inc_vat"] / 100)


async def test_octopus_api_key_finds_the_current_agile_agreement() -> None:
    account = fixture_json("octopus-account.json")
    assert tariff_code_from_account(account, SPRING) == "E-1R-AGILE-24-10-01-C"
    assert tariff_code_from_account(account, SPRING, export=True) == "E-1R-OUTGOING-VAR-24-10-26-C"
    assert product_from_tariff_code("E-1R-OUTGOING-VAR-24-10-26-C") == "OUTGOING-VAR-24-10-26"

    def route(request: httpx.Request) -> httpx.Response:
        name = "octopus-account.json" if "/accounts/" in request.url.path else "octopus-agile.json"
        return httpx.Response(200, text=fixture_text(name))

    upstream = Upstream(route)
    config = OctopusTariff(type="octopus", api_key=SecretStr("sk_live_x"), account="A-1234ABCD")
    async with upstream.client() as client:
        rates = await OctopusProvider(config, CONTEXT).fetch(client, SPRING)
    assert upstream.requests[0].headers["authorization"].startswith("Basic ")
    assert "E-1R-AGILE-24-10-01-C" in upstream.requests[1].url.path
    assert len(rates) == len(fixture_json("octopus-agile.json")["results"])


def test_octopus_payment_method_filter_and_open_ended_rate() -> None:
    payload = {
        "results": [
            {"value_inc_vat": 30.0, "valid_from": "2026-03-01T00:00:00Z", "valid_to": None,
             "payment_method": "DIRECT_DEBIT"},
            {"value_inc_vat": 31.5, "valid_from": "2026-03-01T00:00:00Z", "valid_to": None,
             "payment_method": "NON_DIRECT_DEBIT"},
        ]
    }  # fmt: skip
    (dd,) = parse_octopus(payload, direct_debit=True)
    (other,) = parse_octopus(payload, direct_debit=False)
    assert (dd.value, other.value) == (0.30, 0.315)
    assert dd.end - dd.start == timedelta(days=365)


def test_octopus_needs_product_or_account() -> None:
    with pytest.raises(ValueError, match="product and region"):
        OctopusProvider(OctopusTariff(type="octopus", product="AGILE-24-10-01"), CONTEXT)


# --- ENTSO-E ----------------------------------------------------------------------------------------------


async def test_entsoe_prefers_quarter_hours_fills_a03_gaps_on_spring_dst_day() -> None:
    upstream = Upstream(serve_fixture("entsoe-2026-03-29.xml", "text/xml"))
    config = EntsoeTariff(type="entsoe", security_token=SecretStr("tok"), domain="DE-LU")
    async with upstream.client() as client:
        rates = await EntsoeProvider(config, CONTEXT).fetch(client, SPRING)
    params = upstream.requests[0].url.params
    assert params["in_Domain"] == params["out_Domain"] == "10Y1001A1001A82H"
    assert params["documentType"] == "A44" and params["periodStart"] == "202603291000"
    assert len(rates) == 92
    assert (rates[0].start, rates[-1].end) == local_day(SPRING)
    # the quarter-hour series (recorded 0.50 €/MWh above the hourly one) wins everywhere
    xml = fixture_text("entsoe-2026-03-29.xml")
    quarter_block = xml.split("<resolution>PT15M</resolution>")[1]
    fourth = float(quarter_block.split("<position>4</position>")[1].split("<price.amount>")[1].split("<")[0])
    assert rates[3].value == pytest.approx(fourth / 1000)
    assert rates[4].value == rates[5].value == rates[3].value  # positions 5 and 6 missing → repeat


def test_entsoe_acknowledgement_says_why_there_are_no_prices() -> None:
    with pytest.raises(ProviderError, match="entsoe: no prices: No matching data found"):
        parse_entsoe(fixture_text("entsoe-no-data.xml"))


def test_entsoe_broken_xml_is_a_clear_error() -> None:
    with pytest.raises(ProviderError, match="entsoe: malformed response"):
        parse_entsoe("<Publication_MarketDocument><TimeSeries>")


# --- energy-charts ----------------------------------------------------------------------------------------


async def test_energy_charts_quarter_hours_on_autumn_dst_day_skip_unknown_prices() -> None:
    payload = fixture_json("energy-charts-2026-10-25.json")
    upstream = Upstream(serve_fixture("energy-charts-2026-10-25.json"))
    config = EnergyChartsTariff(type="energy-charts", bzn="DE-LU", tax=0.19)
    async with upstream.client() as client:
        rates = await EnergyChartsProvider(config, CONTEXT).fetch(client, AUTUMN)
    assert upstream.requests[0].url.params["bzn"] == "DE-LU"
    assert upstream.requests[0].url.params["start"] == "2026-10-25"
    assert len(rates) == 100 - 4  # the last four quarters are null
    assert rates[0].value == pytest.approx(payload["price"][0] / 1000 * 1.19)


def test_energy_charts_length_mismatch_is_malformed() -> None:
    with pytest.raises(ProviderError, match="energy-charts: malformed"):
        parse_energy_charts({"unix_seconds": [1, 2], "price": [1.0]})


# --- GrünstromIndex ---------------------------------------------------------------------------------------


async def test_gruenstromindex_hourly_co2() -> None:
    payload = fixture_json("gruenstromindex.json")
    upstream = Upstream(serve_fixture("gruenstromindex.json"))
    provider = GruenstromindexProvider(GruenstromindexTariff(type="gruenstromindex", zip="69256"), CONTEXT)
    async with upstream.client() as client:
        rates = await provider.fetch(client, SPRING)
    assert provider.tariff_type is TariffType.CO2
    assert upstream.requests[0].url.params["zip"] == "69256"
    assert len(rates) == len(payload["forecast"])
    assert rates[0].value == payload["forecast"][0]["co2_g_standard"]
    assert rates[0].end - rates[0].start == timedelta(hours=1)


# --- forecast.solar ---------------------------------------------------------------------------------------


async def test_forecast_solar_interpolates_quarter_hours_from_local_samples() -> None:
    payload = fixture_json("forecast-solar-2026-10-25.json")
    upstream = Upstream(serve_fixture("forecast-solar-2026-10-25.json"))
    config = ForecastSolarTariff(type="forecast-solar", lat=49.3, lon=8.8, dec=30, az=0, kwp=6.2)
    async with upstream.client() as client:
        rates = await ForecastSolarProvider(config, CONTEXT).fetch(client, AUTUMN)
    assert upstream.requests[0].url.path == "/estimate/49.3/8.8/30/0/6.2"
    noon = payload["result"]["watts"]["2026-10-25 12:00:00"]
    one = payload["result"]["watts"]["2026-10-25 13:00:00"]
    # 12:00 local is 11:00 UTC after the clocks went back; the 12:00–12:15 slot's middle is 12:07:30
    slot = rate_at(rates, datetime(2026, 10, 25, 11, 5, tzinfo=UTC))
    assert slot is not None and slot.value == pytest.approx(noon + (one - noon) * 7.5 / 60)
    assert all(r.end - r.start == SLOT for r in rates)
    night = rate_at(rates, datetime(2026, 10, 25, 23, 0, tzinfo=UTC))
    assert night is not None and night.value == 0


def test_repeated_wall_time_when_clocks_go_back_is_the_later_instant() -> None:
    # 02:45 summer time, then 02:15 again — now winter time — then 03:30 winter time
    samples = local_samples(
        {"2026-10-25 02:45:00": 1, "2026-10-25 02:15:00": 2, "2026-10-25 03:30:00": 3}, BERLIN
    )
    assert [t.isoformat() for t, _ in samples] == [
        "2026-10-25T00:45:00+00:00",
        "2026-10-25T01:15:00+00:00",
        "2026-10-25T02:30:00+00:00",
    ]


# --- custom http + jq -------------------------------------------------------------------------------------


async def test_custom_jq_turns_any_json_into_rates() -> None:
    payload = fixture_json("energy-charts-2026-10-25.json")
    upstream = Upstream(serve_fixture("energy-charts-2026-10-25.json"))
    config = CustomTariff(
        type="custom",
        url="https://api.energy-charts.info/price?bzn=DE-LU",
        jq="[.unix_seconds, .price] | transpose | map({start: .[0], value: .[1]})",
        scale=0.001,
        charges=0.1,
        headers={"Accept": "application/json"},
        token=SecretStr("abc"),
    )
    context = Context(timezone=BERLIN)
    provider = CustomProvider(config, context)
    try:
        async with upstream.client() as client:
            rates = await provider.fetch(client, AUTUMN)
    finally:
        await context.jq.aclose()
    assert upstream.requests[0].headers["authorization"] == "Bearer abc"
    assert provider.tariff_type is TariffType.PRICE_FORECAST
    assert rates[0].end - rates[0].start == SLOT  # end = next start
    assert rates[0].value == pytest.approx(payload["price"][0] / 1000 + 0.1)
    assert len(rates) == 96  # nulls skipped


def test_custom_jq_must_produce_a_list() -> None:
    with pytest.raises(ProviderError, match="custom: malformed response"):
        parse_custom(1)
    with pytest.raises(ValueError, match="does not compile"):
        CustomTariff(type="custom", url="http://x", jq="map(")
