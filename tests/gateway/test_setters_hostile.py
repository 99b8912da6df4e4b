"""Every writable key × (valid, boundary, out of range, wrong type, 1 MB, invalid UTF-8) on REST and MQTT
against the real optimizer: valid values are applied, everything else is refused (REST 400, MQTT ignored
and logged) with nothing stored, and the control cycle keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from services.optimizer.service import run
from shared.bus import MAX_PAYLOAD_BYTES
from shared.config import Config, MqttSettings
from shared.messages import ChargerCommand, ChargerStatus, ChargeStatus
from shared.setters.table import (
    OPTIMIZER,
    WRITABLE,
    Body,
    GoalParams,
    Param,
    Reset,
    Rest,
    Writable,
    rest_routes,
)
from shared.topics import Topics
from tests.gateway.conftest import RunningGateway, gateway_config
from tests.support.probe import Probe
from tests.support.setter_cases import (
    BAD_TIMES,
    CASES,
    FUTURE,
    GOAL_AMOUNTS,
    HUGE,
    INVALID_UTF8,
    LONG_PATH_VALUE,
)

TARGETS = {"loadpoints": "1", "vehicles": "ev1"}


def stored_settings(config: Config) -> Any:
    return json.loads(Path(config.optimizer.state_file).read_bytes())


def with_battery(config: Config, tmp_path: Path) -> Config:
    """A home with a battery (so the battery keys apply), a fast tick and its own settings file."""
    optimizer = config.optimizer.model_copy(
        update={"interval_s": 0.5, "state_file": str(tmp_path / "optimizer.json")}
    )
    return config.model_copy(
        update={"site": config.site.model_copy(update={"battery": ["battery"]}), "optimizer": optimizer}
    )


@pytest.fixture
def config(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return with_battery(gateway_config(mqtt_settings, tmp_path), tmp_path)


@contextlib.asynccontextmanager
async def optimizer(config: Config) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def connected_charger(probe: Probe, config: Config) -> None:
    status = ChargerStatus(loadpoint=1, charger="wallbox", status=ChargeStatus.B, enabled=False)
    topic = Topics(config.mqtt.internal).charger_status(1)
    await probe.publish(topic, status.model_dump_json(), retain=True)


def commands(probe: Probe, config: Config) -> list[ChargerCommand]:
    topic = Topics(config.mqtt.internal).charger_command(1)
    return [ChargerCommand.model_validate_json(p) for t, p in probe.history if t == topic and p]


async def the_cycle_keeps_running(probe: Probe, config: Config, set_mode_now: Any) -> None:
    """Mode now → the next cycle commands the charger on at the configured maximum."""
    seen = len(commands(probe, config))
    await set_mode_now()
    await probe.wait(lambda _v: any(c.enabled for c in commands(probe, config)[seen:]))


# --- REST ----------------------------------------------------------------------------------------------


def optimizer_routes() -> list[tuple[Writable, Rest]]:
    """The routes of the optimizer's keys (the meter-reader's pushed SoC: tests/meter_reader)."""
    return [(entry, route) for entry, route in rest_routes() if entry.owner == OPTIMIZER]


def url(route: Rest, entry: Writable, **values: str) -> str:
    path = route.path
    if entry.scope == "vehicles":
        path = path.replace("{name}", TARGETS["vehicles"])
    path = path.replace("{id}", TARGETS["loadpoints"])
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return "/api" + path


def valid_request(entry: Writable, route: Rest) -> tuple[str, str, Any]:
    """(method, url, body) with the key's first valid value."""
    spec = route.value
    if isinstance(spec, Reset):
        return route.method, url(route, entry), None
    if isinstance(spec, Body):
        return route.method, url(route, entry), json.loads(CASES[(entry.scope, entry.key)].valid[0])
    if isinstance(spec, GoalParams):
        amount = GOAL_AMOUNTS[spec.amount].valid[0]
        return route.method, url(route, entry, **{spec.amount: amount, spec.time: FUTURE}), None
    assert isinstance(spec, Param)
    return route.method, url(route, entry, **{spec.name: CASES[(entry.scope, entry.key)].valid[0]}), None


def bad_requests(entry: Writable, route: Rest) -> Sequence[tuple[str, str, bytes | None]]:
    method: str = route.method
    """(method, url, raw body) for every refused value of the route's key."""
    spec = route.value
    cases = CASES[(entry.scope, entry.key)]
    if isinstance(spec, Body):
        return [(method, url(route, entry), raw.encode()) for raw in (*cases.bad, HUGE)]
    if isinstance(spec, GoalParams):
        amounts = GOAL_AMOUNTS[spec.amount]
        out = [
            (method, url(route, entry, **{spec.amount: bad, spec.time: FUTURE}), None) for bad in amounts.bad
        ]
        out += [
            (method, url(route, entry, **{spec.amount: amounts.valid[0], spec.time: bad}), None)
            for bad in BAD_TIMES
        ]
        good = url(route, entry, **{spec.amount: amounts.valid[0], spec.time: FUTURE})
        return out + [(method, f"{good}?precondition={bad}", None) for bad in ("-5", "86401", "x")]
    if isinstance(spec, Param):
        bad_values = (*cases.bad, LONG_PATH_VALUE)
        return [(method, url(route, entry, **{spec.name: bad}), None) for bad in bad_values]
    return []


async def test_every_rest_setter_applies_valid_and_refuses_bad_values(
    gateway: RunningGateway, config: Config, probe: Probe
) -> None:
    async with optimizer(config):
        await gateway.store.wait_for(lambda s: s.service_online("optimizer") is True, timeout=15)
        await connected_charger(probe, config)
        for entry, route in optimizer_routes():
            method, path, body = valid_request(entry, route)
            response = await gateway.client.request(method, path, json=body)
            assert response.status_code == 200, (path, response.text)
        stored = stored_settings(config)
        for entry, route in optimizer_routes():
            for method, path, raw in bad_requests(entry, route):
                headers = {"content-type": "application/json"} if raw is not None else {}
                response = await gateway.client.request(method, path, content=raw, headers=headers)
                shown = path[:120]
                if LONG_PATH_VALUE in path:
                    assert 400 <= response.status_code < 500, shown  # the server may refuse the URL itself
                elif "%2F" in path or route.value == Param("name"):
                    # a "/" in a value is another route; a malformed vehicle name is no vehicle (as evcc)
                    assert response.status_code == 404, shown
                elif raw is not None and len(raw) > config.gateway.max_body_bytes:
                    assert response.status_code == 413, shown  # refused before any setter sees it
                else:
                    assert response.status_code == 400, (shown, response.text[:200])
                    assert response.json()["error"], shown
        assert stored_settings(config) == stored

        # the reproduction: huge values never reach the cycle
        for bad in ("maxcurrent/1e30", "limitenergy/1e307", "mincurrent/5.9", "maxcurrent/80.5"):
            refused = await gateway.client.post(f"/api/loadpoints/1/{bad}")
            assert refused.status_code == 400, bad
        assert (await gateway.client.post("/api/loadpoints/1/maxcurrent/80")).status_code == 200

        async def mode_now() -> None:
            assert (await gateway.client.post("/api/loadpoints/1/mode/now")).status_code == 200

        with capture_logs() as logs:
            await the_cycle_keeps_running(probe, config, mode_now)
        assert not [line for line in logs if line["event"] == "control cycle failed"]


# --- MQTT ----------------------------------------------------------------------------------------------


def topic(config: Config, entry: Writable, name: str) -> str:
    target = TARGETS.get(entry.scope)
    path = f"site/{name}" if target is None else f"{entry.scope}/{target}/{name}"
    return f"{config.mqtt.topic}/{path}/set"


async def test_every_mqtt_setter_applies_valid_and_ignores_bad_values(config: Config, probe: Probe) -> None:
    mqtt_keys = [entry for entry in WRITABLE if entry.mqtt and entry.owner == OPTIMIZER]
    async with optimizer(config):
        await probe.wait_state("status", lambda v: v == "online")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        await connected_charger(probe, config)
        with capture_logs() as logs:
            for entry in mqtt_keys:
                await probe.publish(topic(config, entry, entry.key), CASES[(entry.scope, entry.key)].valid[0])
            for alias, text in (("phases", "3"), ("targetSoc", "70"), ("targetEnergy", "5")):  # older evcc
                await probe.set(f"loadpoints/1/{alias}", text)
            await probe.set("loadpoints/1/limitSoc", "77")  # handled in order: the last one proves the rest
            await probe.wait_state("loadpoints/1/limitSoc", lambda v: v == "77")
        changed = [line["key"] for line in logs if line["event"] == "setting changed"]
        rejected = [(line["key"], line["reason"]) for line in logs if line["event"] == "setting rejected"]
        assert rejected == []
        assert set(changed) >= {
            f"{e.scope}/{TARGETS.get(e.scope, '')}/{e.key}".replace("//", "/") for e in mqtt_keys
        }
        assert changed[-4:-1] == [  # the older names change the keys they name
            "loadpoints/1/phasesConfigured",
            "loadpoints/1/limitSoc",
            "loadpoints/1/limitEnergy",
        ]

        stored = stored_settings(config)
        bad_payloads: list[tuple[str, str | bytes]] = []
        for entry in mqtt_keys:
            payloads: list[str | bytes] = [*CASES[(entry.scope, entry.key)].bad, HUGE, INVALID_UTF8]
            bad_payloads += [(topic(config, entry, name), bad) for name in entry.names() for bad in payloads]
        with capture_logs() as logs:
            for set_topic, payload in bad_payloads:
                await probe.publish(set_topic, payload)
            await probe.set("loadpoints/1/limitSoc", "78")
            await probe.wait_state("loadpoints/1/limitSoc", lambda v: v == "78")
        refused = [line for line in logs if line["event"] == "setting rejected"]
        # the bus drops payloads over its size limit before any setter parses them (one throttled line)
        oversized = [payload for _, payload in bad_payloads if len(payload) > MAX_PAYLOAD_BYTES]
        dropped = [line for line in logs if line["event"] == "message ignored" and "exceeds" in line["error"]]
        assert len(refused) == len(bad_payloads) - len(oversized)
        assert dropped and oversized
        assert all(len(line["value"]) < 200 for line in refused)  # never the whole payload
        after = stored_settings(config)
        after["loadpoints"]["1"]["limit_soc"] = stored["loadpoints"]["1"]["limit_soc"]
        assert after == stored

        async def mode_now() -> None:
            await probe.set("loadpoints/1/mode", "now")

        with capture_logs() as logs:
            await the_cycle_keeps_running(probe, config, mode_now)
        assert not [line for line in logs if line["event"] == "control cycle failed"]
