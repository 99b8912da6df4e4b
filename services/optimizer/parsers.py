"""Value parsers of the setter table, accepting MQTT text payloads and JSON request values alike.

They follow evcc's parsers (reference §1.7): float rejects NaN/Inf, int accepts only whole numbers,
bool the usual spellings, durations integer seconds, mode case-insensitive, and the sentinels ``-``,
``nil``, ``null``, ``none`` (or a JSON ``null``) reset optional values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.state import BatteryMode, ChargeMode

T = TypeVar("T")

SENTINELS = frozenset({"-", "nil", "null", "none"})
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


class Invalid(ValueError):
    """A setter value was rejected; the message is the reason shown to the user."""

    def __init__(self, reason: str, code: int = 400) -> None:
        super().__init__(reason)
        self.code = code


def is_reset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in SENTINELS)


def parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise Invalid(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and _FLOAT.match(value.strip()):
        number = float(value.strip())
    else:
        raise Invalid(f"not a number: {value!r}")
    if not math.isfinite(number):
        raise Invalid(f"not a finite number: {value!r}")
    return number


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    raise Invalid(f"not an integer: {value!r}")


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid(f"not a boolean: {value!r}")


def parse_mode(value: Any) -> ChargeMode:
    if isinstance(value, str):
        try:
            return ChargeMode(value.strip().lower())
        except ValueError:
            pass
    raise Invalid(f"invalid mode {value!r}: expected off, now, minpv or pv")


def parse_battery_mode(value: Any) -> BatteryMode:
    if isinstance(value, str) and value.strip().lower() in {"normal", "hold", "charge", "holdcharge"}:
        return BatteryMode(value.strip().lower())
    raise Invalid(f"invalid battery mode {value!r}: expected normal, hold, charge or holdcharge")


def parse_name(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise Invalid(f"not a name: {value!r}")


def parse_json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise Invalid(f"not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise Invalid("expected a JSON object")
    return value


def parse_json_list(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise Invalid(f"not valid JSON: {error.msg}") from None
    if not isinstance(value, list):
        raise Invalid("expected a JSON array")
    return value


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time (must carry an offset) or unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(f"not an RFC 3339 time: {value!r}") from None
        if parsed.tzinfo is None:
            raise Invalid(f"time needs a UTC offset: {value!r}")
        return parsed
    raise Invalid(f"not a time: {value!r}")


def optional(parser: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """A parser that maps the reset sentinels to ``None``."""

    def parse(value: Any) -> T | None:
        return None if is_reset(value) else parser(value)

    return parse
