"""``/api/state?jq=``: simple paths agree with jq itself; other programs run sandboxed and bounded — the
environment stays secret, and runaway programs cannot stall plain reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jq
import pytest

from services.gateway.jq_eval import JqBusy, JqError, JqGate, simple_path
from shared.config import Config, JqSettings, MqttSettings
from shared.jq_sandbox import JqTimeout
from tests.gateway.conftest import FakeOwner, RunningGateway, gateway_config, running_gateway
from tests.shared.test_jq_sandbox import ESCAPES, SECRET
from tests.support.broker import wait_for

DOC: dict[str, Any] = {
    "pvPower": 5000,
    "loadpoints": [{"mode": "pv", "chargeCurrents": [1, 2, 3]}],
    "x": None,
}


SIMPLE = [
    ".",
    ".pvPower",
    ".missing",
    ".loadpoints[0].mode",
    ".loadpoints[3]",
    ".loadpoints.[0].chargeCurrents[2]",
]


@pytest.mark.parametrize("expression", [*SIMPLE, ".x.y", ".x[1]"])
def test_simple_paths_match_jq(expression: str) -> None:
    handled, value = simple_path(expression, DOC)
    assert handled
    assert value == jq.compile(expression).input_value(DOC).first()


@pytest.mark.parametrize("expression", [".pvPower.x", ".loadpoints.mode", ".pvPower[0]"])
def test_simple_path_type_errors_like_jq(expression: str) -> None:
    with pytest.raises(ValueError):
        jq.compile(expression).input_value(DOC).all()
    with pytest.raises(JqError):
        simple_path(expression, DOC)


def test_other_programs_go_to_jq() -> None:
    assert simple_path(".loadpoints | length", DOC) == (False, None)


@pytest.fixture
def config(mqtt_settings: MqttSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("CHARGEBUS_GATEWAY__JWT_SECRET", SECRET)  # the gateway signs sessions with it
    limits = {"workers": 1, "queue": 2, "per_client": 2, "timeout_s": 0.5, "cooldown_s": 30}
    return gateway_config(mqtt_settings, tmp_path, jq=limits)


@pytest.fixture
async def gateway(config: Config) -> AsyncIterator[RunningGateway]:
    async with running_gateway(config) as running:
        yield running


async def test_the_jwt_secret_stays_secret(gateway: RunningGateway, ready: FakeOwner) -> None:
    assert gateway.ctx.auth.secret() == SECRET
    bodies = []
    for program in [*ESCAPES, ".result | env", ".result | $ENV.CHARGEBUS_GATEWAY__JWT_SECRET"]:
        response = await gateway.client.get("/api/state", params={"jq": program})
        assert response.status_code in (200, 400), program
        bodies.append(response.text)
    assert not [body for body in bodies if SECRET in body]
    env = await gateway.client.get("/api/state", params={"jq": "$ENV"})
    assert env.json() == {"result": {}}


async def test_runaway_programs_get_refused_fast_and_plain_reads_stay_fast(
    gateway: RunningGateway, ready: FakeOwner
) -> None:
    # 50 clients at once send a program that never ends (all from 127.0.0.1, so one client's share).
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as abusers:
        storm = [
            asyncio.create_task(abusers.get("/api/state", params={"jq": "def f: f; f"})) for _ in range(50)
        ]
        await wait_for(lambda: gateway.ctx.jq.sandbox.busy == 2)
        started = time.monotonic()
        plain = [await gateway.client.get(path) for path in ("/api/state", "/api/health") * 5]
        plain_s = time.monotonic() - started
        assert gateway.ctx.jq.sandbox.busy > 0, "the runaway programs were still running"
        answers = await asyncio.gather(*storm)
    assert {r.status_code for r in plain} <= {200, 503} and plain_s < 2.0
    codes = sorted(r.status_code for r in answers)
    assert codes.count(400) == 2  # the client's two admitted programs ran out of time
    assert codes.count(429) == 48
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    # Having run out of time, the client cools down: even a cheap program is refused for a while ...
    cooling = await gateway.client.get("/api/state", params={"jq": ".loadpoints | length"})
    assert cooling.status_code == 429 and "ran out of time" in cooling.json()["error"]
    # ... while simple paths (evaluated in-process) keep working.
    simple = await gateway.client.get("/api/state", params={"jq": ".loadpoints"})
    assert simple.status_code == 200


async def test_the_total_is_bounded_across_clients() -> None:
    settings = JqSettings(workers=1, queue=2, per_client=1, timeout_s=0.2)
    gate = JqGate(settings)
    try:
        runs = [
            asyncio.create_task(gate.evaluate(f"10.0.0.{n}", "def f: f; f", DOC, b"{}")) for n in range(10)
        ]
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
    finally:
        await gate.aclose()
    assert sum(isinstance(o, JqBusy) for o in outcomes) == 7  # one running, two waiting, the rest refused
    assert sum(isinstance(o, JqTimeout) for o in outcomes) == 3
