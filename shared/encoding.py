"""evcc's two state encoders (MQTT flattening, ``/api/state`` JSON) and the decoder back from topics.

Rules (reference §0.2, §1.3): MQTT floats ``%.3f`` with trailing zeros trimmed, booleans ``true``/``false``,
times unix seconds, nil as an empty payload; top-level 3-phase lists as ``/l1..l3`` plus the sum; lists as
a count plus ``/1..n``; structs and maps as sub-topics. The JSON encoder rounds top-level floats to three
decimals, writes top-level times as RFC 3339 and nested values as Go's ``encoding/json`` does; one JSON
writer (:func:`go_json`) writes numbers the way Go does (``16``, never ``16.0``) without float noise.

Everything here walks the pydantic schema in :mod:`shared.state`, so no service hand-formats a topic.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from shared.state import ALWAYS, JsonString, Phases

PHASE_SUFFIXES = ("l1", "l2", "l3")
M = TypeVar("M", bound=BaseModel)


# --- MQTT encoding -------------------------------------------------------------------------------------


def format_float(value: float) -> str:
    """``%.3f`` with trailing zeros and dot trimmed, as evcc's MQTT publisher does."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def encode_scalar(value: Any) -> str:
    """One MQTT payload for a scalar value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    return str(value)


def mqtt_segment(name: str, info: FieldInfo) -> str:
    """The topic segment of a field: its validation alias if it has one, else its (Go-style) name."""
    return info.validation_alias if isinstance(info.validation_alias, str) else name


def json_key(name: str, info: FieldInfo) -> str:
    return info.serialization_alias or (info.alias if isinstance(info.alias, str) else None) or name


def _has_marker(info: FieldInfo | None, marker: type) -> bool:
    return info is not None and any(isinstance(m, marker) for m in info.metadata)


def _flatten(topic: str, value: Any, info: FieldInfo | None, top_level: bool) -> Iterator[tuple[str, str]]:
    if value is None:
        yield topic, ""
    elif top_level and _has_marker(info, Phases) and isinstance(value, list) and len(value) == 3:
        for suffix, phase_value in zip(PHASE_SUFFIXES, value, strict=True):
            yield f"{topic}/{suffix}", format_float(float(phase_value))
        yield topic, format_float(float(sum(value)))
    elif _has_marker(info, JsonString):
        yield topic, go_json(_jsonable(value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            if name in value.model_fields_set:
                sub_info = type(value).model_fields[name]
                yield from _flatten(
                    f"{topic}/{mqtt_segment(name, sub_info)}", getattr(value, name), sub_info, False
                )
    elif isinstance(value, (list, tuple)):
        yield topic, str(len(value))
        for index, item in enumerate(value, start=1):
            yield from _flatten(f"{topic}/{index}", item, None, False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{topic}/{key}", item, None, False)
    else:
        yield topic, encode_scalar(value)


def encode_mqtt(prefix: str, model: BaseModel) -> list[tuple[str, str]]:
    """Topics and payloads for the fields of ``model`` that were set, below ``prefix``."""
    fields = type(model).model_fields
    out: list[tuple[str, str]] = []
    for name in fields:
        if name in model.model_fields_set:
            info = fields[name]
            out.extend(_flatten(f"{prefix}/{mqtt_segment(name, info)}", getattr(model, name), info, True))
    return out


# --- JSON: Go's encoding/json and evcc's state encoder -------------------------------------------------

NOISE_DIGITS = 15
"""Significant digits kept of a float before it is written: float arithmetic noise (``0.2 + 0.027`` =
``0.22699999999999998``) is gone, every real digit of a reading or price stays."""


def denoise(value: float) -> float:
    """``value`` without float arithmetic noise (:data:`NOISE_DIGITS` significant digits)."""
    if not math.isfinite(value):
        return value
    clean = float(f"{value:.{NOISE_DIGITS}g}")
    return clean if math.isfinite(clean) else value  # the largest floats would round up to infinity


def round_evcc(value: float) -> float:
    """evcc's top-level rounding, ``math.Round(v*1e3)/1e3`` (halves away from zero, as Go rounds)."""
    scaled = value * 1e3
    if not math.isfinite(scaled):  # beyond ±1.8e305: nothing after the point to round
        return value
    whole = float(math.trunc(scaled))
    if abs(scaled - whole) >= 0.5:
        whole += math.copysign(1.0, scaled)
    return whole / 1e3


def go_float(value: float) -> str:
    """A float64 as Go's ``encoding/json`` writes it: the shortest digits that read back as the same float,
    plain below 1e21 and from 1e-6 (``16``, ``0.227``, ``0.000001``), else exponent form (``1e-7``,
    ``1e+21``)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not representable in JSON")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    exact = Decimal(repr(value)).normalize()
    if 1e-6 <= abs(value) < 1e21:
        return format(exact, "f")
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    # Go pads a positive exponent to two digits and trims a negative one (``e-07`` → ``e-7``)
    exponent_text = f"-{-power}" if power < 0 else f"+{power:02d}"
    return f"{'-' if sign else ''}{mantissa}e{exponent_text}"


def go_time(value: datetime, *, nano: bool = True) -> str:
    """RFC 3339 in UTC with ``Z``, as Go formats a UTC time: ``time.RFC3339Nano`` (fraction without trailing
    zeros) for nested times, ``time.RFC3339`` (whole seconds) for evcc's top-level state values."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and utc.microsecond:
        text += ("." + f"{utc.microsecond:06d}").rstrip("0")
    return text + "Z"


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    for char, escape in _HTML_ESCAPES.items():
        quoted = quoted.replace(char, escape)
    return quoted


def _go_json(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, Enum):
        _go_json(value.value, out)
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(go_float(denoise(value)) if math.isfinite(value) else "null")
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, datetime):
        out.append(_go_string(go_time(value)))
    elif isinstance(value, BaseModel):
        _go_json(_jsonable(value), out)
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_go_string(str(key)))
            out.append(":")
            _go_json(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _go_json(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")


def go_json(value: Any) -> str:
    """``value`` as Go's ``json.Marshal`` writes it (compact, HTML-safe escapes, Go number and time
    forms, floats without noise, NaN/Inf as ``null`` like evcc's encoder). The one JSON writer of the evcc
    API: ``/api/...`` bodies, ``/ws`` frames and MQTT's JSON-string values all go through it."""
    out: list[str] = []
    _go_json(value, out)
    return "".join(out)


def _jsonable(value: Any) -> Any:
    """A nested value as Go's ``encoding/json`` sees it (JSON tags as keys, RFC3339Nano times)."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {
            json_key(name, fields[name]): _jsonable(getattr(value, name))
            for name in fields
            if name in value.model_fields_set
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return go_time(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def api_value(value: Any) -> Any:
    """evcc's state encoder, applied to one top-level value: floats rounded to 3 decimals (NaN/Inf →
    null), times RFC 3339 in whole seconds; nested values as Go's encoding/json writes them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return round_evcc(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return go_time(value, nano=False)
    return _jsonable(value)


def ws_value(value: Any) -> Any:
    """A top-level value on ``/ws``: evcc encodes each element of a top-level list on its own, so list
    elements are rounded like top-level values there (not in ``/api/state``)."""
    if isinstance(value, list):
        return [api_value(v) for v in value]
    return value


def always_present(info: FieldInfo) -> bool:
    """evcc's state always carries this key: ``null`` when there is no value, never left out."""
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get(ALWAYS) is True


def encode_api(model: BaseModel) -> dict[str, Any]:
    """The ``/api/state`` object for the set fields of a state model (and ``null`` for the unset fields
    evcc always carries)."""
    fields = type(model).model_fields
    return {
        json_key(name, info): api_value(getattr(model, name))
        for name, info in fields.items()
        if name in model.model_fields_set or always_present(info)
    }


# --- decoding from topics -------------------------------------------------------------------------------


class Missing:
    """The type of :data:`MISSING`: no topic holds a value for the field."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _decode_scalar(kind: Any, payload: str) -> Any:
    if payload == "":
        return None
    if kind is bool:
        return payload.lower() in ("true", "1", "t")
    if kind is int:
        return int(float(payload))
    if kind is float:
        return float(payload)
    if kind is datetime:
        return datetime.fromtimestamp(int(float(payload)), tz=UTC)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(payload)
    return payload


def _children(topics: Mapping[str, str], prefix: str) -> list[str]:
    """Distinct next segments below ``prefix`` (map keys)."""
    start = prefix + "/"
    seen: dict[str, None] = {}
    for topic in topics:
        if topic.startswith(start):
            seen.setdefault(topic[len(start) :].split("/", 1)[0], None)
    return list(seen)


def _has_below(topics: Mapping[str, str], prefix: str) -> bool:
    start = prefix + "/"
    return any(t.startswith(start) for t in topics)


def decode_value(annotation: Any, info: FieldInfo | None, topics: Mapping[str, str], topic: str) -> Any:
    """The value stored at ``topic`` (and below) for a field of type ``annotation``, or ``MISSING``."""
    kind = _strip_optional(annotation)
    origin = get_origin(kind)
    if _has_marker(info, Phases):
        if any(f"{topic}/{s}" in topics for s in PHASE_SUFFIXES):
            return [float(topics.get(f"{topic}/{s}") or 0) for s in PHASE_SUFFIXES]
        return None if topics.get(topic, MISSING) == "" else MISSING
    if _has_marker(info, JsonString):
        raw = topics.get(topic)
        return MISSING if raw is None else (json.loads(raw) if raw else None)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        if _has_below(topics, topic):
            return decode_fields(kind, topics, topic)
        return None if topics.get(topic, MISSING) == "" else MISSING
    if origin in (list, tuple):
        count = topics.get(topic)
        if not count:
            return MISSING if count is None else None
        (item_type,) = get_args(kind)[:1]
        items = []
        for index in range(1, int(count) + 1):
            item = decode_value(item_type, None, topics, f"{topic}/{index}")
            items.append(None if item is MISSING else item)
        return items
    if origin is dict:
        _, item_type = get_args(kind)
        keys = _children(topics, topic)
        if not keys:
            return MISSING
        return {
            k: v for k in keys if (v := decode_value(item_type, None, topics, f"{topic}/{k}")) is not MISSING
        }
    payload = topics.get(topic, MISSING)
    if payload is MISSING:
        return MISSING
    try:
        return _decode_scalar(kind, str(payload))
    except (ValueError, TypeError):
        return MISSING


def decode_fields(
    model: type[BaseModel], topics: Mapping[str, str], prefix: str, *, skip_bad: bool = False
) -> dict[str, Any]:
    """Raw field values (by field name) of ``model`` found below ``prefix``; with ``skip_bad`` a field whose
    payload cannot be decoded is left out instead of raising."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        try:
            value = decode_value(info.annotation, info, topics, f"{prefix}/{mqtt_segment(name, info)}")
        except (ValueError, TypeError, KeyError):
            if not skip_bad:
                raise
            continue
        if value is not MISSING:
            out[name] = value
    return out


def decode_model(model: type[M], topics: Mapping[str, str], prefix: str) -> M:
    """A partial state model holding exactly the fields present below ``prefix``."""
    return model.model_validate(decode_fields(model, topics, prefix))
