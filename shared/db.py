"""The gateway's database: engine, tables and a small migration mechanism.

SQLite (WAL) by default, PostgreSQL by URL (``postgresql+psycopg://user@host/db``). Tables follow evcc where
evcc has them (``sessions`` columns of reference §6.1, ``settings`` key/value) plus chargebus's own
(``command_logs``, ``charger_status_logs``). Schema changes are ordered migration functions recorded per
component in ``schema_version``; a database is never deleted to change its shape. Other components (the
fleet API) keep their own migration list: ``migrate(engine, "fleet", FLEET_MIGRATIONS)``.

All datetimes are stored as naive UTC (portable across SQLite and PostgreSQL) and handed out as aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, create_engine

from shared.config import LOCAL_SITE

Migration = Callable[[Connection], None]


def to_db_time(value: datetime | None) -> datetime | None:
    """Aware → naive UTC for storage."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def utc_naive(value: datetime) -> datetime:
    """Aware → naive UTC (for columns that are never empty)."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def from_db_time(value: datetime | None) -> datetime | None:
    """Stored naive UTC → aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- tables ---------------------------------------------------------------------------------------------


def _site_column() -> Column[str]:
    return Column(String(64), nullable=False, default=LOCAL_SITE, server_default=LOCAL_SITE, index=True)


class ChargingSession(SQLModel, table=True):
    """evcc's ``sessions`` table (reference §6.1) plus ``session_uid`` for idempotent writes."""

    __tablename__ = "sessions"

    id: int | None = Field(default=None, primary_key=True)
    session_uid: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    site_id: str = Field(default=LOCAL_SITE, sa_column=_site_column())
    """The site the session happened at (a fleet gateway keeps many)."""
    created: datetime = Field(sa_column=Column(DateTime, nullable=False, index=True))
    finished: datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    loadpoint: str = ""
    """Loadpoint title."""
    loadpoint_id: int | None = None
    identifier: str | None = None
    vehicle: str | None = None
    """Vehicle title."""
    odometer: float | None = None
    """km"""
    meter_start_kwh: float | None = None
    meter_end_kwh: float | None = None
    charged_kwh: float = 0.0
    charge_duration: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    """Nanoseconds (Go ``time.Duration``), as evcc stores it."""
    soc_start: float | None = None
    soc_end: float | None = None
    added_range: float | None = None
    """km"""
    solar_percentage: float | None = None
    price: float | None = None
    price_per_kwh: float | None = None
    co2_per_kwh: float | None = None
    """g/kWh"""
    reference_price_per_kwh: float | None = None
    reference_co2_per_kwh: float | None = None


class CommandLog(SQLModel, table=True):
    """One ``CommandApplied`` event (``chargebus/events/command``)."""

    __tablename__ = "command_logs"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    site_id: str = Field(default=LOCAL_SITE, sa_column=_site_column())
    loadpoint: int = Field(index=True)
    charger: str
    seq: int | None = None
    enabled: bool
    current_a: float
    phases: int
    reason: str
    ok: bool = True
    error: str | None = None
    timestamp: datetime = Field(sa_column=Column(DateTime, nullable=False, index=True))


class ChargerStatusLog(SQLModel, table=True):
    """One ``ChargerStatusChanged`` event (``chargebus/events/charger-status``)."""

    __tablename__ = "charger_status_logs"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    site_id: str = Field(default=LOCAL_SITE, sa_column=_site_column())
    loadpoint: int = Field(index=True)
    charger: str
    status: str
    previous: str | None = None
    timestamp: datetime = Field(sa_column=Column(DateTime, nullable=False, index=True))


class Setting(SQLModel, table=True):
    """evcc's ``settings`` key/value table (admin password hash, JWT secret, telemetry, …)."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: str


class ProcessedEvent(SQLModel, table=True):
    """Event ids already applied, so a redelivered QoS 1 event is applied once."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True)
    kind: str
    processed_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


# --- migrations -----------------------------------------------------------------------------------------

_VERSION_META = MetaData()
_SCHEMA_VERSION = Table(
    "schema_version",
    _VERSION_META,
    Column("component", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)


def _m1_initial(conn: Connection) -> None:
    """v1: the first tables (created from their definitions as of v1; later changes are new migrations)."""
    names = ("sessions", "command_logs", "charger_status_logs", "settings", "processed_events")
    SQLModel.metadata.create_all(conn, tables=[SQLModel.metadata.tables[n] for n in names])


def _m2_site_ids(conn: Connection) -> None:
    """v2: sessions and logs name their site (a fleet gateway writes many sites into one database).
    A new database got the column from v1 already."""
    for table in ("sessions", "command_logs", "charger_status_logs"):
        if "site_id" not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.execute(
                text(f"ALTER TABLE {table} ADD COLUMN site_id VARCHAR(64) NOT NULL DEFAULT '{LOCAL_SITE}'")
            )
            conn.execute(text(f"CREATE INDEX ix_{table}_site_id ON {table} (site_id)"))


GATEWAY_MIGRATIONS: list[Migration] = [_m1_initial, _m2_site_ids]
"""Ordered; append only. Version n = the first n migrations applied."""


def schema_version(engine: Engine, component: str = "gateway") -> int:
    with engine.connect() as conn:
        if not inspect(conn).has_table("schema_version"):
            return 0
        row = conn.execute(
            select(_SCHEMA_VERSION.c.version).where(_SCHEMA_VERSION.c.component == component)
        ).first()
        return int(row[0]) if row else 0


def migrate(engine: Engine, component: str = "gateway", migrations: Sequence[Migration] | None = None) -> int:
    """Apply the migrations of ``component`` not applied yet, each in its own transaction; returns the
    resulting version. Safe to call at every start."""
    steps = list(GATEWAY_MIGRATIONS if migrations is None else migrations)
    _VERSION_META.create_all(engine)
    current = schema_version(engine, component)
    if current > len(steps):
        raise RuntimeError(
            f"database schema of {component!r} is version {current}, newer than this code ({len(steps)})"
        )
    for version in range(current + 1, len(steps) + 1):
        with engine.begin() as conn:
            steps[version - 1](conn)
            if version == 1:
                conn.execute(_SCHEMA_VERSION.insert().values(component=component, version=1))
            else:
                conn.execute(
                    _SCHEMA_VERSION.update()
                    .where(_SCHEMA_VERSION.c.component == component)
                    .values(version=version)
                )
    return len(steps)


# --- engine ---------------------------------------------------------------------------------------------


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite gets WAL, a busy timeout and its folder created; PostgreSQL as is."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def open_database(url: str) -> Engine:
    """Engine for ``url`` with the gateway's migrations applied."""
    engine = make_engine(url)
    migrate(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success, rolled back on error."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


# --- settings ---------------------------------------------------------------------------------------------


def get_setting(engine: Engine, key: str) -> str | None:
    with Session(engine) as session:
        row = session.get(Setting, key)
        return row.value if row else None


def set_setting(engine: Engine, key: str, value: str | None) -> None:
    """Store ``value`` under ``key``; ``None`` deletes the key."""
    with session_scope(engine) as session:
        row = session.get(Setting, key)
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(Setting(key=key, value=value))
        else:
            row.value = value
            session.add(row)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
