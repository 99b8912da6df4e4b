"""Configuration models of tariff providers (``tariffs:`` section).

Each usage (grid, feedin, co2, planner, solar) takes one provider config, told apart by ``type``. Secrets
(tokens, API keys) are ``SecretStr`` and can come from the environment, e.g.
``CHARGEBUS_TARIFFS__GRID__TOKEN``. Price values are in currency/kWh after charges, tax and formula
(evcc's ``(price + charges) · (1 + tax)`` by default); CO2 values in g/kWh; solar values in W.
"""

from __future__ import annotations

import ast
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

FORMULA_NAMES = frozenset({"price", "charges", "tax"})
FORMULA_FUNCTIONS = frozenset({"min", "max", "abs", "round"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_formula(text: str) -> str:
    """Reject a formula that is not plain arithmetic over ``price``, ``charges``, ``tax`` (never eval'd)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise ValueError(f"formula is not a valid expression: {error.msg}") from None
    allowed = (
        ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.Attribute,
        ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd,
        ast.Compare, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.IfExp,
    )  # fmt: skip
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ValueError(f"formula: {type(node).__name__} is not allowed (only arithmetic)")
        if isinstance(node, ast.Name) and node.id not in FORMULA_NAMES | FORMULA_FUNCTIONS | {"math"}:
            raise ValueError(f"formula: unknown name {node.id!r} (use price, charges, tax)")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError("formula: only numeric constants are allowed")
    return text


class PriceParams(Strict):
    """Common price parameters (evcc §5.1): ``value = (price + charges) · (1 + tax)`` unless ``formula``."""

    charges: float = 0.0
    """Currency/kWh added to the market price (grid fees, levies)."""
    tax: float = Field(default=0.0, ge=0)
    """Fraction, e.g. 0.19 for 19 % VAT."""
    formula: str | None = None
    """Arithmetic over ``price``, ``charges``, ``tax`` with ``min``/``max``/``abs``/``round``."""

    @field_validator("formula")
    @classmethod
    def _formula_is_arithmetic(cls, value: str | None) -> str | None:
        return None if value is None else check_formula(value)


_DAY_NAMES = {
    **{n: i for i, n in enumerate(("mo", "tu", "we", "th", "fr", "sa", "su"))},
    **{n: i for i, n in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{n: i for i, n in enumerate(("mo", "di", "mi", "do", "fr", "sa", "so"))},
    **{str(n): (n - 1) % 7 for n in range(8)},  # Go numbering: 0 and 7 = Sunday, 1 = Monday
}
_MONTH_NAMES = {
    **{n: i for i, n in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )},
    "mär": 3, "mai": 5, "okt": 10, "dez": 12,
    **{str(n): n for n in range(1, 13)},
}  # fmt: skip


def _parse_ranges(text: str, names: dict[str, int], size: int, first: int, what: str) -> frozenset[int]:
    """``a-b`` ranges (wrapping, inclusive) and single names, comma separated."""
    out: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) not in (1, 2) or any(e not in names for e in ends):
            raise ValueError(f"invalid {what} {part!r}")
        low, high = names[ends[0]], names[ends[-1]]
        index = low
        while True:
            out.add(index)
            if index == high:
                break
            index = first + (index - first + 1) % size
    return frozenset(out)


def parse_days(text: str) -> frozenset[int]:
    """Weekdays as Python numbers (Monday = 0) from ``Mo-Fr``, ``sa,so``, ``mon-fri``, ``1-5``."""
    return _parse_ranges(text, _DAY_NAMES, 7, 0, "day")


def parse_months(text: str) -> frozenset[int]:
    """Months 1..12 from ``Jan-Mar``, ``okt-dez``, ``11,12``."""
    return _parse_ranges(text, _MONTH_NAMES, 12, 1, "month")


def _minute_of_day(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not hours.isdigit() or (minutes and not minutes.isdigit()):
        raise ValueError(f"invalid time {text!r}")
    value = int(hours) * 60 + int(minutes or 0)
    if value > 24 * 60 or int(minutes or 0) >= 60:
        raise ValueError(f"invalid time {text!r}")
    return value


def parse_hours(text: str) -> tuple[tuple[int, int], ...]:
    """Minute-of-day intervals ``[start, end)`` from ``22:00-06:00,12-14``; an end of 0 means midnight;
    an interval ending before it starts wraps over midnight."""
    out: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        start_text, sep, end_text = part.partition("-")
        if not sep:
            raise ValueError(f"invalid hours {part!r} (expected HH:MM-HH:MM)")
        start, end = _minute_of_day(start_text), _minute_of_day(end_text)
        end = 24 * 60 if end == 0 else end
        if start == end:
            raise ValueError(f"invalid hours {part!r}: empty interval")
        out.extend([(start, 24 * 60), (0, end)] if end < start else [(start, end)])
    return tuple(out)


class FixedZone(Strict):
    price: float
    days: str | None = None
    """e.g. ``Mo-Fr`` or ``Sa,So`` (also ``mon..sun`` and 0–7, 0 and 7 = Sunday)."""
    hours: str | None = None
    """e.g. ``22:00-06:00``, comma lists; ``21-0`` runs to midnight."""
    months: str | None = None
    """e.g. ``Jan-Mar`` or ``1-3``."""

    @field_validator("days")
    @classmethod
    def _days(cls, value: str | None) -> str | None:
        if value is not None:
            parse_days(value)
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: str | None) -> str | None:
        if value is not None:
            parse_months(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value


class FixedTariff(Strict):
    """A fixed price, optionally with time zones: ``pricestatic`` without zones, ``priceforecast`` with."""

    type: Literal["fixed"] = "fixed"
    price: float
    """Currency/kWh (or g/kWh for co2)."""
    zones: list[FixedZone] = Field(default_factory=list)


class DemoTariff(PriceParams):
    """A generated day-ahead-like curve (cheap at night and midday, peak in the evening); no network."""

    type: Literal["demo"]
    price: float = 0.25
    """Average market price, currency/kWh."""
    spread: float = Field(default=0.10, ge=0)
    """Half the distance between the daily low and high, currency/kWh."""


class AwattarTariff(PriceParams):
    type: Literal["awattar"]
    region: Literal["DE", "AT", "de", "at"] = "DE"
    url: str | None = None
    """Override of ``https://api.awattar.<region>/v1/marketdata`` (tests, proxies)."""


class TibberTariff(PriceParams):
    """Tibber GraphQL; uses ``total`` unless charges/tax/formula are set (then ``energy`` + formula)."""

    type: Literal["tibber"]
    token: SecretStr
    home_id: str | None = None
    """Default: the first home of the account."""
    url: str = "https://api.tibber.com/v1-beta/gql"


class OctopusTariff(PriceParams):
    """Octopus Energy (UK): ``product`` + ``region`` (A–P), or ``api_key`` + ``account`` (tariff lookup)."""

    type: Literal["octopus"]
    product: str | None = None
    """e.g. ``AGILE-24-10-01``."""
    region: str | None = Field(default=None, pattern=r"^[A-Pa-p]$")
    api_key: SecretStr | None = None
    account: str | None = None
    """Account number (``A-1234ABCD``), used with ``api_key``."""
    direct_debit: bool = True
    direction: Literal["import", "export"] = "import"
    url: str = "https://api.octopus.energy"


class EntsoeTariff(PriceParams):
    """ENTSO-E transparency platform day-ahead prices (price/MWh → /kWh)."""

    type: Literal["entsoe"]
    security_token: SecretStr
    domain: str
    """Bidding zone EIC code (``10Y1001A1001A82H``) or alias (``DE-LU``, ``AT``, ``NL``, ``BE``, ``FR``…)."""
    url: str = "https://web-api.tp.entsoe.eu/api"


class EnergyChartsTariff(PriceParams):
    """Fraunhofer ISE energy-charts.info day-ahead prices (EUR/MWh → /kWh)."""

    type: Literal["energy-charts"]
    bzn: str = "DE-LU"
    url: str = "https://api.energy-charts.info/price"


class GruenstromindexTariff(Strict):
    """Corrently GrünstromIndex CO2 forecast (Germany, by postcode), g/kWh."""

    type: Literal["gruenstromindex"]
    zip: str = Field(pattern=r"^\d{5}$")
    url: str = "https://api.corrently.io/v2.0/gsi/prediction"


class ForecastSolarTariff(Strict):
    """forecast.solar estimate for one PV plane, W."""

    type: Literal["forecast-solar"]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    dec: float = Field(ge=0, le=90)
    """Declination: 0 = horizontal, 90 = vertical."""
    az: float = Field(ge=-180, le=180)
    """Azimuth: -90 east, 0 south, 90 west."""
    kwp: float = Field(gt=0)
    api_key: SecretStr | None = None
    url: str = "https://api.forecast.solar"


class CustomTariff(PriceParams):
    """Any HTTP JSON source: ``jq`` turns the body into ``[{"start", "end"?, "value"}]``.

    ``start``/``end`` are ISO 8601 strings or unix seconds; a missing ``end`` is the next ``start`` (or
    ``start + slot_minutes``). ``scale`` multiplies the raw value before charges/tax (e.g. 0.001 for /MWh).
    """

    type: Literal["custom"]
    url: str
    jq: str
    headers: dict[str, str] = Field(default_factory=dict)
    token: SecretStr | None = None
    """Sent as ``Authorization: Bearer <token>`` when set."""
    tariff: Literal["priceforecast", "co2", "solar"] = "priceforecast"
    scale: float = 1.0
    slot_minutes: int = Field(default=60, gt=0)

    @field_validator("jq")
    @classmethod
    def _jq_compiles(cls, value: str) -> str:
        from shared.jq_sandbox import JqError, check_syntax

        try:
            check_syntax(value)
        except JqError as error:
            raise ValueError(f"jq program does not compile: {error}") from None
        return value


TariffConfig = Annotated[
    FixedTariff
    | DemoTariff
    | AwattarTariff
    | TibberTariff
    | OctopusTariff
    | EntsoeTariff
    | EnergyChartsTariff
    | GruenstromindexTariff
    | ForecastSolarTariff
    | CustomTariff,
    Field(discriminator="type"),
]
"""One provider configuration, chosen by ``type``."""


class TariffsConfig(Strict):
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    refresh_s: float = Field(default=3600, gt=0)
    """How often dynamic providers are fetched."""
    retry_s: float = Field(default=30, gt=0)
    """First retry after a failed fetch; doubles per failure up to ``refresh_s``."""
    outdated_s: float = Field(default=7200, gt=0)
    """A series not refreshed for this long is published as outdated (no values)."""
    timeout_s: float = Field(default=15, gt=0)
    """HTTP timeout per request."""
    cache_file: str | None = "data/tariffs-cache.json"
    """Last good series per usage, served after a restart until the first fetch returns; null = off."""
    grid: TariffConfig | None = None
    feedin: TariffConfig | None = None
    co2: TariffConfig | None = None
    planner: TariffConfig | None = None
    solar: TariffConfig | list[TariffConfig] | None = None
    """One forecast or a list whose values are summed (several PV planes)."""
