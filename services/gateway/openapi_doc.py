"""The gateway's own OpenAPI document says what the evcc API really answers, and knows which methods a path
has (for the ``Allow`` header of a 405).

FastAPI documents a 422 nobody ever gets (validation errors are evcc's 400) and none of the errors the
layers in front of the routes produce. For every ``/api`` operation :func:`document_errors` replaces the 422
with the codes an evcc client can meet — 400, 401 (text/plain ``Unauthorized``), 403, 404, 409, 413, 414,
429, 500, 503, 504 — each with evcc's ``{"error": …}`` body, and keeps whatever a route documented itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
ERRORS = {
    400: "Invalid request (nothing was changed)",
    403: "Cross-origin change refused",
    404: "No such loadpoint, vehicle, session or tariff",
    409: "Not possible now (the owning service says why, e.g. no vehicle connected)",
    413: "Request body too large",
    414: "Request target too long",
    429: "Too many requests from this client (see Retry-After)",
    500: "Internal error (the body carries the request id the log names)",
    503: "Not ready yet, or the broker or the owning service is unavailable (see Retry-After)",
    504: "The owning service did not answer in time",
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def _inline_local_defs(node: Any, defs: Mapping[str, Any] | None = None) -> Any:
    """A parameter schema made from a pydantic model carries its own ``$defs`` with ``#/$defs/…`` references,
    which would resolve against the document's root (where there are none): put the definitions inline."""
    if isinstance(node, dict):
        own = node.get("$defs")
        scope = {**(defs or {}), **own} if isinstance(own, dict) else defs
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and scope and ref[8:] in scope:
            return _inline_local_defs(scope[ref[8:]], scope)
        return {key: _inline_local_defs(value, scope) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_local_defs(item, defs) for item in node]
    return node


def document_errors(schema: dict[str, Any], prefix: str = "/api/") -> dict[str, Any]:
    """``schema`` with every operation below ``prefix`` documenting the errors it can answer."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        for method, operation in item.items():
            if method not in METHODS:
                continue
            if "parameters" in operation:
                operation["parameters"] = _inline_local_defs(operation["parameters"])
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for code, description in ERRORS.items():
                responses.setdefault(str(code), _error_response(description))
            responses.setdefault(
                "401",
                {
                    "description": "No valid admin session (a wrong password on login: evcc's JSON error)",
                    "content": {
                        "text/plain": {"schema": {"type": "string", "example": "Unauthorized"}},
                        "application/json": {"schema": ERROR_SCHEMA},
                    },
                },
            )
    return schema


def install_openapi(app: FastAPI, prefix: str = "/api/") -> None:
    """Serve :func:`document_errors` of FastAPI's document (built once, on first request)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate(), prefix)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{pattern}$")


@dataclass
class MethodTable:
    """Which methods each documented path answers (built lazily from the app's document)."""

    document: Callable[[], Mapping[str, Any]]
    _paths: list[tuple[re.Pattern[str], frozenset[str]]] = field(default_factory=list)

    def allowed(self, path: str) -> frozenset[str]:
        if not self._paths:
            for template, item in self.document().get("paths", {}).items():
                methods = frozenset(m.upper() for m in item if m in METHODS)
                self._paths.append((_template(template), methods))
        return frozenset(m for pattern, methods in self._paths if pattern.match(path) for m in methods)
