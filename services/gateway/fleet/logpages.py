"""Timestamp-keyed log pages straight from SQL (command logs grow by thousands of rows a day, so a page
never loads more than ``page_size + 1`` rows). Newest first; cursors are the rows' ISO timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, select

from services.gateway.fleet.models import FleetEvse
from services.gateway.fleet.pagination import Page, PageRequest, parse_timestamp
from services.gateway.fleet.problems import not_found
from services.gateway.fleet.render import iso
from shared.db import ChargerStatusLog, CommandLog, from_db_time, to_db_time

LogModel = type[CommandLog] | type[ChargerStatusLog]


def stamp_of(row: Any) -> str:
    """The cursor of a log row (its ISO timestamp)."""
    stamp: datetime = row.timestamp
    return iso(from_db_time(stamp)) or ""


def _naive(raw: str) -> datetime:
    parsed = parse_timestamp(raw)
    if parsed is None:  # the cursors were validated before; a bad one here is a bad path segment
        raise not_found()
    value = to_db_time(parsed)
    assert value is not None
    return value


def page_logs(
    db: Session,
    model: LogModel,
    evse: FleetEvse,
    request: PageRequest,
    gte: datetime | None = None,
    lte: datetime | None = None,
) -> Page[Any]:
    ts = col(model.timestamp)
    conditions: list[Any] = [col(model.site_id) == evse.site_id, col(model.charger) == evse.charger]
    if gte is not None:
        conditions.append(ts >= to_db_time(gte))
    if lte is not None:
        conditions.append(ts <= to_db_time(lte))

    def any_where(*extra: Any) -> bool:
        return bool(db.exec(select(exists().where(*conditions, *extra))).one())

    size = request.size
    if request.after is not None:
        cursor = _naive(request.after)
        rows = list(
            db.exec(select(model).where(*conditions, ts < cursor).order_by(ts.desc()).limit(size + 1)).all()
        )
        items, has_next, has_previous = rows[:size], len(rows) > size, any_where(ts >= cursor)
    elif request.before is not None:
        cursor = _naive(request.before)
        rows = list(
            db.exec(select(model).where(*conditions, ts > cursor).order_by(ts.asc()).limit(size + 1)).all()
        )
        items, has_previous, has_next = list(reversed(rows[:size])), len(rows) > size, any_where(ts <= cursor)
    else:
        rows = list(db.exec(select(model).where(*conditions).order_by(ts.desc()).limit(size + 1)).all())
        items, has_next, has_previous = rows[:size], len(rows) > size, False
    previous = stamp_of(items[0]) if items and has_previous else None
    following = stamp_of(items[-1]) if items and has_next else None
    return Page(items, previous, following)


def log_at(db: Session, model: LogModel, evse: FleetEvse, stamp: str) -> Any:
    """The log of ``evse`` taken exactly at ``stamp`` (the key in its URL), or 404."""
    row = db.exec(
        select(model)
        .where(col(model.site_id) == evse.site_id)
        .where(col(model.charger) == evse.charger)
        .where(col(model.timestamp) == _naive(stamp))
        .limit(1)
    ).first()
    if row is None:
        raise not_found()
    return row
