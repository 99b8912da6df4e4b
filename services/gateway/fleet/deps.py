"""Request dependencies: the database session, the caller (token, scopes, acting user), page/expand
parameters, and the list response with its ``Link`` header."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from services.gateway.fleet.auth import Principal, lookup_token
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.expand import ExpandTree, parse_expand
from services.gateway.fleet.ids import has_prefix
from services.gateway.fleet.models import FleetUser
from services.gateway.fleet.pagination import Page, PageRequest, id_cursor, link_header, parse_page_size
from services.gateway.fleet.problems import bad_request, forbidden, not_found, rate_limited, unauthorized
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.route import get_fleet

T = TypeVar("T")
Fleet = Annotated[FleetContext, Depends(get_fleet)]


def fleet_db(fleet: Fleet) -> Iterator[Session]:
    with Session(fleet.engine) as db:
        yield db


Db = Annotated[Session, Depends(fleet_db)]


def request_base(request: Request) -> str:
    """Root of the absolute links: ``gateway.public_url`` when set (behind a reverse proxy), else the URL
    the request came in on."""
    return v2_base(get_fleet(request).public_url or str(request.base_url))


def v2_base(root: str) -> str:
    return root.rstrip("/") + "/v2"


BaseUrl = Annotated[str, Depends(request_base)]


def user_id_from_header(value: str) -> str | None:
    """``EvEnergy-User`` holds a user ID or a user URL (the docs and the spec disagree; accept both)."""
    candidate = value.strip().rstrip("/").rsplit("/", 1)[-1]
    return candidate if has_prefix(candidate, "user") else None


def _authenticate(request: Request, fleet: FleetContext, db: Session) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    found = lookup_token(db, token.strip(), fleet.now())
    if found is None:
        raise unauthorized("Invalid or expired token.")
    row, client = found
    bound = row.user_id or client.user_id
    # ev.energy: a bucket per (application, user) for user tokens, one per application otherwise
    bucket = f"{client.client_id}:{row.user_id}" if row.user_id else client.client_id
    decision = fleet.limits.take(bucket, client.rate_limit_per_hour)
    request.state.fleet_rate = decision
    if not decision.allowed:
        raise rate_limited(decision.retry_after_s)
    acting = bound
    requested = request.headers.get("evenergy-user")
    if requested:
        user_id = user_id_from_header(requested)
        if user_id is None or db.get(FleetUser, user_id) is None:
            raise bad_request("EvEnergy-User does not name a known user.", kind="unknown-user")
        if bound is not None and user_id != bound:
            raise forbidden("This client may only act as its own user.")
        acting = user_id
    return Principal(
        client_id=client.client_id,
        scopes=frozenset(row.scopes.split()),
        token_key=bucket,
        rate_limit_per_hour=client.rate_limit_per_hour,
        client_user_id=bound,
        user_id=acting,
    )


def require(*scopes: str) -> Callable[..., Principal]:
    """A dependency admitting callers whose token carries every scope in ``scopes``."""

    def dependency(request: Request, fleet: Fleet, db: Db) -> Principal:
        principal = _authenticate(request, fleet, db)
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise forbidden(f"The token lacks the scope(s): {', '.join(missing)}.", "insufficient-scope")
        return principal

    return dependency


def owned(principal: Principal, user_id: str | None) -> bool:
    """Whether the caller may see a resource of ``user_id`` (operators without a user see all)."""
    return principal.user_id is None or principal.user_id == user_id


def check_owned(principal: Principal, user_id: str | None) -> None:
    if not owned(principal, user_id):
        raise not_found()


ExpandParam = Annotated[list[str], Query(default_factory=list)]


@dataclass
class Paging:
    """The raw pagination query parameters (validated by the list helpers, so errors are problems)."""

    page_before: str | None = None
    page_after: str | None = None
    page_size: str | None = None

    def ids(self) -> PageRequest:
        return PageRequest(
            before=id_cursor(self.page_before, "page_before"),
            after=id_cursor(self.page_after, "page_after"),
            size=parse_page_size(self.page_size),
        )


def paging(
    page_before: str | None = None, page_after: str | None = None, page_size: str | None = None
) -> Paging:
    return Paging(page_before, page_after, page_size)


PagingParam = Annotated[Paging, Depends(paging)]


def renderer(base: BaseUrl, fleet: Fleet, db: Db) -> Renderer:
    return Renderer(base, db, fleet.sites, fleet.now())


Render = Annotated[Renderer, Depends(renderer)]


def expand_tree(values: Sequence[str], allowed: Sequence[str]) -> ExpandTree:
    return parse_expand(values, allowed)


def list_response(request: Request, page: Page[T], render: Callable[[T], Any]) -> JSONResponse:
    link = link_header(
        str(request.url).split("?", 1)[0],
        list(request.query_params.multi_items()),
        {"page_before": page.previous} if page.previous else None,
        {"page_after": page.next} if page.next else None,
    )
    return JSONResponse([render(item) for item in page.items], headers={"Link": link})


def numbered_response(
    request: Request, items: list[Any], previous: int | None, following: int | None
) -> JSONResponse:
    link = link_header(
        str(request.url).split("?", 1)[0],
        list(request.query_params.multi_items()),
        {"page": str(previous)} if previous else None,
        {"page": str(following)} if following else None,
    )
    return JSONResponse(items, headers={"Link": link})
