"""Request dependencies of the evcc routes: the context, a database session, and the guards.

Guards are ``Annotated`` dependencies, so a route states what it needs in its signature
(``_: AdminSession``) and the auth store never has to know the context that holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from services.gateway.auth import COOKIE
from services.gateway.context import GatewayContext, get_ctx
from services.gateway.errors import Unauthorized

Ctx = Annotated[GatewayContext, Depends(get_ctx)]


def db_session(ctx: Ctx) -> Iterator[Session]:
    """A database session on the gateway's engine (shared with the fleet API)."""
    with Session(ctx.engine) as session:
        yield session


Db = Annotated[Session, Depends(db_session)]


def signed_in(request: Request, ctx: Ctx) -> bool:
    """Whether the request carries a valid admin session cookie."""
    return ctx.auth.valid(request.cookies.get(COOKIE))


SignedIn = Annotated[bool, Depends(signed_in)]


def admin_session(is_signed_in: SignedIn) -> None:
    """Refuse (401) without a valid admin session."""
    if not is_signed_in:
        raise Unauthorized()


AdminSession = Annotated[None, Depends(admin_session)]


def setter_session(request: Request, ctx: Ctx) -> None:
    """Setters are open as in evcc unless ``gateway.auth_required_for_setters`` is on."""
    if ctx.config.gateway.auth_required_for_setters and not signed_in(request, ctx):
        raise Unauthorized()


SetterSession = Annotated[None, Depends(setter_session)]
