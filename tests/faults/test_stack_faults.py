"""Faults against the whole system as it runs: ``chargebus demo --secure`` (real processes, the broker with
the production ACL). One stack serves every case, in order; each case leaves it settled (every child
running, healthy, the wallbox charging at full current) and the last ones check that nothing was lost or
written twice. What each fault showed is in the docstrings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
import pytest

from services.embedded_broker import find_mosquitto
from services.registry import SERVICES
from shared.messages import ChargerCommand, CommandReason
from shared.setters.table import WRITABLE
from tests.e2e.stack import api_result, wait_until
from tests.faults.stack import (
    COMMAND_VALIDITY_S,
    FAILSAFE_TIMEOUT_S,
    FaultStack,
    fault_stack,
)
from tests.support.setter_cases import HUGE, INVALID_UTF8

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(find_mosquitto() is None, reason="the fault suite runs the production broker"),
]

BUS_SERVICES = [name for name in SERVICES if name != "simulator"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with fault_stack(tmp_path_factory.mktemp("faults")) as running:
        yield running


@pytest.fixture
async def http(stack: FaultStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=5) as client:
        await stack.settled(client)
        yield client
        await stack.settled(client)  # every case leaves the stack as it found it


def _client(stack: FaultStack, user: str) -> aiomqtt.Client:
    settings = stack.settings(user)
    assert settings.password is not None
    return aiomqtt.Client(
        "127.0.0.1",
        stack.broker_port,
        username=user,
        password=settings.password.get_secret_value(),
        identifier=f"faults-{user}-{uuid.uuid4().hex[:6]}",
    )


def _failsafes(stack: FaultStack) -> int:
    return int(stack.rows("SELECT count(*) FROM command_logs WHERE reason = 'FAILSAFE'")[0][0])


async def _written_through(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """Until the gateway has written every command event so far: a mode change makes a new one (off,
    then back to now), and events are written in order."""
    before = int(stack.rows("SELECT count(*) FROM command_logs")[0][0])
    assert (await http.post("/api/loadpoints/1/mode/off")).status_code == 200
    await wait_until(stack.disabled, 15)
    assert (await http.post("/api/loadpoints/1/mode/now")).status_code == 200
    await wait_until(lambda: int(stack.rows("SELECT count(*) FROM command_logs")[0][0]) >= before + 2, 15)


async def test_the_stack_starts_in_order_quietly_and_says_ready_once(
    stack: FaultStack, http: httpx.AsyncClient
) -> None:
    """Before: every child at once, "meter not answering"/"charger not reachable" warnings, ~800
    "There are N pending publish calls" lines, the URL ~27 s before the gateway listened, no ready line."""
    log = stack.log()
    ready = [line for line in log.splitlines() if "chargebus demo ready" in line]
    assert len(ready) == 1 and stack.base_url.replace("127.0.0.1", "") in ready[0].replace("127.0.0.1", "")
    started = [line.split("child=")[1].split()[0] for line in log.splitlines() if "child started" in line]
    order = [name for name in started if name != "broker"]
    assert order.index("simulator") < order.index("meter-reader") < order.index("optimizer")
    assert order.index("charger-actuator") < order.index("optimizer") < order.index("gateway")
    assert started[0] == "broker"
    for flood in ("not answering", "not reachable", "pending publish", "broker unreachable", "Traceback"):
        assert flood not in log, flood
    # the site is complete the first time it answers
    state = await stack.state(http)
    assert len(state["loadpoints"]) == 1 and "ev" in state["vehicles"]


async def test_compose_health_checks_pass_against_the_running_stack(
    stack: FaultStack, http: httpx.AsyncClient
) -> None:
    """Each service's check as compose runs it, as that service's broker user (the ACL must let it read
    its own status); the gateway's is the compose file's own HTTP one-liner."""
    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())["services"]

    def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    checks = []
    for name in BUS_SERVICES:
        test = compose[name]["healthcheck"]["test"]
        if test[1] == "chargebus":
            settings = stack.settings(name)
            assert settings.password is not None
            env = {
                **os.environ,
                "CHARGEBUS_MQTT__PORT": str(stack.broker_port),
                "CHARGEBUS_MQTT__USER": name,
                "CHARGEBUS_MQTT__PASSWORD": settings.password.get_secret_value(),
            }
            checks.append(
                asyncio.to_thread(run, [str(Path(sys.executable).parent / "chargebus"), *test[2:-2]], env)
            )
        else:
            command = [arg.replace("7070", str(stack.gateway_port)) for arg in test[1:]]
            checks.append(asyncio.to_thread(run, [sys.executable, *command[1:]], dict(os.environ)))
    for result in await asyncio.gather(*checks):
        assert result.returncode == 0, result.stdout + result.stderr


async def test_hostile_payloads_on_every_set_and_internal_topic(
    stack: FaultStack, http: httpx.AsyncClient
) -> None:
    """1 MB and invalid UTF-8 on every ``/set`` topic (as the client user) and on every internal topic
    (as the topic's own writer — a buggy owner, the worst the ACL lets through), plus requests with a
    wildcard, empty or foreign ``reply_to``. Before: a wildcard ``reply_to`` killed the optimizer's bus
    for good (every setter 504, status still online). Now: nothing restarts, settings are unchanged,
    the wallbox keeps charging and every setter still answers."""
    pids = stack.children()
    assert (await http.post("/api/loadpoints/1/limitsoc/90")).status_code == 200  # a stored setting
    await wait_until(stack.settings_file.exists, 5)
    settings_before = stack.settings_file.read_text()
    sets = sorted(
        {
            f"evcc/{'site' if e.scope == 'site' else e.scope + ('/1' if e.scope == 'loadpoints' else '/ev')}"
            f"/{name}/set"
            for e in WRITABLE
            if e.mqtt
            for name in e.names()
        }
    )
    internal = {
        "meter-reader": ["chargebus/meters/grid", "chargebus/vehicles/ev", "chargebus/signals/dimming"],
        "charger-actuator": ["chargebus/chargers/1/status", "chargebus/events/command", "chargebus/ocpp/x"],
        "optimizer": ["chargebus/chargers/1/command", "chargebus/events/session"],
        "tariff-fetcher": ["chargebus/tariffs/grid", "chargebus/tariffs/planner"],
        "gateway": [f"chargebus/requests/{name}" for name in BUS_SERVICES] + ["chargebus/fleet/site"],
    }
    # (an empty payload is MQTT's erase: an owner may erase its own topics, so not on those; and `null`
    # on a /set is evcc's reset of an optional value, a valid command)
    hostile: list[bytes] = [HUGE.encode(), INVALID_UTF8, b"{}", b"[" * 10_000, b"\x00" * 64]
    async with _client(stack, "client") as client:
        for topic in sets:
            for payload in [*hostile, b""]:
                await client.publish(topic, payload, qos=1)
    for user, topics in internal.items():
        async with _client(stack, user) as owner:
            for topic in topics:
                for payload in hostile:
                    await owner.publish(topic, payload, qos=1)
    async with _client(stack, "gateway") as gateway:
        for reply_to in ("x/#", "", "chargebus/replies/+/x", "evcc/loadpoints/1/mode/set", "a" * 300):
            for service in ("optimizer", "tariff-fetcher", "meter-reader"):
                request = {"id": "w1", "reply_to": reply_to, "key": "loadpoints/1/plan", "value": "off"}
                await gateway.publish(f"chargebus/requests/{service}", json.dumps(request), qos=1)
    # every owner still answers its requests (REST setters → owner → reply)
    # 40 MB went to every subscriber of the tree: the first answers may take a moment on a busy machine
    assert (await http.post("/api/loadpoints/1/limitsoc/85", timeout=30)).status_code == 200
    assert (await http.post("/api/loadpoints/1/limitsoc/90")).status_code == 200
    assert (await http.get("/api/tariff/grid")).status_code == 200
    await wait_until(stack.charging_full, 10)
    assert stack.children() == pids, "nothing restarted"
    after, before = json.loads(stack.settings_file.read_text()), json.loads(settings_before)
    assert after == before, _diff(before, after)


async def test_a_forged_command_with_a_huge_seq_does_not_lock_out_the_optimizer(
    stack: FaultStack, http: httpx.AsyncClient
) -> None:
    """Before: one forged command with a huge seq made the actuator ignore every later optimizer command
    until the optimizer restarted. Now the optimizer's next command (issued later) takes over at once."""
    now = datetime.now(UTC)
    forged = ChargerCommand(
        epoch=2**62, seq=2**62, enabled=True, current_a=6, reason=CommandReason.API_TRIGGERED_COMMAND,
        issued_at=now, valid_until=now + timedelta(seconds=600),
    )  # fmt: skip
    async with _client(stack, "optimizer") as stranger:  # the demo's broker is anonymous: anyone could
        await stranger.publish("chargebus/chargers/1/command", forged.model_dump_json(), qos=1)
    await wait_until(lambda: _at(stack, 60), 10)  # the forged 6 A was applied …
    await wait_until(stack.charging_full, 10)  # … and the optimizer's 16 A is back within its next tick


async def _at(stack: FaultStack, deci_amps: int) -> bool:
    return (await stack.wallbox())[1] == deci_amps


async def test_sigstop_of_each_service(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """A stopped (hung) process: the optimizer's commands stop, so the charger goes to its failsafe
    before the last command's validity ends; the others are held for a moment and the system carries on
    once they resume — no restarts needed, nothing lost."""
    pids = stack.children()
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    stack.signal("optimizer", signal.SIGSTOP)
    try:
        await wait_until(stack.disabled, FAILSAFE_TIMEOUT_S + 2)
        # the command in force (3 s) expired before the failsafe timeout (4 s): the expiry decides
        assert loop.time() - stopped_at <= COMMAND_VALIDITY_S + 1.5
    finally:
        stack.signal("optimizer", signal.SIGCONT)
    await wait_until(stack.charging_full, 20)
    for name in ("charger-actuator", "meter-reader", "tariff-fetcher", "gateway"):
        stack.signal(name, signal.SIGSTOP)
        try:
            if name == "gateway":
                with pytest.raises(httpx.TimeoutException):
                    await http.get("/api/health", timeout=1)
            else:
                await asyncio.sleep(0.5)  # the fault is the passing of time while it is stopped
        finally:
            stack.signal(name, signal.SIGCONT)
        await stack.settled(http)
    assert stack.children() == pids, "a stopped process recovers by itself"


async def test_kill_9_of_each_service(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """kill -9 of every service (at once, to keep the suite short): the broker publishes the optimizer's
    will and the actuator goes to its failsafe at once, not after its timeout; the supervisor reaps each
    killed child and starts it again; the open session and the settings survive, nothing is written
    twice."""
    sessions_before = stack.rows("SELECT count(*) FROM sessions")[0][0]
    assert (await http.post("/api/loadpoints/1/limitsoc/87")).status_code == 200
    before = stack.children()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    for name in ("optimizer", "meter-reader", "tariff-fetcher", "gateway"):
        stack.signal(name, signal.SIGKILL)
    await wait_until(stack.disabled, FAILSAFE_TIMEOUT_S)
    assert loop.time() - killed_at < COMMAND_VALIDITY_S, "the will, not the expiry or the timeout"
    stack.signal("charger-actuator", signal.SIGKILL)

    def all_restarted() -> bool:
        now = stack.children()
        return all(now.get(name, before[name]) != before[name] for name in BUS_SERVICES)

    await wait_until(all_restarted, 20)
    await stack.settled(http, timeout=45)
    state = await stack.state(http)
    assert state["loadpoints"][0]["limitSoc"] == 87, "settings survive the restart"
    assert stack.rows("SELECT count(*) FROM sessions")[0][0] == sessions_before, "no session split or lost"
    assert (await http.post("/api/loadpoints/1/limitsoc/90")).status_code == 200


async def test_broker_restart(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """kill -9 of the broker: the demo used to leave a zombie and never start it again (68 "broker
    unreachable" lines). Now it is reaped and restarted on its port; every service reconnects (one line
    each when it goes, one when it is back) and the events queued meanwhile reach the gateway."""
    lines_before = stack.log().count("broker connection lost")
    stack.signal("broker", signal.SIGKILL)
    await wait_until(lambda: stack.log().count("broker reconnected") >= 5, 20)
    await stack.settled(http)
    log = stack.log()
    assert log.count("broker connection lost") - lines_before <= len(BUS_SERVICES)
    assert "broker still unreachable" not in log
    await _written_through(stack, http)  # the command log still fills


async def test_modbus_devices_that_stop_answering(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """Every device at once stops answering (the simulator is stopped): meters go stale and say so, the
    charger is unreachable and says so, nothing crashes; both recover when the devices answer again."""
    stack.signal("simulator", signal.SIGSTOP)
    try:

        async def errors_shown() -> bool:
            state = await stack.state(http)
            return bool(state.get("grid", {}).get("error")) and bool(
                state["loadpoints"][0].get("chargerError")
            )

        await wait_until(errors_shown, 15)
    finally:
        stack.signal("simulator", signal.SIGCONT)

    async def errors_cleared() -> bool:
        state = await stack.state(http)
        return not state.get("grid", {}).get("error") and not state["loadpoints"][0].get("chargerError")

    await wait_until(errors_cleared, 20)


async def test_a_full_or_read_only_data_folder(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """The disk with the gateway's database and the optimizer's settings fills up, then turns read-only.
    A setting still applies (in memory) and the optimizer's status says it is not persisted; the
    database write waits and is retried; once there is space the setting is saved and nothing is lost."""
    if not stack.store_mounted:
        pytest.skip("needs a tmpfs (root) to fill")
    filler = stack.store / "filler"
    with filler.open("wb") as file, pytest.raises(OSError):
        while True:
            file.write(b"\0" * 65536)
            file.flush()
            os.fsync(file.fileno())
    try:
        assert (await http.post("/api/loadpoints/1/limitsoc/81")).status_code == 200

        async def degraded() -> bool:
            problems = (await _optimizer_status(stack)).get("problems")
            return isinstance(problems, list) and any("not persisted" in str(p) for p in problems)

        await wait_until(degraded, 10)
    finally:
        filler.unlink()
    assert (await http.post("/api/loadpoints/1/limitsoc/82")).status_code == 200

    async def saved() -> bool:
        return _stored_limit_soc(stack) == 82

    await wait_until(saved, 10)
    await wait_until(lambda: _not_degraded(stack), 10)
    # read-only: a read-only bind over the folder (files already open stay writable, new ones — the
    # settings' replacement file, SQLite's journal — are refused, as after an emergency remount)
    await _mount("--bind", str(stack.store), str(stack.store))
    try:
        await _mount("-o", "remount,bind,ro", str(stack.store))
        assert (await http.post("/api/loadpoints/1/limitsoc/83")).status_code == 200
        await wait_until(degraded, 10)
    finally:
        await asyncio.to_thread(subprocess.run, ["umount", str(stack.store)], check=True)
    assert (await http.post("/api/loadpoints/1/limitsoc/90")).status_code == 200
    await wait_until(lambda: _not_degraded(stack), 10)
    await _written_through(stack, http)


def _stored_limit_soc(stack: FaultStack) -> int:
    return int(json.loads(stack.settings_file.read_text())["loadpoints"]["1"]["limit_soc"])


async def _mount(*args: str) -> None:
    await asyncio.to_thread(subprocess.run, ["mount", *args], check=True)


async def _optimizer_status(stack: FaultStack) -> dict[str, object]:
    async with _client(stack, "gateway") as client:
        await client.subscribe("chargebus/services/optimizer/status", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b"{}"
                value = json.loads(payload)
                return value if isinstance(value, dict) else {}
    return {}


async def _not_degraded(stack: FaultStack) -> bool:
    return not (await _optimizer_status(stack)).get("problems")


async def test_wall_clock_steps_and_a_dst_change(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """The wall clock of every process steps an hour ahead, then 37 days back to just before the end of
    DST (2026-10-25 01:00 UTC) and runs across it, then forward to real time again (NTP steps, each
    process noticing within its own second). Before: a step forward tripped the actuator's failsafe at
    once, a step back held it off for the size of the step. Now: no failsafe, the charging goes on and
    the state keeps updating."""
    if stack.clock_file is None:
        pytest.skip("needs libfaketime (Debian package faketime)")
    failsafes = _failsafes(stack)
    try:
        for offset in (3600.0, _offset_to(datetime(2026, 10, 25, 0, 59, 57, tzinfo=UTC))):
            stack.step_clock(offset)
            await asyncio.sleep(2.5)  # the fault is the time passing on the stepped clock (cached ≤ 1 s)
            # each process steps within its own second: the gateway may call the tree stale until the
            # optimizer's next heartbeat carries the new time
            await wait_until(lambda: stack.healthy(http), 10)
            await wait_until(stack.charging_full, 5)
    finally:
        stack.step_clock(0)
    await stack.settled(http)
    await _written_through(stack, http)
    assert _failsafes(stack) == failsafes + 0, "a clock step is no reason to stop charging"


def _offset_to(when: datetime) -> float:
    return (when - datetime.now(UTC)).total_seconds()


async def test_nothing_was_lost_or_written_twice(stack: FaultStack, http: httpx.AsyncClient) -> None:
    """After every fault: one open session for the one car still plugged in, every command log row
    once, and the settings as last set."""
    sessions = api_result(await http.get("/api/sessions"))
    assert isinstance(sessions, list) and len([s for s in sessions if not s.get("finished")]) <= 1
    ids = stack.rows("SELECT event_id FROM command_logs")
    assert len(ids) == len(set(ids)) and ids
    assert _stored_limit_soc(stack) == 90
    assert (await stack.state(http))["loadpoints"][0]["limitSoc"] == 90
    assert stack.proc.poll() is None


def _diff(before: object, after: object, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            d for k in before.keys() | after.keys() for d in _diff(before.get(k), after.get(k), f"{path}/{k}")
        ]
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]
