"""Cursor and page-number pagination with an RFC 8288 ``Link`` header (``about:blank`` at the ends).

``page_after=<cursor>`` returns the page after that resource in display order, ``page_before`` the page
before it (``page_before`` is ignored when both are given). Cursors are resource IDs for ID-keyed
collections and timestamps for logs. Everything here is pure: the routes hand in the sorted rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

from services.gateway.fleet.ids import ID_PATTERN
from services.gateway.fleet.problems import not_found, pagination_error

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    before: str | None = None
    after: str | None = None
    size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    previous: str | None
    """Cursor for ``page_before`` of the previous page, None on the first page."""
    next: str | None
    """Cursor for ``page_after`` of the next page, None on the last page."""


def parse_page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise pagination_error("page_size") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise pagination_error("page_size")
    return size


def id_cursor(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    if not ID_PATTERN.match(raw):
        raise pagination_error(name)
    return raw


def timestamp_cursor(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    if parse_timestamp(raw) is None:
        raise pagination_error(name)
    return raw


def parse_timestamp(raw: str) -> datetime | None:
    """An aware ISO 8601 timestamp (``Z`` allowed), or None when ``raw`` is not one."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def paginate(
    rows: Sequence[T],
    request: PageRequest,
    *,
    cursor_of: Callable[[T], str],
    position: Callable[[str], int],
) -> Page[T]:
    """Cut one page out of ``rows`` (already in display order).

    ``position(cursor)`` is the index the cursor's resource has, or would have, in ``rows`` — counted as
    the number of rows strictly before it — so a cursor of a deleted resource still pages correctly.
    """
    if request.after is not None:
        start = position(request.after)
        # Skip the cursor's own row when it still exists.
        if start < len(rows) and cursor_of(rows[start]) == request.after:
            start += 1
        chosen = list(rows[start : start + request.size])
    elif request.before is not None:
        end = position(request.before)
        start = max(0, end - request.size)
        chosen = list(rows[start:end])
    else:
        start = 0
        chosen = list(rows[: request.size])
    previous = cursor_of(chosen[0]) if chosen and start > 0 else None
    last = start + len(chosen)
    following = cursor_of(chosen[-1]) if chosen and last < len(rows) else None
    return Page(chosen, previous, following)


def position_by_key(
    keys: Sequence[object], descending: bool, key_of_cursor: Callable[[str], object]
) -> Callable[[str], int]:
    """``position`` for rows sorted by ``keys`` (ascending, or descending for newest-first)."""

    def position(cursor: str) -> int:
        target = key_of_cursor(cursor)
        for index, key in enumerate(keys):
            if (key >= target) if not descending else (key <= target):  # type: ignore[operator]
                return index
        return len(keys)

    return position


def page_by_number(
    rows: Sequence[T], raw_page: str | None, size: int
) -> tuple[list[T], int | None, int | None]:
    """Page-number pagination (tariffs, prices): ``(items, previous page, next page)``; 404 past the end."""
    try:
        number = int(raw_page) if raw_page is not None else 1
    except ValueError:
        raise pagination_error("page") from None
    if number < 1:
        raise pagination_error("page")
    start = (number - 1) * size
    if number > 1 and start >= len(rows):
        raise not_found()
    items = list(rows[start : start + size])
    previous = number - 1 if number > 1 else None
    following = number + 1 if start + size < len(rows) else None
    return items, previous, following


def link_header(
    base_url: str,
    query: Sequence[tuple[str, str]],
    previous: dict[str, str] | None,
    following: dict[str, str] | None,
) -> str:
    """``<url>; rel="previous", <url>; rel="next"`` keeping every other query parameter of the request."""
    dropped = {"page_before", "page_after", "page"}
    kept = [(k, v) for k, v in query if k not in dropped]

    def url(params: dict[str, str] | None) -> str:
        if params is None:
            return "about:blank"
        return f"{base_url}?{urlencode(kept + list(params.items()))}"

    return f'<{url(previous)}>; rel="previous", <{url(following)}>; rel="next"'
