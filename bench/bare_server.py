"""A bare uvicorn endpoint for the throughput baseline: ``GET /`` answers fixed JSON bytes.

    python -m bench.bare_server --port 8000 --body state.json            # raw ASGI, the bytes as they are
    python -m bench.bare_server --port 8000 --body state.json --fastapi  # FastAPI sync route, dict → JSON

uvicorn runs with the gateway's settings (loop and HTTP parser ``auto``, no access log), so the difference
to the gateway's ``/api/state`` is the gateway's own work: routing, building the state, encoding.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def raw_app(body: bytes) -> ASGIApp:
    """An ASGI app that answers every HTTP request with ``body`` as JSON."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def fastapi_app(document: Any) -> Any:
    """FastAPI with a sync route (threadpool, like the gateway's ``/api/state``) encoding ``document``."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/")
    def state() -> JSONResponse:
        return JSONResponse(document)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the JSON to answer")
    parser.add_argument("--fastapi", action="store_true", help="serve through a FastAPI sync route")
    args = parser.parse_args()
    body = args.body.read_bytes()
    app = fastapi_app(json.loads(body)) if args.fastapi else raw_app(body)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
