"""Value types of the writable keys: one parse for MQTT text, REST path text and JSON request values.

Text follows evcc's parsers (reference §1.7): float rejects NaN/Inf, int accepts only whole numbers (unlike
evcc also ``"3.0"``, as Home Assistant's number entities and the spec's ``number`` SoCs send them; ``"3.5"``
fails), bool ``1/0/t/f/true/false`` in any case, durations integer seconds, modes
case-insensitive; the sentinels ``-``, ``nil``, ``null``, ``none`` (or JSON ``null``) reset optional values.
Ranges are chargebus's own: evcc accepts ``maxCurrent 1e30``, which would wedge every later control cycle.

Every type is a pydantic type (an ``Annotated`` scalar or a frozen model), so the setter table, FastAPI
bodies and the optimizer's settings file validate with the same rules. Context-dependent rules (the
charger's current range, min ≤ max, a battery being configured) belong to the owner of the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from shared.state import BatteryMode, ChargeMode

T = TypeVar("T")


class Invalid(ValueError):
    """A value was rejected; the message is the reason shown to the user, ``code`` its HTTP status."""

    def __init__(self, reason: str, code: int = 400) -> None:
        super().__init__(reason)
        self.code = code


# --- bounds --------------------------------------------------------------------------------------------

MAX_CURRENT_A = 80.0
"""The highest current a charger command may carry (``ChargerCommand.current_a``)."""
IEC_MIN_CURRENT_A = 6.0
"""The lowest current IEC 61851 lets a charger offer; chargers that allow less say so in their status."""
MAX_POWER_W = 10_000_000.0
"""10 MW: thresholds, residual power and export limits of a depot still fit."""
MAX_ENERGY_KWH = 1_000.0
"""Energy limits and plans (the largest truck batteries hold well under 1 MWh)."""
MAX_CAPACITY_KWH = 1_000.0
MAX_DELAY_S = 86_400
"""Enable/disable delays: up to a day."""
MAX_PRECONDITION_S = 86_400
MAX_PRIORITY = 1_000
MAX_COST = 100_000.0
"""Cost limits: currency/kWh or g CO₂/kWh, either sign."""
MAX_NAME = 64
MAX_TITLE = 128
MAX_REPEATING_PLANS = 32
MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger ``/set`` payloads and request values are refused before they are parsed."""
INT64_MAX = 2**63 - 1

VEHICLE_NAME = r"^[A-Za-z0-9_.:-]+$"
"""evcc's vehicle name pattern (config names, REST paths, MQTT topics)."""

# --- evcc's text parsers -------------------------------------------------------------------------------

SENTINELS = frozenset({"-", "nil", "null", "none"})
_INT = re.compile(r"^[+-]?[0-9]+(\.0*)?$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})
_HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SHOWN = 60
"""Characters of a rejected value quoted in a message."""


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def is_reset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in SENTINELS)


def parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {shown(value)}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"not a finite number: {shown(value)}") from None
    elif isinstance(value, str) and len(value) <= _SHOWN and _FLOAT.match(value.strip()):
        number = float(value.strip())
    else:
        raise ValueError(f"not a number: {shown(value)}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {shown(value)}")
    return number


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not a whole number: {shown(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) <= _SHOWN and _INT.match(value.strip()):
        number = int(value.strip().split(".")[0])
    else:
        raise ValueError(f"not a whole number: {shown(value)}")
    if not -INT64_MAX - 1 <= number <= INT64_MAX:
        raise ValueError(f"{shown(value)} does not fit a 64-bit integer")
    return number


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
    raise ValueError(f"not a boolean: {shown(value)}")


def parse_mode(value: Any) -> ChargeMode:
    """off / now / minpv / pv in any case; ``smart`` (newer evcc UIs) means pv."""
    if isinstance(value, ChargeMode):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return ChargeMode("pv" if text == "smart" else text)
        except ValueError:
            pass
    raise ValueError(f"invalid mode {shown(value)}: expected off, now, minpv or pv")


def parse_battery_mode(value: Any) -> BatteryMode | None:
    """evcc's battery modes; ``unknown`` (like a reset sentinel) hands control back to chargebus."""
    if is_reset(value):
        return None
    if isinstance(value, str):
        try:
            mode = BatteryMode(value.strip().lower())
        except ValueError:
            pass
        else:
            return None if mode is BatteryMode.UNKNOWN else mode
    raise ValueError(
        f"invalid battery mode {shown(value)}: expected unknown, normal, hold, charge or holdcharge"
    )


def parse_json(value: Any) -> Any:
    """A JSON value as is; MQTT text and bytes are decoded first."""
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"not valid JSON: {getattr(error, 'msg', error)}") from None
    return value


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time with an offset (``Z`` or ``±hh:mm``), or unix seconds; it keeps its offset."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a time: {shown(value)}") from None
    elif isinstance(value, str) and len(value) <= _SHOWN:
        text = value.strip()
        if "T" not in text.upper():
            raise ValueError(f"not an RFC 3339 time like 2025-07-19T12:30:00Z: {shown(value)}")
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an RFC 3339 time like 2025-07-19T12:30:00Z: {shown(value)}") from None
    else:
        raise ValueError(f"not a time: {shown(value)}")
    if parsed.tzinfo is None:
        raise ValueError(f"time needs a UTC offset: {shown(value)}")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time out of range: {shown(value)}") from None
    return parsed


def parse_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    raise ValueError(f"not a text: {shown(value)}")


def parse_hour_minute(value: Any) -> str:
    if isinstance(value, str) and _HOUR_MINUTE.match(value):
        return value
    raise ValueError(f"not a time of day HH:MM: {shown(value)}")


def parse_timezone(value: Any) -> str:
    if isinstance(value, str) and len(value) <= MAX_NAME:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        else:
            return value
    raise ValueError(f"unknown time zone {shown(value)}: expected an IANA zone like Europe/Berlin")


def _reset_to_none(value: Any) -> Any:
    return None if is_reset(value) else value


def _unique_sorted(days: tuple[int, ...]) -> tuple[int, ...]:
    if len(set(days)) != len(days):
        raise ValueError("weekdays must not repeat")
    return tuple(sorted(days))


def _comma_list(value: Any) -> Any:
    """REST path form ``1,3,5`` of a list of numbers."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value.strip() else []
    return value


# --- scalar types --------------------------------------------------------------------------------------

Bool = Annotated[bool, BeforeValidator(parse_bool)]
Soc = Annotated[float, Field(ge=0, le=100, description="%"), BeforeValidator(parse_float)]
WholeSoc = Annotated[int, Field(ge=0, le=100, description="% (whole)"), BeforeValidator(parse_int)]
Current = Annotated[float, Field(gt=0, le=MAX_CURRENT_A, description="A"), BeforeValidator(parse_float)]
Power = Annotated[
    float, Field(ge=-MAX_POWER_W, le=MAX_POWER_W, description="W"), BeforeValidator(parse_float)
]
PowerLimit = Annotated[float, Field(ge=0, le=MAX_POWER_W, description="W"), BeforeValidator(parse_float)]
Energy = Annotated[float, Field(ge=0, le=MAX_ENERGY_KWH, description="kWh"), BeforeValidator(parse_float)]
Capacity = Annotated[float, Field(ge=0, le=MAX_CAPACITY_KWH, description="kWh"), BeforeValidator(parse_float)]
"""A battery capacity; 0 = unknown (a vehicle created without one)."""
PositiveCapacity = Annotated[
    float, Field(gt=0, le=MAX_CAPACITY_KWH, description="kWh"), BeforeValidator(parse_float)
]
Delay = Annotated[int, Field(ge=0, le=MAX_DELAY_S, description="s"), BeforeValidator(parse_int)]
Precondition = Annotated[int, Field(ge=0, le=MAX_PRECONDITION_S, description="s"), BeforeValidator(parse_int)]
Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY), BeforeValidator(parse_int)]
Cost = Annotated[
    float, Field(ge=-MAX_COST, le=MAX_COST, description="currency/kWh or g/kWh"), BeforeValidator(parse_float)
]
OptionalCost = Annotated[Cost | None, BeforeValidator(_reset_to_none)]
Phases = Annotated[Literal[0, 1, 3], Field(description="0 automatic, 1, 3"), BeforeValidator(parse_int)]
Mode = Annotated[ChargeMode, BeforeValidator(parse_mode)]
OptionalMode = Annotated[Mode | None, BeforeValidator(_reset_to_none)]
BatteryModeValue = Annotated[BatteryMode | None, BeforeValidator(parse_battery_mode)]
VehicleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME, pattern=VEHICLE_NAME),
    BeforeValidator(parse_text),
]
OptionalVehicleName = Annotated[VehicleName | None, BeforeValidator(_reset_to_none)]
Title = Annotated[str, StringConstraints(max_length=MAX_TITLE), BeforeValidator(parse_text)]
PlanTime = Annotated[AwareDatetime, BeforeValidator(parse_time)]
HourMinute = Annotated[
    str,
    StringConstraints(pattern=_HOUR_MINUTE.pattern),
    BeforeValidator(parse_hour_minute),
    Field(description="HH:MM"),
]
TimeZone = Annotated[str, Field(description="IANA time zone"), BeforeValidator(parse_timezone)]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Sunday … 6"), BeforeValidator(parse_int)]
Weekdays = Annotated[
    tuple[Weekday, ...], Field(max_length=7), BeforeValidator(_comma_list), AfterValidator(_unique_sorted)
]
Ignored = Annotated[None, BeforeValidator(lambda _value: None)]
"""A request whose value does not matter (``vehicles/<name>/delete``)."""


# --- structured values ---------------------------------------------------------------------------------


class Value(BaseModel):
    """Base of the structured values: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanStrategy(Value):
    """``{"continuous": bool, "precondition": s}`` of a loadpoint's or vehicle's plans."""

    continuous: Bool = False
    """One continuous window instead of the cheapest slots."""
    precondition: Precondition = 0
    """Seconds of late charging right before the target."""


class _Goal(Value):
    value: float = 0.0
    time: PlanTime | None = None
    precondition: Precondition | None = None
    """Overrides the strategy's precondition for this plan."""

    @model_validator(mode="before")
    @classmethod
    def _value_aliases(cls, data: Any) -> Any:
        """evcc's goal is ``{"time","value"}``; its REST answers name the value ``energy`` / ``soc``."""
        if isinstance(data, dict) and "value" not in data:
            for alias in ("energy", "soc"):
                if alias in data:
                    return {**{k: v for k, v in data.items() if k != alias}, "value": data[alias]}
        return data


class EnergyGoal(_Goal):
    """A loadpoint's energy plan ``{"time", "value": kWh}``."""

    value: Energy = 0.0


class SocGoal(_Goal):
    """A vehicle's SoC plan ``{"time", "value": %}``."""

    value: WholeSoc = 0


G = TypeVar("G", bound=_Goal)


def _goal_or_delete(goal: G | None) -> G | None:
    """Value 0 deletes the plan (evcc); any other goal needs a time."""
    if goal is None or goal.value == 0:
        return None
    if goal.time is None:
        raise ValueError("a plan goal needs a time")
    return goal


def _goal_input(value: Any) -> Any:
    return None if is_reset(value) else parse_json(value)


EnergyPlan = Annotated[EnergyGoal | None, BeforeValidator(_goal_input), AfterValidator(_goal_or_delete)]
SocPlan = Annotated[SocGoal | None, BeforeValidator(_goal_input), AfterValidator(_goal_or_delete)]
StrategyValue = Annotated[PlanStrategy, BeforeValidator(parse_json)]


class RepeatingPlan(Value):
    """A weekly SoC plan: ``soc`` % by ``time`` (HH:MM local in ``tz``) on ``weekdays``."""

    weekdays: Weekdays = ()
    time: HourMinute
    tz: TimeZone = "UTC"
    soc: WholeSoc
    active: Bool = True
    precondition: Precondition | None = None

    def next_occurrence(self, now: datetime) -> datetime | None:
        """The next time after ``now`` this plan is due, or ``None`` without weekdays."""
        return next_occurrence(self.weekdays, self.time, self.tz, now)


def _plans_input(value: Any) -> Any:
    """evcc's body is a JSON array; the reference spec wraps it as ``{"plans": [...]}`` — accept both."""
    value = parse_json(value)
    if isinstance(value, dict) and set(value) == {"plans"}:
        return value["plans"]
    return value


RepeatingPlans = Annotated[
    tuple[RepeatingPlan, ...], BeforeValidator(_plans_input), Field(max_length=MAX_REPEATING_PLANS)
]


class RepeatingPlansBody(Value):
    """``POST /vehicles/{name}/plan/repeating`` as the reference spec documents it."""

    plans: RepeatingPlans = ()


class NewVehicle(Value):
    """``vehicles/<name>/create`` (fleet API): a vehicle made at run time."""

    title: Title | None = None
    capacity_kwh: Capacity = 0.0
    limit_soc: WholeSoc = 0
    min_soc: WholeSoc = 0


NewVehicleValue = Annotated[NewVehicle, BeforeValidator(parse_json)]


class PlanPreview(Value):
    """A hypothetical goal the optimizer plans without storing it (``loadpoints/<id>/plan/preview``)."""

    type: Literal["soc", "energy"]
    value: Annotated[float, BeforeValidator(parse_float), Field(ge=0, le=MAX_ENERGY_KWH)]
    time: PlanTime

    @model_validator(mode="after")
    def _soc_is_a_percentage(self) -> PlanPreview:
        if self.type == "soc" and not 0 < self.value <= 100:
            raise ValueError("soc must be 1..100")
        return self


PlanPreviewValue = Annotated[PlanPreview, BeforeValidator(parse_json)]


def next_occurrence(weekdays: tuple[int, ...], hour_minute: str, tz: str, now: datetime) -> datetime | None:
    """The next ``HH:MM`` in ``tz`` on one of ``weekdays`` (0 = Sunday … 6) strictly after ``now``."""
    if not weekdays:
        return None
    zone = ZoneInfo(tz)
    hour, minute = (int(part) for part in hour_minute.split(":"))
    local_now = now.astimezone(zone)
    for offset in range(8):
        day = (local_now + timedelta(days=offset)).date()
        if day.isoweekday() % 7 not in weekdays:
            continue
        # Wall-clock construction keeps the local time right across DST changes.
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate > now:
            return candidate
    return None


# --- parsing with readable errors ----------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(("function-", "tagged-union", "nullable")) and part not in ("int", "float"):
            out += f".{part}" if out else part
    return out


def _num(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else value


def error_message(error: Any) -> str:
    """A readable reason for one pydantic error (``ValidationError.errors()`` item)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    raw = error.get("input")
    given = shown(_num(raw)) if not isinstance(raw, str) else shown(raw)[1:-1]
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "")))
    if kind in ("less_than_equal", "less_than"):
        return f"{given} exceeds the maximum of {_num(ctx.get('le', ctx.get('lt')))}"
    if kind == "greater_than_equal":
        return f"{given} is below the minimum of {_num(ctx.get('ge'))}"
    if kind == "greater_than":
        return f"{given} must be greater than {_num(ctx.get('gt'))}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        return f"{given} has characters other than letters, digits and _ . : -"
    if kind == "string_too_long":
        return f"longer than {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"more than {ctx.get('max_length')} entries"
    return str(error.get("msg", kind))


def describe(error: ValidationError) -> str:
    """One line per problem, e.g. ``plans[0].soc: 120 exceeds the maximum of 100``."""
    parts = []
    for item in error.errors(include_url=False)[:5]:
        where = _where(tuple(item.get("loc", ())))
        parts.append(f"{where}: {error_message(item)}" if where else error_message(item))
    return "; ".join(parts)


def validator(kind: Any) -> Callable[[Any], Any]:
    """``parse(raw) -> value`` for a value type, raising :class:`Invalid` with a readable reason."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def parse(raw: Any) -> Any:
        if isinstance(raw, (str, bytes)) and len(raw) > MAX_PAYLOAD_BYTES:
            raise Invalid(f"value too large ({len(raw)} bytes; at most {MAX_PAYLOAD_BYTES})")
        try:
            return adapter.validate_python(raw)
        except ValidationError as error:
            raise Invalid(describe(error)) from None

    return parse
