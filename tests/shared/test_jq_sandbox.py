"""The jq sandbox: user programs see neither our environment nor the filesystem, and cannot hold us up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.jq_sandbox import JqBusy, JqError, JqSandbox, JqTimeout, check_syntax
from tests.support.broker import wait_for

SECRET = "s3cr3t-jwt-0123456789abcdef-fedcba9876"
DOC = {"loadpoints": [{"mode": "pv"}], "pvPower": 5000}

# Every way we know of to reach outside the document. None may yield (or fail with) the secret.
ESCAPES = [
    "env",
    "$ENV",
    "$ENV.CHARGEBUS_GATEWAY__JWT_SECRET",
    "env.CHARGEBUS_GATEWAY__JWT_SECRET",
    "env | keys",
    "[env[]]",
    "$ENV | tostring",
    '"\\(env)\\($ENV)"',
    "env as $e | $e",
    "[env | paths]",
    'getpath(["CHARGEBUS_GATEWAY__JWT_SECRET"])',
    "$ENV | to_entries",
    "def env: 1; $ENV",
    "input",
    "[inputs]",
    "first(inputs)",
    'include "secret"; .',
    'import "secret" as s; .',
    'import "/proc/self/environ" as $e; $e',
    'import "environ" as $e {search: "/proc/self"}; $e',
    'module {search: "/"}; .',
    '"/proc/self/environ" | modulemeta',
    "$__prog_args",
    "$__loc__",
    "get_search_list",
    "get_prog_origin",
    "get_jq_origin",
    "input_filename",
    "input_line_number",
    "debug",
    'debug("leak \\(env)")',
    "stderr",
    "halt",
    "halt_error",
    '"x" | halt_error(1)',
    'builtins | map(select(test("env")))',
]


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[JqSandbox]:
    monkeypatch.setenv("CHARGEBUS_GATEWAY__JWT_SECRET", SECRET)
    jq = JqSandbox(workers=1, queue=1, timeout_s=0.5, memory_mb=128, max_result_bytes=64 * 1024)
    yield jq
    await jq.aclose()


async def test_no_program_reaches_the_environment_or_files(
    sandbox: JqSandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    outcomes: dict[str, str] = {}
    for program in ESCAPES:
        try:
            outcomes[program] = json.dumps(await sandbox.evaluate(program, DOC))
        except JqError as error:
            outcomes[program] = f"error: {error}"
    leaked = [program for program, outcome in outcomes.items() if SECRET in outcome]
    assert leaked == []
    assert outcomes["env"] == outcomes["$ENV"] == "[{}]"
    assert outcomes["env.CHARGEBUS_GATEWAY__JWT_SECRET"] == "[null]"
    for directive in ('include "secret"; .', 'import "secret" as s; .', 'module {search: "/"}; .'):
        assert outcomes[directive].startswith("error: jq: error: syntax error")
    for blocked in ("input", "halt", "halt_error", '"/proc/self/environ" | modulemeta'):
        assert "not available" in outcomes[blocked]
    assert outcomes["[inputs]"] == "[[]]"
    assert outcomes["get_search_list"] == "[[]]"
    assert SECRET not in "".join(capfd.readouterr())  # debug/stderr wrote nowhere we can see


async def test_the_worker_process_holds_no_secret(sandbox: JqSandbox) -> None:
    await sandbox.start()
    (pid,) = sandbox.pids
    environ = await asyncio.to_thread(Path(f"/proc/{pid}/environ").read_bytes)
    assert SECRET.encode() not in environ
    assert environ.split(b"\0") == [b"HOME=/nonexistent", b""]


async def test_results_errors_and_limits(sandbox: JqSandbox) -> None:
    assert await sandbox.evaluate(".loadpoints | length", DOC) == [1]
    assert await sandbox.evaluate("range(5)", DOC) == [0, 1]  # stops at two
    assert await sandbox.evaluate("[nan, infinite]", DOC) == [[None, 1.7976931348623157e308]]
    assert await sandbox.one(".pvPower", json.dumps(DOC).encode()) == 5000
    with pytest.raises(JqError, match="empty result"):
        await sandbox.one("empty", DOC)
    with pytest.raises(JqError, match="too many results"):
        await sandbox.one(".loadpoints[0] | .mode, .mode", DOC)
    with pytest.raises(JqError, match=r"line 2, column"):  # the user's line numbers, not the prelude's
        await sandbox.evaluate(".\n| .loadpoints[", DOC)
    with pytest.raises(JqError, match="larger than"):
        await sandbox.evaluate("[range(100000)]", DOC)
    with pytest.raises(JqError, match="longer than 4096 characters"):
        await sandbox.evaluate("." * 5000, DOC)


async def test_a_runaway_program_is_killed_and_the_next_one_runs(sandbox: JqSandbox) -> None:
    with pytest.raises(JqTimeout, match=r"longer than 0\.5 s"):
        await sandbox.evaluate("def f: f; f", DOC)
    with pytest.raises(JqError, match="out of memory or crashed"):
        await sandbox.evaluate('"x" * 200000000 | length', DOC)  # over the 128 MB address-space limit
    assert await sandbox.evaluate(".pvPower", DOC) == [5000]


async def test_a_full_queue_refuses_at_once(sandbox: JqSandbox) -> None:
    running = asyncio.create_task(sandbox.evaluate("def f: f; f", DOC))
    queued = asyncio.create_task(sandbox.evaluate(".pvPower", DOC))
    await wait_for(lambda: sandbox.busy == 2)
    with pytest.raises(JqBusy):
        await sandbox.evaluate(".pvPower", DOC)
    assert not running.done()  # refused while the runaway still ran
    with pytest.raises(JqTimeout):
        await running
    assert await queued == [5000]


def test_configured_programs_are_checked_without_running_them() -> None:
    check_syntax("def f: f; f")  # compiles; never evaluated here
    for bad in ("map(", 'import "x" as x; .', 'include "x"; .'):
        with pytest.raises(JqError, match="syntax error"):
            check_syntax(bad)
