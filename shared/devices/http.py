"""HTTP as a device transport (httpx): polled reads shared by every source of the same request, and writes.

A read is cached for the shortest ``interval_s`` of the sources asking for it, so a Shelly's ten values
cost one request per poll. Answers larger than any device sends, non-2xx statuses, timeouts and refused
connections become the device layer's errors; redirects are not followed (a device does not redirect, a
hijacked name might). Header values may name an environment variable as ``${env:NAME}`` — tokens stay
out of the configuration file and out of the logs.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shared.devices.errors import DeviceError, DeviceRefused

MAX_BODY_BYTES = 1 << 20
_ENV = re.compile(r"\$\{env:([A-Z_][A-Z0-9_]*)\}")

RequestKey = tuple[str, str, str | None, tuple[tuple[str, str], ...]]


def resolve_headers(headers: dict[str, str]) -> dict[str, str]:
    def value(text: str) -> str:
        return _ENV.sub(lambda m: os.environ.get(m.group(1), ""), text)

    return {name: value(text) for name, text in headers.items()}


@dataclass
class _Cached:
    at: float
    body: bytes | None
    error: DeviceError | None


class HttpDevices:
    """One client for every HTTP device of a service."""

    def __init__(self, *, clock: Any = time.monotonic) -> None:
        self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "chargebus"})
        self._cache: dict[RequestKey, _Cached] = {}
        self._locks: dict[RequestKey, asyncio.Lock] = {}
        self.clock = clock

    async def fetch(
        self,
        method: str,
        uri: str,
        *,
        headers: dict[str, str],
        body: str | None,
        max_age_s: float,
        timeout_s: float,
    ) -> bytes:
        """The body of the answer, at most ``max_age_s`` old (requests of the same key wait for one)."""
        key: RequestKey = (method, uri, body, tuple(sorted(headers.items())))
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached is not None and self.clock() - cached.at < max_age_s:
                if cached.error is not None:
                    raise cached.error
                assert cached.body is not None
                return cached.body
            try:
                answer = await self.request(method, uri, headers=headers, body=body, timeout_s=timeout_s)
            except DeviceError as error:
                self._cache[key] = _Cached(self.clock(), None, error)
                raise
            self._cache[key] = _Cached(self.clock(), answer, None)
            return answer

    async def request(
        self, method: str, uri: str, *, headers: dict[str, str], body: str | None, timeout_s: float
    ) -> bytes:
        where = uri.split("?", 1)[0]
        try:
            async with self._client.stream(
                method, uri, headers=resolve_headers(headers), content=body, timeout=timeout_s
            ) as response:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_BODY_BYTES:
                        raise DeviceError(f"{where}: answer larger than {MAX_BODY_BYTES} bytes")
                status = response.status_code
        except httpx.TimeoutException:
            raise DeviceError(f"{where}: no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise DeviceError(f"{where}: {type(error).__name__}: {error}") from None
        if 400 <= status < 500:
            raise DeviceRefused(f"{where}: HTTP {status}")
        if not 200 <= status < 300:
            raise DeviceError(f"{where}: HTTP {status}")
        return bytes(data)

    async def aclose(self) -> None:
        await self._client.aclose()
