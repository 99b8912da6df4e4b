"""MQTT and HTTP sources and setters: method, headers (tokens from the environment), body, jq, scale, the
shared request cache, ${value} in writes — and configurations that refuse to start, naming the key."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.config import ConfigError, MqttSettings, parse_config
from shared.config_sources import HttpSetter, HttpSource, MqttSetter, MqttSource
from shared.devices.values import Reader, Writer
from tests.support.broker import free_port, wait_for
from tests.support.devices import io_for
from tests.support.probe import Probe


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def echo(request: Request) -> Response:
        body = (await request.body()).decode()
        seen.append({"method": request.method, "path": request.url.path, "query": dict(request.query_params),
                     "auth": request.headers.get("authorization"), "body": body})  # fmt: skip
        if request.url.path == "/missing":
            return JSONResponse({"error": "nope"}, status_code=404)
        return JSONResponse({"reading": {"w": 1234.5, "on": True}, "echo": body})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT"])]),
                       host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.should_exit = True
        await task


async def test_http_source_with_method_headers_body_jq_and_scale(
    mqtt_settings: MqttSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVICE_TOKEN", "t0ken")
    async with echo_server() as (url, seen), io_for(mqtt_settings) as io:
        source = HttpSource(
            source="http", uri=f"{url}/api", method="POST",
            headers={"Authorization": "Bearer ${env:DEVICE_TOKEN}"},
            body='{"query": "power"}', jq=".reading.w", scale=0.001,
        )  # fmt: skip
        power = Reader(source, io, "m.power")
        switch = Reader(source.model_copy(update={"jq": ".reading.on", "scale": 1.0}), io, "m.on")
        assert await power.number() == pytest.approx(1.2345)
        assert await switch.flag() is True
        assert len(seen) == 1, "one request serves every source of it"
        assert seen[0]["method"] == "POST" and seen[0]["auth"] == "Bearer t0ken"
        assert seen[0]["body"] == '{"query": "power"}'
        missing = Reader(HttpSource(source="http", uri=f"{url}/missing", jq=".w"), io, "m.x")
        with pytest.raises(Exception, match="HTTP 404"):
            await missing.number()
        text = Reader(HttpSource(source="http", uri=f"{url}/api", jq=".reading"), io, "m.y")
        with pytest.raises(Exception, match="is not a number"):
            await text.number()


async def test_setters_fill_in_the_value(mqtt_settings: MqttSettings, probe: Probe) -> None:
    async with echo_server() as (url, seen), io_for(mqtt_settings) as io:
        http = Writer(
            HttpSetter(source="http", uri=f"{url}/set?amp=${{value}}", method="PUT", body='{"amp": ${value}}',
                       format={"decimals": 1}),
            io, "c.current",
        )  # fmt: skip
        await http.write(7.25)
        assert seen[-1]["query"] == {"amp": "7.2"} and json.loads(seen[-1]["body"]) == {"amp": 7.2}
        mqtt = Writer(
            MqttSetter(source="mqtt", topic=f"{mqtt_settings.internal}/wb/enable", payload='{"on": ${value}}',
                       format={"true": "1", "false": "0"}),
            io, "c.enable",
        )  # fmt: skip
        # a subscription makes the hub connect to the broker
        Reader(MqttSource(source="mqtt", topic="wb/state"), io, "c.state")
        async with io.mqtt:
            await io.mqtt.wait_connected(10)
            await mqtt.write(True)
            assert await probe.wait_value(
                f"{mqtt_settings.internal}/wb/enable", lambda v: v == '{"on": 1}', timeout=5
            )


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ({"source": "mqtt", "topic": "a/+/b"}, "meters.0.sources.power.mqtt.topic"),
        ({"source": "mqtt", "topic": "a", "jq": ".x |"}, "meters.0.sources.power.mqtt.jq"),
        ({"source": "mqtt", "topic": "a", "timeout_s": 0}, "meters.0.sources.power.mqtt.timeout_s"),
        ({"source": "http", "uri": "ftp://device/x"}, "meters.0.sources.power.http.uri"),
        ({"source": "http", "uri": "http://user:pw@device/x"}, "meters.0.sources.power.http.uri"),
        (
            {"source": "http", "uri": "http://device/x", "method": "DELETE"},
            "meters.0.sources.power.http.method",
        ),
        ({"source": "http", "uri": "http://device/x", "interval": 1}, "meters.0.sources.power.http.interval"),
        ({"source": "snmp", "oid": "1.3.6"}, "meters.0.sources.power"),
    ],
)
def test_a_bad_source_refuses_to_start_naming_its_key(source: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(
            {"meters": [{"name": "m", "type": "custom", "usage": "grid", "sources": {"power": source}}]}
        )


@pytest.mark.parametrize(
    ("charger", "message"),
    [
        ({"template": "goe"}, "parameter 'host' is required"),
        ({"template": "goe", "params": {"host": "x/../y"}}, "'host' is not a valid host"),
        ({"template": "goe", "params": {"host": "a", "port": 1}}, "unknown parameter 'port'"),
        ({"template": "shelly-3em", "params": {"host": "a"}}, "is a meter, not a charger"),
        ({"template": "goe", "type": "alfen", "params": {"host": "a"}},
         "a template is type custom"),
        ({"type": "custom", "sources": {"status": {"source": "const", "value": "A"}}},
         "needs sources and setters"),
        ({"type": "custom", "sources": {"status": {"source": "const", "value": "A"}},
          "setters": {"enable": {"source": "mqtt", "topic": "x", "payload": "${amps}"},
                      "current": {"source": "mqtt", "topic": "y"}}}, "unknown placeholder"),
    ],
)  # fmt: skip
def test_bad_charger_templates_and_setters_are_refused(charger: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"chargers": [{"name": "c", **charger}]})
