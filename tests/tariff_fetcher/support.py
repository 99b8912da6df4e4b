"""Recorded provider payloads served through httpx.MockTransport, and a settable clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tariffs"
BERLIN = ZoneInfo("Europe/Berlin")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class Upstream:
    """A fake provider: answers with the current responder and records every request."""

    responder: Responder
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responder(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=5)


def serve_text(text: str, status: int = 200, content_type: str = "application/json") -> Responder:
    return lambda request: httpx.Response(status, text=text, headers={"content-type": content_type})


def serve_fixture(name: str, content_type: str = "application/json") -> Responder:
    return serve_text(fixture_text(name), content_type=content_type)


def time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)
