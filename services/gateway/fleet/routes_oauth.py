"""The OAuth endpoints: ``/o/token/`` (client credentials, authorization code with PKCE, refresh),
``/o/authorize/`` (the user signs in and allows an application) and ``/o/revoke_token/`` (RFC 7009).

Errors are RFC 6749's JSON (``{"error", "error_description"}``), never problems: OAuth clients expect them.
Errors about the client or its redirect URI are shown on the page, never redirected, because an
unchecked redirect URI would let anyone send a user's code elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from services.gateway.fleet.auth import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    AuthError,
    Tokens,
    authenticate_client,
    check_client_redirect,
    check_grant_request,
    issue_code,
    issue_token,
    redeem_code,
    refresh_tokens,
    revoke,
    verify_user,
)
from services.gateway.fleet.common import Routes
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.models import OAuthClient
from services.gateway.fleet.route import anonymous_key, get_fleet

oauth_routes = Routes(tags=["OAuth"])

MAX_FORM_BYTES = 16 * 1024
SIGN_IN_LIMIT_PER_HOUR = 30
"""Wrong or right, sign-in attempts per address and hour on the authorization page."""
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _oauth_error(error: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="chargebus"'} if error.status == 401 else {}
    return JSONResponse(
        {"error": error.code, "error_description": error.description},
        status_code=error.status,
        headers={**NO_STORE, **headers},
    )


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise AuthError("invalid_request", "request too large")
    text = raw.decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("invalid_client", "malformed Basic credentials", status=401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise AuthError("invalid_client", "malformed Basic credentials", status=401)
    return client_id, secret


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    """HTTP Basic, else the form's ``client_id`` (and ``client_secret``, absent for public clients)."""
    basic = _basic_credentials(request.headers.get("authorization", ""))
    if basic is not None:
        return basic
    if "client_id" not in form:
        raise AuthError("invalid_client", "client credentials missing", status=401)
    return form["client_id"], form.get("client_secret")


def _token_body(tokens: Tokens) -> dict[str, Any]:
    row = tokens.row
    body: dict[str, Any] = {
        "access_token": tokens.access,
        "token_type": "Bearer",
        "expires_in": int((row.expires_at - row.created_at).total_seconds()),
        "scope": row.scopes,
    }
    if tokens.refresh is not None:
        body["refresh_token"] = tokens.refresh
    return body


def _grant(fleet: FleetContext, form: dict[str, str], client_id: str, secret: str | None) -> Tokens:
    grant = form.get("grant_type")
    now = fleet.now()
    with Session(fleet.engine) as db:
        if grant == CLIENT_CREDENTIALS:
            if secret is None:
                raise AuthError("invalid_client", "client authentication failed", status=401)
            access, row = issue_token(db, client_id, secret, form.get("scope"), now)
            tokens = Tokens(access, row)
        elif grant == AUTHORIZATION_CODE:
            client = authenticate_client(db, client_id, secret)
            tokens = redeem_code(
                db, client, form.get("code", ""), form.get("redirect_uri"), form.get("code_verifier"), now
            )
        elif grant == "refresh_token":
            client = authenticate_client(db, client_id, secret)
            tokens = refresh_tokens(db, client, form.get("refresh_token", ""), form.get("scope"), now)
        else:
            raise AuthError(
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            )
        db.commit()
        db.refresh(tokens.row)
        return tokens


async def token(request: Request) -> JSONResponse:
    """RFC 6749 token endpoint: client credentials (§4.4), authorization code + PKCE (§4.1, RFC 7636),
    refresh (§6). Confidential clients authenticate with HTTP Basic or form fields."""
    fleet = get_fleet(request)
    try:
        form = await _form(request)
        client_id, secret = _client_credentials(request, form)
        tokens = await run_in_threadpool(_grant, fleet, form, client_id, secret)
    except AuthError as error:
        return _oauth_error(error)
    return JSONResponse(_token_body(tokens), headers=NO_STORE)


async def revoke_token(request: Request) -> Response:
    """RFC 7009: always 200 for an authenticated client, whether or not the token was known."""
    fleet = get_fleet(request)
    try:
        form = await _form(request)
        client_id, secret = _client_credentials(request, form)

        def work() -> None:
            with Session(fleet.engine) as db:
                client = authenticate_client(db, client_id, secret)
                revoke(db, client, form.get("token", ""), fleet.now())
                db.commit()

        await run_in_threadpool(work)
    except AuthError as error:
        return _oauth_error(error)
    return Response(status_code=200, headers=NO_STORE)


# --- the authorization page -------------------------------------------------------------------------

AUTHORIZE_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                    "code_challenge_method")  # fmt: skip


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font:16px system-ui;max-width:28em;margin:3em auto;"
        "padding:0 1em}input{display:block;width:100%;margin:.3em 0 1em;padding:.4em}"
        "button{padding:.5em 1.2em;margin-right:.5em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=PAGE_HEADERS)


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(uri + separator + urlencode(params), status_code=302, headers=NO_STORE)


@dataclass(frozen=True)
class Checked:
    name: str
    client_id: str
    uri: str
    scopes: frozenset[str] | None
    error: AuthError | None = None
    """An error to send back to ``uri`` (the client and the URI themselves were fine)."""


def _check(fleet: FleetContext, params: dict[str, str]) -> Checked:
    """Raises :class:`AuthError` for errors that must not be redirected; others are in ``error``."""
    with Session(fleet.engine) as db:
        client, uri = check_client_redirect(db, params.get("client_id", ""), params.get("redirect_uri"))
        name = client.name or client.client_id
        if params.get("response_type") != "code":
            error = AuthError("unsupported_response_type", "response_type must be code")
            return Checked(name, client.client_id, uri, None, error)
        try:
            scopes = check_grant_request(
                client, params.get("scope"), params.get("code_challenge"), params.get("code_challenge_method")
            )
        except AuthError as error:
            return Checked(name, client.client_id, uri, None, error)
        return Checked(name, client.client_id, uri, scopes)


def _refuse(error: AuthError, params: dict[str, str], uri: str | None) -> Response:
    if uri is None:
        return _page("Authorization failed", f"<p>{html.escape(error.description)}</p>", status=400)
    answer = {"error": error.code, "error_description": error.description}
    if "state" in params:
        answer["state"] = params["state"]
    return _redirect(uri, answer)


async def authorize_page(request: Request) -> Response:
    """``GET /o/authorize/?response_type=code&client_id=…&redirect_uri=…&code_challenge=…``: sign in."""
    fleet = get_fleet(request)
    params = {k: v for k, v in request.query_params.items() if k in AUTHORIZE_FIELDS}
    try:
        checked = await run_in_threadpool(_check, fleet, params)
    except AuthError as error:
        return _refuse(error, params, None)
    if checked.error is not None or checked.scopes is None:
        return _refuse(checked.error or AuthError("invalid_scope", "no scope"), params, checked.uri)
    hidden = "".join(
        f"<input type=hidden name='{html.escape(k)}' value='{html.escape(v, quote=True)}'>"
        for k, v in params.items()
    )
    listed = "".join(f"<li>{html.escape(s)}</li>" for s in sorted(checked.scopes))
    body = (
        f"<p><b>{html.escape(checked.name)}</b> asks to use your chargers, vehicles and sessions:</p>"
        f"<ul>{listed}</ul>"
        f"<form method=post>{hidden}<label>E-mail<input name=email type=email autocomplete=username "
        "required></label><label>Password<input name=password type=password "
        "autocomplete=current-password required></label><button name=decision value=allow>Allow</button>"
        "<button name=decision value=deny formnovalidate>Deny</button></form>"
    )
    return _page("Allow access", body)


async def authorize_decision(request: Request) -> Response:
    """The signed-in user's answer: a redirect with ``code`` (and ``state``), or with ``access_denied``."""
    fleet = get_fleet(request)
    try:
        form = await _form(request)
        params = {k: v for k, v in form.items() if k in AUTHORIZE_FIELDS}
        checked = await run_in_threadpool(_check, fleet, params)
    except AuthError as error:
        return _refuse(error, {}, None)
    if checked.error is not None or checked.scopes is None:
        return _refuse(checked.error or AuthError("invalid_scope", "no scope"), params, checked.uri)
    if form.get("decision") != "allow":
        return _refuse(AuthError("access_denied", "the user denied the request"), params, checked.uri)
    attempt = await run_in_threadpool(
        fleet.limits.take, f"signin:{anonymous_key(request)}", SIGN_IN_LIMIT_PER_HOUR
    )
    if not attempt.allowed:
        return _page("Too many attempts", f"<p>Try again in {attempt.retry_after_s} s.</p>", status=429)
    scopes = checked.scopes

    def sign_in_and_issue() -> str | None:
        with Session(fleet.engine) as db:
            user = verify_user(db, form.get("email", ""), form.get("password", ""))
            client = db.get(OAuthClient, checked.client_id)
            if user is None or client is None:
                return None
            challenge = params.get("code_challenge")
            code = issue_code(db, client, user.id, scopes, checked.uri, challenge, fleet.now())
            db.commit()
            return code

    code = await run_in_threadpool(sign_in_and_issue)
    if code is None:
        return _page("Allow access", "<p>Wrong e-mail or password. Go back and try again.</p>", status=401)
    answer = {"code": code}
    if "state" in params:
        answer["state"] = params["state"]
    return _redirect(checked.uri, answer)


oauth_routes.route("POST", "/o/token")(token)
oauth_routes.route("POST", "/o/revoke_token")(revoke_token)
oauth_routes.route("GET", "/o/authorize", include_in_schema=False)(authorize_page)
oauth_routes.route("POST", "/o/authorize", include_in_schema=False)(authorize_decision)
