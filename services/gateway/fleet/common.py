"""Small helpers shared by the route modules: slash-tolerant registration, ID-keyed paging, lookups."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter

from services.gateway.fleet.pagination import Page, PageRequest, paginate, parse_timestamp, position_by_key
from services.gateway.fleet.problems import validation_failed

T = TypeVar("T")


def route(router: APIRouter, method: str, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register ``path`` and ``path/`` (the spec's URLs use both forms; no redirects for API clients)."""

    def decorator(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=[method], **kwargs)
        router.add_api_route(path + "/", endpoint, methods=[method], include_in_schema=False, **kwargs)
        return endpoint

    return decorator


def page_ascending(rows: Sequence[T], request: PageRequest, id_of: Callable[[T], str]) -> Page[T]:
    ordered = sorted(rows, key=id_of)
    ids = [id_of(r) for r in ordered]
    return paginate(ordered, request, cursor_of=id_of, position=lambda c: bisect.bisect_left(ids, c))


def page_descending(rows: Sequence[T], request: PageRequest, id_of: Callable[[T], str]) -> Page[T]:
    """Newest first (IDs are ULIDs, so descending ID = newest first)."""
    ordered = sorted(rows, key=id_of, reverse=True)
    ids = [id_of(r) for r in ordered]
    return paginate(ordered, request, cursor_of=id_of, position=position_by_key(ids, True, lambda c: c))


def last_segment(reference: str) -> str:
    """The ID at the end of a resource URL (or the ID itself)."""
    return reference.strip().rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def time_filter(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    parsed = parse_timestamp(raw)
    if parsed is None:
        raise validation_failed({name: ["Enter a valid date/time with a time zone."]}, "filter")
    return parsed


def int_filter(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise validation_failed({name: ["Enter a whole number."]}, "filter") from None


def bool_filter(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise validation_failed({name: ["Enter true or false."]}, "filter")
