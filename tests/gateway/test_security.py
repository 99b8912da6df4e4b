"""The gateway's HTTP surface against an attacker: forwarded headers only from trusted proxies, throttled
constant-work logins, cookie flags, cross-origin requests, request sizes, errors that leak nothing, every
setter behind the login when the site is locked, and secrets that never reach a log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from shared.config import Config, MqttSettings
from shared.logging import RecentLines, configure_logging
from tests.gateway.conftest import FakeOwner, RunningGateway, gateway_config, running_gateway

PASSWORD = "hunter2-correct-horse"
JWT_SECRET = "jwt-secret-7f3a9c1e5b-0d4c8a2e6f1b9d3a"


async def set_password(gateway: RunningGateway) -> None:
    assert (await gateway.client.put("/api/auth/password", json={"new": PASSWORD})).status_code == 201
    gateway.client.cookies.clear()


async def wrong_logins(gateway: RunningGateway, count: int, **headers: str) -> list[int]:
    codes = []
    for _ in range(count):
        response = await gateway.client.post("/api/auth/login", json={"password": "wrong"}, headers=headers)
        codes.append(response.status_code)
    return codes


async def test_logins_cost_the_same_and_are_throttled_per_real_client(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    throttle = gateway.ctx.throttle
    await gateway.client.post("/api/auth/login", json={"password": "x"})  # no password set yet

    first = await gateway.client.put("/api/auth/password", json={"new": PASSWORD})
    cookie = first.headers["set-cookie"]
    assert "; Path=/; Expires=" in cookie and cookie.endswith("; HttpOnly; SameSite=Strict")  # no Secure
    logout = await gateway.client.post("/api/auth/logout")
    assert logout.headers["set-cookie"] == "auth=; Path=/; HttpOnly"  # the spec's exact value
    gateway.client.cookies.clear()

    # No timing difference between no password set, a wrong, an empty, an overlong and the right
    # password: each attempt is exactly one bcrypt check.
    for password in ("wrong", "", "x" * 500, PASSWORD):
        throttle.clients.clear()  # the cost of one check here, not the lockout
        await gateway.client.post("/api/auth/login", json={"password": password})
    assert len(checks) == 5
    assert len(set(checks[:4])) == 2  # the decoy (unset, empty, overlong) and the real hash (wrong)

    # X-Forwarded-For from an untrusted peer: each "from" another client, the throttle still sees one.
    throttle.clients.clear()
    codes = []
    for n in range(5):
        codes += await wrong_logins(gateway, 1, **{"X-Forwarded-For": f"203.0.113.{n}"})
    assert codes == [401, 401, 401, 401, 429]

    # Parallel guesses of one client run one at a time (else all would run before the first failure
    # counted): the others are refused, not checked.
    throttle.clients.clear()
    guesses = [gateway.client.post("/api/auth/login", json={"password": f"guess{n}"}) for n in range(8)]
    codes = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert codes.count(401) <= 4 and codes.count(429) >= 4


@pytest.fixture
def proxied(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return gateway_config(mqtt_settings, tmp_path, trusted_proxies=["127.0.0.1/32"])


async def test_a_trusted_proxy_names_the_client_and_the_scheme(proxied: Config) -> None:
    async with running_gateway(proxied) as gateway:
        await set_password(gateway)
        assert await wrong_logins(gateway, 5, **{"X-Forwarded-For": "203.0.113.7"}) == [401] * 4 + [429]
        other = await wrong_logins(gateway, 1, **{"X-Forwarded-For": "203.0.113.8"})
        assert other == [401]  # another client behind the proxy is not locked out with the first
        tls = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        login = await gateway.client.post("/api/auth/login", json={"password": PASSWORD}, headers=tls)
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("auth=ey") and cookie.endswith("; HttpOnly; SameSite=Strict; Secure")
        logout = await gateway.client.post("/api/auth/logout", headers=tls)
        assert logout.headers["set-cookie"] == "auth=; Path=/; HttpOnly; Secure; SameSite=Strict"


async def test_cross_origin_changes_and_oversized_requests_are_refused(
    gateway: RunningGateway, owner: FakeOwner
) -> None:
    evil = {"Origin": "https://evil.example"}
    forged = await gateway.client.post("/api/loadpoints/1/mode/now", headers=evil)
    assert forged.status_code == 403 and "cross-origin" in forged.json()["error"]
    assert owner.requests == []  # nothing reached the owner
    preflight = await gateway.client.options(
        "/api/loadpoints/1/mode/now", headers={**evil, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    read = await gateway.client.get("/api/health", headers=evil)
    assert "access-control-allow-origin" not in read.headers  # CORS closed: the page cannot read it
    own = await gateway.client.post("/api/loadpoints/1/mode/now", headers={"Origin": gateway.base_url})
    assert own.status_code == 200 and owner.keys() == ["loadpoints/1/mode"]  # the gateway's own pages

    # Request sizes: bodies (declared or streamed) and request targets.
    big = await gateway.client.put("/api/auth/password", content=b"{" + b" " * 70_000 + b"}")
    assert big.status_code == 413 and "larger than 65536 bytes" in big.json()["error"]

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    streamed = await gateway.client.put("/api/auth/password", content=stream())
    assert streamed.status_code == 413
    long_url = await gateway.client.get("/api/state", params={"jq": "." + "a" * 9000})
    assert long_url.status_code == 414
    fleet = await gateway.client.post("/v2/webhook_endpoints", content=b"x" * 70_000)
    assert fleet.status_code == 413 and fleet.headers["content-type"] == "application/problem+json"


@pytest.fixture
def with_cors(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return gateway_config(mqtt_settings, tmp_path, cors_origins=["https://dash.example"])


async def test_configured_origins_may_call_the_api(with_cors: Config) -> None:
    async with running_gateway(with_cors) as gateway:
        dash = {"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"}
        preflight = await gateway.client.options("/api/loadpoints/1/mode/now", headers=dash)
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        state = await gateway.client.get("/api/state", headers={"Origin": "https://dash.example"})
        assert state.headers["access-control-allow-origin"] == "https://dash.example"
        other = await gateway.client.post("/api/auth/logout", headers={"Origin": "https://else.example"})
        assert other.status_code == 403


async def test_an_unexpected_error_is_500_with_a_request_id_and_no_internals(
    gateway: RunningGateway, ready: FakeOwner, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = "<script>alert(1)</script>" * 4
    hostile = await gateway.client.get("/api/health", headers={"X-Request-ID": forged})
    assert hostile.headers["x-request-id"] != forged  # replaced, not echoed

    def broken() -> Any:
        raise RuntimeError("pydantic_core._pydantic_core.ValidationError at 0xdeadbeef")

    monkeypatch.setattr(gateway.store, "snapshot", broken)
    with capture_logs() as logs:
        for params in ({"jq": ".pvPower"}, {}):  # the routed read and the fast path alike
            headers = {"X-Request-ID": "rq-42"}
            response = await gateway.client.get("/api/state", params=params, headers=headers)
            assert response.status_code == 500
            assert response.json() == {"error": "internal error", "requestId": "rq-42"}
            assert response.headers["x-request-id"] == "rq-42"
    failures = [e for e in logs if e["event"] == "request failed"]
    assert len(failures) == 2 and all(e["request_id"] == "rq-42" and e["exc_info"] for e in failures)


@pytest.fixture
def locked(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return gateway_config(mqtt_settings, tmp_path, auth_required_for_setters=True)


OPEN_WHEN_LOCKED = {("POST", "/api/auth/login"), ("POST", "/api/auth/logout"), ("PUT", "/api/auth/password")}


async def test_a_locked_site_refuses_every_change_without_a_session(locked: Config) -> None:
    async with running_gateway(locked) as gateway:
        await set_password(gateway)
        paths = (await gateway.client.get("/openapi.json")).json()["paths"]
        changes = [
            (method.upper(), path)
            for path, operations in paths.items()
            if path.startswith("/api/")
            for method in operations
            if method in {"post", "put", "patch", "delete"} and (method.upper(), path) not in OPEN_WHEN_LOCKED
        ]
        assert len(changes) > 40
        codes = {key: (await gateway.client.request(key[0], _fill(key[1]))).status_code for key in changes}
        assert {key: code for key, code in codes.items() if code != 401} == {}
        assert (await gateway.client.get("/api/system/log")).status_code == 401


def _fill(path: str) -> str:
    """A concrete URL for a route template (``{id}`` → ``1``, any other parameter → a plausible value)."""
    values = {"id": "1", "name": "ev1", "enable": "true", "mode": "pv", "type": "grid"}
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            parts.append(values.get(part[1:-1].split(":")[0], "1"))
        else:
            parts.append(part)
    return "/".join(parts)


async def test_secrets_never_reach_the_log(
    mqtt_settings: MqttSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Started with the JWT secret in the environment, logging in (right and wrong), using the session
    token, changing the password, failing requests: neither secret, password nor token is in any log line
    (debug level, the console format with its tracebacks, and the log ring /api/system/log serves)."""
    monkeypatch.setenv("CHARGEBUS_GATEWAY__JWT_SECRET", JWT_SECRET)
    config = gateway_config(mqtt_settings, tmp_path)
    ring = RecentLines()
    configure_logging("debug", "console", recent=ring)
    try:
        async with running_gateway(config) as gateway:
            client = gateway.client
            await client.put("/api/auth/password", json={"new": PASSWORD})
            token = client.cookies["auth"]
            client.cookies.clear()
            await client.post("/api/auth/login", json={"password": PASSWORD + "-wrong"})
            await client.post("/api/auth/login", json={"password": PASSWORD})
            async with httpx.AsyncClient(base_url=gateway.base_url, cookies={"auth": token}) as holder:
                await holder.get("/api/system/log")
                await holder.get("/api/state", params={"jq": '"boom" | error'})  # a failing program
            await client.put("/api/auth/password", json={"current": "bad-" + PASSWORD, "new": PASSWORD + "2"})
            await client.post("/api/auth/login", content=json.dumps({"password": PASSWORD}).encode() + b"{")
            monkeypatch.setattr(gateway.store, "snapshot", lambda: 1 / 0)  # an exception with a traceback
            await client.get("/api/state", headers={"Cookie": f"auth={token}"})
    finally:
        structlog.reset_defaults()
    output = "".join(capfd.readouterr()) + json.dumps(list(ring.lines), default=str)
    assert "request failed" in output  # the traceback was logged ...
    for secret in (JWT_SECRET, PASSWORD, token):
        assert secret not in output  # ... and no secret with it
