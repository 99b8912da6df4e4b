"""Charging sessions as evcc serves them (reference §6.3): the JSON objects, the CSV export (UTF-8 BOM,
comma separator, English or German captions, floats to 4 decimals, local times, Go durations, no cell a
spreadsheet would run as a formula), the language choice and the file names. Pure functions; the routes do
the I/O."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from shared.db import ChargingSession, from_db_time

NS_PER_S = 1_000_000_000
BOM = "\ufeff"


@dataclass(frozen=True)
class Column:
    attr: str
    json: str
    en: str
    de: str
    kind: str = "float"
    """float (4 decimals), int (rounded to whole), text, time, duration."""


COLUMNS: tuple[Column, ...] = (
    Column("created", "created", "Created", "Startzeit", "time"),
    Column("finished", "finished", "Finished", "Endzeit", "time"),
    Column("loadpoint", "loadpoint", "Charging point", "Ladepunkt", "text"),
    Column("identifier", "identifier", "Identifier", "Kennung", "text"),
    Column("vehicle", "vehicle", "Vehicle", "Fahrzeug", "text"),
    Column("odometer", "odometer", "Mileage (km)", "Kilometerstand (km)", "int"),
    Column("meter_start_kwh", "meterStart", "Meter start (kWh)", "Anfangszählerstand (kWh)"),
    Column("meter_end_kwh", "meterStop", "Meter stop (kWh)", "Endzählerstand (kWh)"),
    Column("charged_kwh", "chargedEnergy", "Energy (kWh)", "Energie (kWh)"),
    Column("charge_duration", "chargeDuration", "Duration", "Ladedauer", "duration"),
    Column("soc_start", "socStart", "SoC start (%)", "Ladestand Start (%)", "int"),
    Column("soc_end", "socEnd", "SoC end (%)", "Ladestand Ende (%)", "int"),
    Column("added_range", "addedRange", "Added range (km)", "Geladene Reichweite (km)", "int"),
    Column("solar_percentage", "solarPercentage", "Solar (%)", "Sonne (%)"),
    Column("price", "price", "Cost", "Kosten"),
    Column("price_per_kwh", "pricePerKWh", "Price/kWh", "Preis/kWh"),
    Column("co2_per_kwh", "co2PerKWh", "CO₂/kWh", "CO₂/kWh"),
    Column("reference_price_per_kwh", "referencePricePerKWh", "Reference Price/kWh", "Referenzpreis/kWh"),
    Column(
        "reference_co2_per_kwh",
        "referenceCo2PerKWh",
        "Reference CO2/kWh (gCO2eq)",
        "Referenz-CO₂/kWh (gCO2eq)",
    ),
)

MIN_CHARGED_KWH = 0.05
"""evcc hides sessions below this energy."""


def pick_language(lang: str | None, accept_language: str | None) -> str:
    """``de`` or ``en``: the ``lang`` parameter, else the first Accept-Language tag."""
    tag = lang or (accept_language or "").split(",")[0].split(";")[0]
    return "de" if tag.strip().lower().split("-")[0] == "de" else "en"


def go_duration(ns: int) -> str:
    """A duration as Go's ``time.Duration.String()`` prints it (``1h23m4s``, ``4.5s``, ``0s``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < NS_PER_S:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * NS_PER_S)
    minutes, rest = divmod(rest, 60 * NS_PER_S)
    seconds = _trim(rest / NS_PER_S)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def format_number(value: float, decimals: int) -> str:
    """Rounded, then the shortest ``.`` representation (``12.5``, ``3``)."""
    rounded = round(value, decimals)
    if rounded == int(rounded):
        return str(int(rounded))
    return repr(rounded)


def local_time(value: datetime | None, zone: tzinfo) -> datetime | None:
    aware = from_db_time(value)
    return aware.astimezone(zone) if aware is not None else None


UNSET_TIME = "0001-01-01T00:00:00Z"
"""evcc's zero time: ``finished`` while a session is still open (the spec's Timestamp is never null)."""


NOT_NULL = frozenset(
    {
        "loadpoint",
        "vehicle",
        "chargedEnergy",
        "chargeDuration",
        "solarPercentage",
        "price",
        "pricePerKWh",
        "co2PerKWh",
    }
)
"""Keys the spec's session schema has no ``null`` for: left out when there is no value (a client sees
"unknown" either way; ``null`` would break the schema)."""


def session_json(row: ChargingSession, zone: tzinfo) -> dict[str, Any]:
    """evcc's JSON keys; times RFC 3339 in local time, duration in ns, odometer to 0.1 km."""
    out: dict[str, Any] = {"id": row.id}
    for column in COLUMNS:
        value = getattr(row, column.attr)
        if column.kind == "time":
            moment = local_time(value, zone)
            value = moment.isoformat() if moment is not None else UNSET_TIME
        elif column.attr == "odometer" and value is not None:
            value = round(value, 1)
        if value is None and column.json in NOT_NULL:
            continue
        out[column.json] = value
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to spreadsheet programs (OWASP CSV injection)."""


def neutralised(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates: a leading formula character gets a ``'`` before it,
    except in plain numbers (``-12.5`` stays a number)."""
    if not text.startswith(FORMULA_STARTS):
        return text
    try:
        if math.isfinite(float(text)) and text.strip() == text:
            return text
    except ValueError:
        pass
    return "'" + text


def csv_cell(column: Column, value: Any, zone: tzinfo) -> str:
    return neutralised(_csv_text(column, value, zone))


def _csv_text(column: Column, value: Any, zone: tzinfo) -> str:
    if value is None:
        return ""
    if column.kind == "time":
        moment = local_time(value, zone)
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""
    if column.kind == "duration":
        return go_duration(int(value))
    if column.kind == "int":
        return format_number(float(value), 0)
    if column.kind == "float":
        return format_number(float(value), 4)
    return str(value)


def sessions_csv(rows: Sequence[ChargingSession], language: str, zone: tzinfo) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.de if language == "de" else c.en for c in COLUMNS])
    for row in rows:
        writer.writerow([csv_cell(c, getattr(row, c.attr), zone) for c in COLUMNS])
    return BOM + buffer.getvalue()


def export_filename(year: int | None, month: int | None, extension: str) -> str:
    name = "session"
    if year is not None:
        name += f"-{year:04d}"
        if month is not None:
            name += f"-{month:02d}"
    return f"{name}.{extension}"


def in_period(row: ChargingSession, year: int | None, month: int | None, zone: tzinfo) -> bool:
    """evcc filters on the local calendar of ``created``."""
    if year is None:
        return True
    created = local_time(row.created, zone)
    if created is None or created.year != year:
        return False
    return month is None or created.month == month
