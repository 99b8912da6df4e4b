"""Tariffs with their prices and carbon feeds with their intensities (page-number pagination)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import Routes, time_filter
from services.gateway.fleet.deps import ExpandParam, Fleet, Render, expand_tree, numbered_response, require
from services.gateway.fleet.ids import stable_id
from services.gateway.fleet.pagination import page_by_number, parse_page_size
from services.gateway.fleet.problems import not_found
from services.gateway.fleet.tariffs import CO2_USAGE, intensity_json, price_json, rates_between

routes = Routes(tags=["Tariffs", "Carbon"])

TariffRead = Annotated[Principal, Depends(require("tariff:read"))]
PricesRead = Annotated[Principal, Depends(require("tariff:read", "tariff:prices:read"))]
CarbonRead = Annotated[Principal, Depends(require("carbon:read"))]


@routes.route("GET", "/tariffs")
def list_tariffs(
    request: Request, _: TariffRead, render: Render, page: str | None = None, page_size: str | None = None
) -> JSONResponse:
    size = parse_page_size(page_size)
    view = render.tariffs
    rows = sorted(view.usages(), key=lambda u: view.render_tariff(render.url, u, {}, detail=False)["name"])
    items, previous, following = page_by_number(rows, page, size)
    body = [view.render_tariff(render.url, u, {}, detail=False) for u in items]
    return numbered_response(request, body, previous, following)


def _usage(render: Any, tariff_id: str) -> str:
    usage: str | None = render.tariffs.usage_of(tariff_id)
    if usage is None:
        raise not_found()
    return usage


@routes.route("GET", "/tariffs/{tariff_id}")
def get_tariff(tariff_id: str, principal: TariffRead, render: Render, expand: ExpandParam) -> dict[str, Any]:
    tree = expand_tree(expand, ["prices"])
    if "prices" in tree and "tariff:prices:read" not in principal.scopes:
        tree = {}
    return render.tariffs.render_tariff(render.url, _usage(render, tariff_id), tree)


@routes.route("GET", "/tariffs/{tariff_id}/prices")
def list_prices(
    request: Request,
    tariff_id: str,
    _: PricesRead,
    render: Render,
    page: str | None = None,
    page_size: str | None = None,
    started_at__gte: str | None = None,
    started_at__lte: str | None = None,
) -> JSONResponse:
    usage = _usage(render, tariff_id)
    size = parse_page_size(page_size)
    gte, lte = (
        time_filter(started_at__gte, "started_at__gte"),
        time_filter(started_at__lte, "started_at__lte"),
    )
    series = render.tariffs.series(usage)
    rates = rates_between(series.rates if series else [], gte, lte)
    items, previous, following = page_by_number(rates, page, size)
    return numbered_response(request, [price_json(r) for r in items], previous, following)


def _feed(render: Any, feed_id: str) -> None:
    if render.tariffs.carbon_feed_id() != feed_id:
        raise not_found()


@routes.route("GET", "/carbon_feeds")
def list_carbon_feeds(request: Request, _: CarbonRead, render: Render) -> JSONResponse:
    feed = render.tariffs.carbon_feed_id()
    body = [render.tariffs.render_carbon_feed(render.url)] if feed else []
    return numbered_response(request, body, None, None)


@routes.route("GET", "/carbon_feeds/{feed_id}")
def get_carbon_feed(feed_id: str, _: CarbonRead, render: Render) -> dict[str, Any]:
    _feed(render, feed_id)
    return render.tariffs.render_carbon_feed(render.url)


@routes.route("GET", "/carbon_feeds/{feed_id}/carbon_intensities")
def list_intensities(
    request: Request,
    feed_id: str,
    _: CarbonRead,
    render: Render,
    fleet: Fleet,
    page: str | None = None,
    page_size: str | None = None,
    started_at__gte: str | None = None,
    started_at__lte: str | None = None,
) -> JSONResponse:
    _feed(render, feed_id)
    size = parse_page_size(page_size)
    gte, lte = (
        time_filter(started_at__gte, "started_at__gte"),
        time_filter(started_at__lte, "started_at__lte"),
    )
    series = render.tariffs.series(CO2_USAGE)
    rates = rates_between(series.rates if series else [], gte, lte)
    items, previous, following = page_by_number(rates, page, size)
    created = series.fetched_at if series else fleet.now()
    return numbered_response(request, [intensity_json(r, created) for r in items], previous, following)


__all__ = ["routes", "stable_id"]
