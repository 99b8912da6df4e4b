"""evcc's two state encoders (MQTT flattening, ``/api/state`` JSON) and the decoder back from topics.

Rules (reference §0.2, §1.3): MQTT floats ``%.3f`` with trailing zeros trimmed, booleans ``true``/``false``,
times unix seconds, nil as an empty payload; top-level 3-phase lists as ``/l1..l3`` plus the sum; lists as
a count plus ``/1..n``; structs and maps as sub-topics. The JSON encoder rounds top-level floats to three
decimals, writes times as RFC 3339 and leaves nested values as they are.

Everything here walks the pydantic schema in :mod:`shared.state`, so no service hand-formats a topic.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from shared.state import JsonString, Phases

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
        yield topic, json.dumps(_jsonable(value), separators=(",", ":"))
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


# --- /api/state JSON encoding ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def api_value(value: Any) -> Any:
    """evcc's state encoder, applied to one top-level value."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.astimezone().replace(microsecond=0).isoformat()
    return _jsonable(value)


def encode_api(model: BaseModel) -> dict[str, Any]:
    """The ``/api/state`` object for the set fields of a state model."""
    fields = type(model).model_fields
    return {
        json_key(name, fields[name]): api_value(getattr(model, name))
        for name in fields
        if name in model.model_fields_set
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
