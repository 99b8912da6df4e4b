"""Tariffs with their prices and carbon feeds with their intensities (page-number pagination), of every
site the caller may see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import Routes, time_filter
from services.gateway.fleet.deps import (
    Db,
    ExpandParam,
    Fleet,
    Render,
    expand_tree,
    numbered_response,
    require,
)
from services.gateway.fleet.ids import stable_id
from services.gateway.fleet.pagination import page_by_number, parse_page_size
from services.gateway.fleet.problems import not_found
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.sites import sites_of
from services.gateway.fleet.tariffs import CO2_USAGE, TariffView, intensity_json, price_json, rates_between

routes = Routes(tags=["Tariffs", "Carbon"])

TariffRead = Annotated[Principal, Depends(require("tariff:read"))]
PricesRead = Annotated[Principal, Depends(require("tariff:read", "tariff:prices:read"))]
CarbonRead = Annotated[Principal, Depends(require("carbon:read"))]


def _views(render: Renderer, principal: Principal, db: Db) -> list[TariffView]:
    views = [render.tariffs(site.id) for site in sites_of(db, principal.user_id)]
    return [v for v in views if v is not None]


def _tariff(render: Renderer, principal: Principal, db: Db, tariff_id: str) -> tuple[TariffView, str]:
    for view in _views(render, principal, db):
        usage = view.usage_of(tariff_id)
        if usage is not None:
            return view, usage
    raise not_found()


def _feed(render: Renderer, principal: Principal, db: Db, feed_id: str) -> TariffView:
    view = next((v for v in _views(render, principal, db) if v.carbon_feed_id() == feed_id), None)
    if view is None:
        raise not_found()
    return view


@routes.route("GET", "/tariffs")
def list_tariffs(
    request: Request,
    principal: TariffRead,
    db: Db,
    render: Render,
    page: str | None = None,
    page_size: str | None = None,
) -> JSONResponse:
    size = parse_page_size(page_size)
    bodies = [
        view.render_tariff(render.url, usage, {}, detail=False)
        for view in _views(render, principal, db)
        for usage in view.usages()
    ]
    bodies.sort(key=lambda body: (body["name"], body["site"]))
    items, previous, following = page_by_number(bodies, page, size)
    return numbered_response(request, items, previous, following)


@routes.route("GET", "/tariffs/{tariff_id}")
def get_tariff(
    tariff_id: str, principal: TariffRead, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, ["prices"])
    if "prices" in tree and "tariff:prices:read" not in principal.scopes:
        tree = {}
    view, usage = _tariff(render, principal, db, tariff_id)
    return view.render_tariff(render.url, usage, tree)


@routes.route("GET", "/tariffs/{tariff_id}/prices")
def list_prices(
    request: Request,
    tariff_id: str,
    principal: PricesRead,
    db: Db,
    render: Render,
    page: str | None = None,
    page_size: str | None = None,
    started_at__gte: str | None = None,
    started_at__lte: str | None = None,
) -> JSONResponse:
    view, usage = _tariff(render, principal, db, tariff_id)
    size = parse_page_size(page_size)
    gte, lte = (
        time_filter(started_at__gte, "started_at__gte"),
        time_filter(started_at__lte, "started_at__lte"),
    )
    series = view.series(usage)
    rates = rates_between(series.rates if series else [], gte, lte)
    items, previous, following = page_by_number(rates, page, size)
    return numbered_response(request, [price_json(r) for r in items], previous, following)


@routes.route("GET", "/carbon_feeds")
def list_carbon_feeds(request: Request, principal: CarbonRead, db: Db, render: Render) -> JSONResponse:
    body = [v.render_carbon_feed(render.url) for v in _views(render, principal, db) if v.carbon_feed_id()]
    return numbered_response(request, body, None, None)


@routes.route("GET", "/carbon_feeds/{feed_id}")
def get_carbon_feed(feed_id: str, principal: CarbonRead, db: Db, render: Render) -> dict[str, Any]:
    return _feed(render, principal, db, feed_id).render_carbon_feed(render.url)


@routes.route("GET", "/carbon_feeds/{feed_id}/carbon_intensities")
def list_intensities(
    request: Request,
    feed_id: str,
    principal: CarbonRead,
    db: Db,
    render: Render,
    fleet: Fleet,
    page: str | None = None,
    page_size: str | None = None,
    started_at__gte: str | None = None,
    started_at__lte: str | None = None,
) -> JSONResponse:
    view = _feed(render, principal, db, feed_id)
    size = parse_page_size(page_size)
    gte, lte = (
        time_filter(started_at__gte, "started_at__gte"),
        time_filter(started_at__lte, "started_at__lte"),
    )
    series = view.series(CO2_USAGE)
    rates = rates_between(series.rates if series else [], gte, lte)
    items, previous, following = page_by_number(rates, page, size)
    created = series.fetched_at if series else fleet.now()
    return numbered_response(request, [intensity_json(r, created) for r in items], previous, following)


__all__ = ["routes", "stable_id"]
