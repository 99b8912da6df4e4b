"""What every provider has in common: the protocol, the error type, HTTP helpers, time parsing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar
from zoneinfo import ZoneInfo

import httpx

from shared.jq_sandbox import JqSandbox
from shared.messages import Rate, TariffType

P = ParamSpec("P")
T = TypeVar("T")


class ProviderError(Exception):
    """A fetch failed (network, HTTP status, malformed body); the message says which provider and why."""


class Provider(Protocol):
    """A source of one rate series. ``fetch`` returns raw slots (any length) in the final unit."""

    name: str
    tariff_type: TariffType
    computed: bool
    """True for sources computed locally (fixed, demo): evaluated on every tick, never outdated or cached."""
    interpolate: bool
    """True for power forecasts (solar W) whose long slots are interpolated rather than repeated."""

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]: ...


@dataclass(frozen=True)
class Context:
    """What providers need besides their own config."""

    timezone: ZoneInfo
    currency: str = "EUR"
    jq: JqSandbox = field(default_factory=lambda: JqSandbox(workers=1, queue=16, timeout_s=5.0, idle_s=30.0))
    """Where configured jq programs run (custom tariffs); its worker exits when idle."""


def parser(name: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn the exceptions a parser hits on an unexpected body into one clear :class:`ProviderError`."""

    def wrap(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return function(*args, **kwargs)
            except ProviderError:
                raise
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
                raise ProviderError(f"{name}: malformed response: {type(error).__name__}: {error}") from None

        return inner

    return wrap


async def request(
    client: httpx.AsyncClient,
    name: str,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """One HTTP call; time-outs, transport errors and 4xx/5xx become a :class:`ProviderError`."""
    try:
        response = await client.request(
            method, url, params=params, headers=headers, json=json_body, auth=auth
        )
    except httpx.TimeoutException:
        raise ProviderError(f"{name}: request timed out ({_safe_url(url)})") from None
    except httpx.HTTPError as error:
        raise ProviderError(f"{name}: request failed: {type(error).__name__}: {error}") from None
    if response.status_code >= 400:
        raise ProviderError(
            f"{name}: HTTP {response.status_code} from {_safe_url(url)}: {_excerpt(response.text)}"
        )
    return response


async def get_json(
    client: httpx.AsyncClient, name: str, url: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
) -> Any:
    response = await request(client, name, kwargs.pop("method", "GET"), url, params=params, **kwargs)
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProviderError(f"{name}: malformed response: not JSON: {_excerpt(response.text)}") from None


def _safe_url(url: str) -> str:
    """The URL without its query (which may hold a token)."""
    return url.split("?", 1)[0]


def _excerpt(text: str, size: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "…"


def parse_time(value: Any) -> datetime:
    """ISO 8601 with offset (``Z`` allowed), or unix seconds / milliseconds → aware UTC datetime."""
    if isinstance(value, bool):
        raise TypeError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"time without offset: {value!r}")
        return parsed.astimezone(UTC)
    raise TypeError(f"not a time: {value!r}")


def number(value: Any) -> float:
    """A JSON number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)
