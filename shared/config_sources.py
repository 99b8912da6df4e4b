"""Configuration of values read from and written to MQTT topics and HTTP endpoints (evcc's custom devices).

A *source* yields one value: the payload of an MQTT topic or the body of an HTTP response, reduced by a
jq expression (run in :mod:`shared.jq_sandbox`), times ``scale``. An MQTT value is stale ``timeout_s``
after it arrived; an HTTP value is fetched at most every ``interval_s`` (one request serves every source
of the same URL). A *setter* writes one value: an MQTT publish or an HTTP request, with ``${value}`` in the
topic's payload, the URL or the body replaced by the value written.

Everything is checked at load time — jq syntax, URLs, topics, placeholders — so a bad source refuses to
start with the path of its key.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
VALUE = "value"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_jq(program: str | None) -> str | None:
    if program is None:
        return None
    from shared.jq_sandbox import JqError, check_syntax

    try:
        check_syntax(program, max_chars=2048)
    except JqError as error:
        raise ValueError(str(error)) from None
    return program


def _only_value_placeholder(text: str) -> str:
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(text)} - {VALUE})
    if unknown:
        raise ValueError(f"unknown placeholder ${{{unknown[0]}}} (only ${{value}} is replaced)")
    return text


def _topic(topic: str) -> str:
    if not topic or len(topic) > 256 or any(c in topic for c in "+#\x00"):
        raise ValueError("an MQTT topic without wildcards, at most 256 characters")
    return topic


_BLOCKED_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
"""Link-local: cloud metadata services (169.254.169.254) answer there, never a wallbox or a meter."""


def check_url(url: str) -> str:
    """An http(s) URL of a device: LAN and loopback addresses are what devices have; link-local ones and
    credentials in the URL are refused (headers carry secrets, from the environment)."""
    parts = urlsplit(url.replace("${value}", "0"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("no credentials in the URL (use headers with password_env)")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if any(address in network for network in _BLOCKED_NETWORKS):
        raise ValueError(f"link-local address {address} is not a device")
    return url


class MqttBroker(Strict):
    """Another broker than chargebus' own (``mqtt:``), e.g. the one a Tasmota or OpenDTU publishes to."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    user: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    """Environment variable with the password."""


class MqttSource(Strict):
    source: Literal["mqtt"]
    topic: str
    jq: str | None = None
    """Applied to the payload parsed as JSON (a bare number or word is JSON too); unset = the payload."""
    scale: float = 1.0
    timeout_s: float | None = Field(default=60.0, gt=0)
    """The value is stale this long after the last message (``null`` = never)."""
    broker: MqttBroker | None = None

    _topic = field_validator("topic")(_topic)
    _jq = field_validator("jq")(_check_jq)


class HttpSource(Strict):
    source: Literal["http"]
    uri: str = Field(max_length=2048)
    method: Literal["GET", "POST", "PUT"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, max_length=16)
    """Header values may name an environment variable as ``${env:NAME}`` (tokens stay out of the file)."""
    body: str | None = Field(default=None, max_length=8192)
    jq: str | None = None
    scale: float = 1.0
    interval_s: float = Field(default=1.0, gt=0)
    """Fetch at most this often; sources of the same request share one answer."""
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    _uri = field_validator("uri")(check_url)
    _jq = field_validator("jq")(_check_jq)


class ConstSource(Strict):
    source: Literal["const"]
    value: float | bool | str


Source = Annotated[MqttSource | HttpSource | ConstSource, Field(discriminator="source")]


class ValueFormat(Strict):
    """How a written value becomes text: booleans as ``true``/``false`` words, numbers with decimals."""

    true: str = "true"
    false: str = "false"
    decimals: int | None = Field(default=None, ge=0, le=6)
    """Digits after the point; unset = as short as exact (16, 6.5)."""
    scale: float = 1.0
    """Written = value × scale (e.g. 1000 for mA)."""
    map: dict[str, str] | None = Field(default=None, max_length=32)
    """The text written for each formatted value (go-e: phases ``1`` → ``1``, ``3`` → ``2``)."""


class MqttSetter(Strict):
    source: Literal["mqtt"]
    topic: str
    payload: str = Field(default="${value}", max_length=1024)
    retain: bool = False
    broker: MqttBroker | None = None
    format: ValueFormat = Field(default_factory=ValueFormat)

    _topic = field_validator("topic")(_topic)
    _payload = field_validator("payload")(_only_value_placeholder)


class HttpSetter(Strict):
    source: Literal["http"]
    uri: str = Field(max_length=2048)
    method: Literal["GET", "POST", "PUT"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, max_length=16)
    body: str | None = Field(default=None, max_length=8192)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    format: ValueFormat = Field(default_factory=ValueFormat)

    _uri = field_validator("uri")(lambda v: check_url(_only_value_placeholder(v)))
    _body = field_validator("body")(lambda v: v if v is None else _only_value_placeholder(v))


Setter = Annotated[MqttSetter | HttpSetter, Field(discriminator="source")]
