"""The gateway's ASGI layers, outermost first — pure ASGI, so a plain read pays a few function calls:

- :class:`RequestContext`: a request id (the client's ``X-Request-ID`` when it is a short token, else a new
  one) in the response headers and in every log line of the request; ``X-Content-Type-Options: nosniff``;
  and the one place an unexpected exception becomes a response — 500 ``{"error": "internal error",
  "requestId": …}`` (a problem document below ``/v2``) with the details in the log, never in the body.
- :class:`RequestLimits`: 414 for a request target longer than ``gateway.max_url_bytes``, 413 for a body
  longer than ``gateway.max_body_bytes`` (declared or streamed).
- :class:`OriginGuard`: a browser request that changes something (POST, PUT, PATCH, DELETE) from another
  origin is refused (403) unless that origin is in ``gateway.cors_origins`` — the setters are open as in
  evcc, so without this any web page a user visits could drive their wallbox. Clients that are not
  browsers send no ``Origin`` and pass.
- CORS (Starlette's middleware), only for the configured origins; closed by default.

Before all of them, :func:`plain_state_read` picks the requests the app answers straight from the current
snapshot's bytes (``GET /api/state`` without a filter): they have no body, no query and no origin for the
layers to check, and they are what dashboards poll.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import structlog

from shared.encoding import go_json
from shared.logging import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
NOSNIFF = (b"x-content-type-options", b"nosniff")
_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM_PREFIX = "/v2"

log = get_logger("gateway", component="http")


def request_id(scope: Scope) -> str | None:
    """The id :class:`RequestContext` gave this request."""
    state = scope.get("state")
    value = state.get("request_id") if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


async def send_json(send: Send, status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = go_json(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _error_body(scope: Scope, status: int, title: str, message: str) -> tuple[Any, bytes]:
    """evcc's ``{"error": …}`` on /api, an RFC 9457 problem below /v2."""
    path = str(scope.get("path", ""))
    if path == PROBLEM_PREFIX or path.startswith(PROBLEM_PREFIX + "/"):
        return {"status": status, "title": title, "detail": message}, b"application/problem+json"
    return {"error": message}, b"application/json"


async def send_error(send: Send, scope: Scope, status: int, title: str, message: str, **extra: Any) -> None:
    body, media_type = _error_body(scope, status, title, message)
    body.update(extra)
    payload = go_json(body).encode()
    headers = [(b"content-type", media_type), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), None)
        rid = given.decode() if given is not None and _CLIENT_ID.match(given) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        extra = [(REQUEST_ID_HEADER, rid.encode()), NOSNIFF]
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception(
                    "request failed", method=scope.get("method"), path=scope.get("path"), request_id=rid
                )
                if scope["type"] == "http" and not started:
                    await send_error(
                        send_with_id, scope, 500, "Internal Server Error", "internal error", requestId=rid
                    )


class _BodyTooLarge(Exception):
    pass


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_url_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if target > self.max_url_bytes:
            await send_error(
                send, scope, 414, "URI Too Long", f"request target longer than {self.max_url_bytes} bytes"
            )
            return
        declared = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value
            elif key == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked:  # no body at all: nothing to count
            await self.app(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(scope, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        limit = self.max_body_bytes
        await send_error(send, scope, 413, "Content Too Large", f"request body larger than {limit} bytes")


def _origin_of(scope: Scope) -> tuple[str, str] | None:
    """(scheme, host[:port]) the request was sent to, as the browser sees it."""
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        return None
    return str(scope.get("scheme", "http")), host.decode("latin-1").lower()


class OriginGuard:
    def __init__(self, app: ASGIApp, *, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = frozenset(o.lower().rstrip("/") for o in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
            if origin is not None and not self._allowed(origin.decode("latin-1"), scope):
                await send_error(
                    send, scope, 403, "Forbidden", "cross-origin request refused (see gateway.cors_origins)"
                )
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, scope: Scope) -> bool:
        origin = origin.lower().rstrip("/")
        if origin in self.allowed:
            return True
        parts = urlsplit(origin)
        own = _origin_of(scope)
        return own is not None and (parts.scheme, parts.netloc) == own


StateResponder = Callable[[Scope, Send], Awaitable[None]]
STATE_PATH = "/api/state"
NO_FILTER = frozenset({b"", b"jq=", b"jq=.", b"jq=.result"})


def plain_state_read(scope: Scope) -> bool:
    """``GET /api/state`` with no filter (or a no-op ``jq``) and no ``Origin`` (a cross-origin read goes
    the long way, through CORS): answered from the snapshot's bytes before any other layer."""
    return (
        scope["type"] == "http"
        and scope["path"] == STATE_PATH
        and scope["method"] == "GET"
        and scope.get("query_string", b"") in NO_FILTER
        and not any(key == b"origin" for key, _ in scope["headers"])
    )
