"""Path-value parsers for the REST setters: each turns the raw text into a typed value or raises
:class:`ApiError` 400 with a message naming the parameter, so bad input never reaches an owner."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.gateway.responses import ApiError
from shared.state import BatteryMode, ChargeMode

Parser = Callable[[str, str], Any]
"""``parser(name, raw) -> value``."""

_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def bad(name: str, raw: str, expected: str) -> ApiError:
    return ApiError(400, f"invalid {name} {raw!r}: expected {expected}")


def number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise bad(name, raw, "a number") from None
    if not math.isfinite(value):
        raise bad(name, raw, "a finite number")
    return value


def non_negative(name: str, raw: str) -> float:
    value = number(name, raw)
    if value < 0:
        raise bad(name, raw, "a number ≥ 0")
    return value


def integer(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise bad(name, raw, "a whole number") from None


def non_negative_int(name: str, raw: str) -> int:
    value = integer(name, raw)
    if value < 0:
        raise bad(name, raw, "a whole number ≥ 0")
    return value


def soc(name: str, raw: str) -> int | float:
    """SoC in % (0–100); whole numbers stay ints (evcc's SoC setters take ints)."""
    value = number(name, raw)
    if not 0 <= value <= 100:
        raise bad(name, raw, "a SoC between 0 and 100")
    return int(value) if value.is_integer() else value


def whole_soc(name: str, raw: str) -> int:
    value = soc(name, raw)
    if not isinstance(value, int):
        raise bad(name, raw, "a whole-number SoC between 0 and 100")
    return value


def boolean(name: str, raw: str) -> bool:
    try:
        return _BOOLS[raw.lower()]
    except KeyError:
        raise bad(name, raw, "true, false, 1 or 0") from None


def mode(name: str, raw: str) -> str:
    """off / pv / minpv / now; ``smart`` (newer evcc UIs) means ``pv``."""
    value = "pv" if raw == "smart" else raw
    if value not in {m.value for m in ChargeMode}:
        raise bad(name, raw, "off, pv, minpv or now")
    return value


def phases(name: str, raw: str) -> int:
    if raw not in ("0", "1", "3"):
        raise bad(name, raw, "0 (automatic), 1 or 3")
    return int(raw)


BATTERY_MODE_CODES: dict[str, int] = {"unknown": 0, "normal": 1, "hold": 2, "charge": 3, "holdcharge": 4}
"""evcc's numeric battery modes (the REST answer is the number)."""


def battery_mode(name: str, raw: str) -> str:
    allowed = [m.value for m in BatteryMode if m is not BatteryMode.HOLDCHARGE]
    if raw not in allowed:
        raise bad(name, raw, "one of " + ", ".join(allowed))
    return raw


def timestamp(name: str, raw: str) -> datetime:
    """RFC 3339 with an explicit offset (``Z`` or ``±hh:mm``)."""
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise bad(name, raw, "an RFC 3339 time like 2025-07-19T12:30:00Z") from None
    if value.tzinfo is None or "T" not in raw.upper():
        raise bad(name, raw, "an RFC 3339 time with offset, like 2025-07-19T12:30:00Z")
    return value


def hour_minute(name: str, raw: str) -> str:
    if not _HOUR_MINUTE.match(raw):
        raise bad(name, raw, "a time HH:MM")
    return raw


def timezone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(name, raw, "an IANA time zone like Europe/Berlin") from None
    return raw


def weekdays(name: str, raw: str) -> list[int]:
    """Comma-separated weekdays 0 (Sunday) … 6, no duplicates."""
    days: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) > 6:
            raise bad(name, raw, "comma-separated weekdays 0 (Sunday) to 6")
        if int(part) in days:
            raise bad(name, raw, "weekdays without duplicates")
        days.append(int(part))
    return sorted(days)


def text_value(name: str, raw: str) -> str:
    return raw
