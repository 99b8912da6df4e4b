"""jq evaluation: simple paths agree with jq itself; expensive programs cannot stall the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jq
import pytest

from services.gateway.jq_eval import JqError, JqRunner, simple_path
from tests.gateway.conftest import FakeOwner, RunningGateway

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
def runner() -> Iterator[JqRunner]:
    jq_runner = JqRunner(timeout_s=1.0)
    yield jq_runner
    jq_runner.close()


def test_runner_results_and_errors(runner: JqRunner) -> None:
    assert runner.evaluate(".loadpoints | length", DOC) == 1
    assert runner.evaluate("[.loadpoints[].mode]", DOC) == ["pv"]
    for expression, message in (("empty", "jq: empty result"), (".loadpoints[0][]", "jq: too many results")):
        with pytest.raises(JqError, match=message):
            runner.evaluate(expression, DOC)
    with pytest.raises(JqError, match="jq:"):
        runner.evaluate(".loadpoints[", DOC)


def test_runaway_program_is_stopped_and_runner_recovers(runner: JqRunner) -> None:
    with pytest.raises(JqError, match="longer than"):
        runner.evaluate("last(range(1e12))", DOC)
    assert runner.evaluate(".loadpoints | length", DOC) == 1


async def test_runaway_jq_does_not_block_other_requests(gateway: RunningGateway, owner: FakeOwner) -> None:
    slow = asyncio.create_task(gateway.client.get("/api/state", params={"jq": "last(range(1e12))"}))
    await asyncio.sleep(0)  # let the slow request go out first
    fast = await gateway.client.get("/api/state", params={"jq": ".loadpoints"})
    assert fast.status_code == 200
    assert not slow.done()  # answered while the runaway program was still running
    response = await slow
    assert response.status_code == 400 and "longer than" in response.json()["error"]
