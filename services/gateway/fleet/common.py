"""Small helpers shared by the route modules: the route table, ID-keyed paging, filters."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter
from sqlmodel import Session, col

from services.gateway.errors import validation_failed
from services.gateway.fleet.pagination import Page, PageRequest, paginate, parse_timestamp, position_by_key

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    method: str
    path: str
    endpoint: Callable[..., Any]
    options: dict[str, Any]


@dataclass
class Routes:
    """The routes of one module, declared at import and installed by ``build_router`` on a router bound
    to one fleet context (so several apps, or several contexts, never share route objects)."""

    tags: list[str] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)

    def route(self, method: str, path: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Register ``path`` and ``path/`` (the spec's URLs use both forms; no redirects for API clients)."""

        def decorator(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.entries.append(_Entry(method, path, endpoint, options))
            return endpoint

        return decorator

    def install(self, router: APIRouter) -> None:
        for entry in self.entries:
            options = {"tags": list(self.tags), **entry.options}
            router.add_api_route(entry.path, entry.endpoint, methods=[entry.method], **options)
            router.add_api_route(
                entry.path + "/",
                entry.endpoint,
                methods=[entry.method],
                **{**options, "include_in_schema": False},
            )


def page_ascending(rows: Sequence[T], request: PageRequest, id_of: Callable[[T], str]) -> Page[T]:
    ordered = sorted(rows, key=id_of)
    ids = [id_of(r) for r in ordered]
    return paginate(ordered, request, cursor_of=id_of, position=lambda c: bisect.bisect_left(ids, c))


def page_descending(rows: Sequence[T], request: PageRequest, id_of: Callable[[T], str]) -> Page[T]:
    """Newest first (IDs are ULIDs, so descending ID = newest first)."""
    ordered = sorted(rows, key=id_of, reverse=True)
    ids = [id_of(r) for r in ordered]
    return paginate(ordered, request, cursor_of=id_of, position=position_by_key(ids, True, lambda c: c))


def page_by_id(
    db: Session, query: Any, id_column: Any, request: PageRequest, *, descending: bool = False
) -> Page[Any]:
    """One page of ``query`` straight from SQL, ordered by the ID column (IDs are ULIDs, so descending
    is newest first): never more than ``size + 1`` rows are loaded, however many the fleet holds."""
    column = col(id_column)
    forward, backward = (column.desc(), column.asc()) if descending else (column.asc(), column.desc())

    def past(cursor: str) -> Any:
        return column < cursor if descending else column > cursor

    def before(cursor: str) -> Any:
        return column > cursor if descending else column < cursor

    def any_row(condition: Any) -> bool:
        return db.exec(query.where(condition).limit(1)).first() is not None

    size = request.size
    if request.after is not None:
        rows = list(db.exec(query.where(past(request.after)).order_by(forward).limit(size + 1)).all())
        items, has_next = rows[:size], len(rows) > size
        has_previous = any_row(~past(request.after))
    elif request.before is not None:
        rows = list(db.exec(query.where(before(request.before)).order_by(backward).limit(size + 1)).all())
        items, has_previous = list(reversed(rows[:size])), len(rows) > size
        has_next = any_row(~before(request.before))
    else:
        rows = list(db.exec(query.order_by(forward).limit(size + 1)).all())
        items, has_next, has_previous = rows[:size], len(rows) > size, False
    name = str(getattr(id_column, "key", "id"))
    previous = getattr(items[0], name) if items and has_previous else None
    following = getattr(items[-1], name) if items and has_next else None
    return Page(items, previous, following)


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
