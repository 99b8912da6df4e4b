"""One configured source or setter made live: MQTT or HTTP underneath, jq in the sandbox, scale on top.

``Reader.number()`` / ``text()`` / ``flag()`` read one value in the type the key needs and raise a
:class:`DeviceError` (stale, unreachable, not a number, not finite) — never hand out something made up.
``Writer.write(value)`` formats the value (``true``/``false`` words, decimals, a map) and sends it.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.config import MqttSettings
from shared.config_sources import (
    PLACEHOLDER,
    ConstSource,
    HttpSetter,
    HttpSource,
    MqttSetter,
    MqttSource,
    Setter,
    Source,
    ValueFormat,
)
from shared.devices.errors import DeviceError
from shared.devices.http import HttpDevices
from shared.devices.mqtt import MqttHub
from shared.devices.source import Latest
from shared.jq_sandbox import JqError, JqSandbox

_JQ_CACHE = 256


@dataclass
class DeviceIO:
    """What live sources and setters of one service share."""

    mqtt: MqttHub
    http: HttpDevices
    jq: JqSandbox

    def __post_init__(self) -> None:
        self._results: OrderedDict[tuple[str, bytes], Any] = OrderedDict()

    async def evaluate(self, program: str, payload: bytes) -> Any:
        """``program`` on the JSON ``payload``, in the sandbox; the same program on the same payload (ten
        values of one Shelly answer, an unchanged MQTT payload) is evaluated once."""
        key = (program, payload)
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        try:
            result = await self.jq.one(program, payload)
        except JqError as error:
            raise DeviceError(str(error)) from None
        self._results[key] = result
        if len(self._results) > _JQ_CACHE:
            self._results.popitem(last=False)
        return result

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.jq.aclose()


def device_io(mqtt: MqttSettings, service: str) -> DeviceIO:
    """The device I/O of a service: MQTT clients connect only for the topics its sources subscribe, the jq
    worker starts on first use and exits when idle."""
    return DeviceIO(MqttHub(mqtt, service), HttpDevices(), JqSandbox(workers=1, queue=64, idle_s=300.0))


def _plain(payload: bytes) -> Any:
    """A payload without jq: JSON if it is (a bare number is), else its text."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


class Reader:
    """One source; for MQTT the subscription is made when the reader is built (before the hub connects)."""

    def __init__(self, source: Source, io: DeviceIO, what: str) -> None:
        self.source = source
        self.io = io
        self.what = what
        self._latest: Latest[bytes] | None = None
        if isinstance(source, MqttSource):
            self._latest = io.mqtt.subscribe(source.topic, source.timeout_s, source.broker)

    async def raw(self) -> Any:
        source = self.source
        if isinstance(source, ConstSource):
            return source.value
        if isinstance(source, MqttSource):
            assert self._latest is not None
            payload = self._latest.get()
        else:
            assert isinstance(source, HttpSource)
            payload = await self.io.http.fetch(
                source.method,
                source.uri,
                headers=source.headers,
                body=source.body,
                max_age_s=source.interval_s,
                timeout_s=source.timeout_s,
            )
        if source.jq is None:
            return _plain(payload)
        try:
            json.loads(payload)
        except ValueError:
            raise DeviceError(f"{self.what}: the payload is not JSON") from None
        return await self.io.evaluate(source.jq, payload)

    @property
    def scale(self) -> float:
        return 1.0 if isinstance(self.source, ConstSource) else self.source.scale

    async def number(self) -> float:
        value = await self.raw()
        if isinstance(value, bool) or value is None:
            raise DeviceError(f"{self.what}: {json.dumps(value)} is not a number")
        try:
            number = float(value) * self.scale
        except (TypeError, ValueError):
            raise DeviceError(f"{self.what}: {json.dumps(value)[:40]} is not a number") from None
        if not math.isfinite(number):
            raise DeviceError(f"{self.what}: {number} is not a finite number")
        return number

    async def text(self) -> str:
        value = await self.raw()
        if value is None or isinstance(value, (dict, list)):
            raise DeviceError(f"{self.what}: {json.dumps(value)[:40]} is no text")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)[:256]

    async def flag(self) -> bool:
        value = await self.raw()
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in (
            "true",
            "on",
            "1",
            "yes",
            "false",
            "off",
            "0",
            "no",
        ):
            return value.strip().lower() in ("true", "on", "1", "yes")
        raise DeviceError(f"{self.what}: {json.dumps(value)[:40]} is not true or false")


def format_value(value: float | bool, fmt: ValueFormat) -> str:
    if isinstance(value, bool):
        text = fmt.true if value else fmt.false
    else:
        number = value * fmt.scale
        if fmt.decimals is not None:
            text = f"{number:.{fmt.decimals}f}"
        else:
            text = f"{number:.6f}".rstrip("0").rstrip(".")
    if fmt.map is not None:
        if text not in fmt.map:
            raise DeviceError(f"{text} has no device value (map: {', '.join(fmt.map)})")
        text = fmt.map[text]
    return text


class Writer:
    def __init__(self, setter: Setter, io: DeviceIO, what: str) -> None:
        self.setter = setter
        self.io = io
        self.what = what

    async def write(self, value: float | bool) -> None:
        setter = self.setter
        text = format_value(value, setter.format)

        def fill(template: str) -> str:
            return PLACEHOLDER.sub(lambda _: text, template)

        if isinstance(setter, MqttSetter):
            await self.io.mqtt.publish(
                setter.topic, fill(setter.payload), retain=setter.retain, broker=setter.broker
            )
            return
        assert isinstance(setter, HttpSetter)
        await self.io.http.request(
            setter.method,
            PLACEHOLDER.sub(lambda _: quote(text, safe=""), setter.uri),
            headers=setter.headers,
            body=fill(setter.body) if setter.body is not None else None,
            timeout_s=setter.timeout_s,
        )
