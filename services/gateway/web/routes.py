"""The web app at ``/``, its static files at ``/assets`` and the API docs at ``/docs`` and ``/redoc``.

Everything a browser loads comes from this origin: the app's ES modules and the vendored, pinned Preact,
htm, Swagger UI and ReDoc files (``static/vendor/README.md``) — no CDN, no web fonts, no build step. Static
files are gzip-compressed on the way out (the app is ~60 KB compressed); the page itself carries a
Content-Security-Policy that lets the browser load nothing from another origin.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
ASSETS = "/assets"
SWAGGER_DIR = f"{ASSETS}/vendor/swagger-ui-5.35.0"
REDOC_FILE = STATIC_DIR / "vendor" / "redoc-2.5.4" / "redoc.standalone.js"
REDOC_JS = "/redoc/redoc.standalone.js"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""The one address the ReDoc bundle loads by itself (its "API docs by Redocly" logo): served with ours."""
ICON = f"{ASSETS}/icon.svg"
_IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.DOTALL)


@cache
def index_html() -> tuple[str, str]:
    """The page and its Content-Security-Policy (the inline import map is allowed by its hash)."""
    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
        for m in _IMPORT_MAP.findall(page)
    )
    policy = (
        "default-src 'self'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
    )
    return page, policy


@cache
def redoc_bundle() -> tuple[bytes, bytes]:
    """The vendored ReDoc bundle (unchanged on disk, see vendor/README.md) with its logo from this origin;
    plain and gzip-compressed."""
    text = REDOC_FILE.read_text(encoding="utf-8").replace(REDOC_LOGO, ICON)
    data = text.encode("utf-8")
    return data, gzip.compress(data, compresslevel=6)


def redoc_js(request: Request) -> Response:
    plain, packed = redoc_bundle()
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(plain, media_type="text/javascript", headers=headers)


def index_page() -> HTMLResponse:
    page, policy = index_html()
    return HTMLResponse(page, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})


def install_web(app: FastAPI) -> None:
    """Mount the page, the static files and offline Swagger UI / ReDoc (create the app with
    ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{SWAGGER_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_DIR}/swagger-ui.css",
            swagger_favicon_url=ICON,
            swagger_ui_parameters={"validatorUrl": None},  # else the spec is sent to a public validator
        )

    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=ICON,
            with_google_fonts=False,
        )

    app.add_api_route("/", index_page, methods=["GET", "HEAD"], include_in_schema=False, response_model=None)
    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False, response_model=None)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False, response_model=None)
    app.add_api_route(REDOC_JS, redoc_js, methods=["GET"], include_in_schema=False, response_model=None)
    app.mount(ASSETS, GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=512, compresslevel=6))
