"""Fleet-only tables, registered on the shared SQLModel metadata beside the gateway's tables.

Times are stored as UTC; SQLite hands them back naive, so readers pass them through :func:`utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from shared.db import Migration, migrate


def _ts(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class FleetUser(SQLModel, table=True):
    """The owner of chargers and vehicles. The site owner owns every configured charger."""

    __tablename__ = "fleet_users"

    id: str = Field(primary_key=True)
    email: str | None = Field(default=None, index=True)
    full_name: str | None = None
    joined_at: datetime = Field(sa_column=_ts())
    is_site_owner: bool = False


class OAuthClient(SQLModel, table=True):
    """A client-credentials OAuth application. Only the bcrypt hash of its secret is stored."""

    __tablename__ = "fleet_oauth_clients"

    client_id: str = Field(primary_key=True)
    name: str = ""
    secret_hash: str
    scopes: str
    """Space-separated scopes the client may request."""
    user_id: str | None = Field(default=None, foreign_key="fleet_users.id")
    """When set the client acts only as this user; when unset it is an operator client that chooses a
    user per request with ``EvEnergy-User`` and sees every user's resources without it."""
    rate_limit_per_hour: int = 1000
    created_at: datetime = Field(sa_column=_ts())
    disabled: bool = False


class AccessToken(SQLModel, table=True):
    """An issued bearer token, stored as a SHA-256 hash (tokens are random, so no slow hash is needed)."""

    __tablename__ = "fleet_access_tokens"

    token_hash: str = Field(primary_key=True)
    client_id: str = Field(foreign_key="fleet_oauth_clients.client_id", index=True)
    scopes: str
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())


class FleetEvse(SQLModel, table=True):
    """The fleet face of one configured charger: stable ID, owner, location, lifecycle."""

    __tablename__ = "fleet_evses"

    id: str = Field(primary_key=True)
    charger: str = Field(unique=True)
    """Name of the charger in the configuration (the EVSE's ``cpid``)."""
    user_id: str = Field(foreign_key="fleet_users.id", index=True)
    latitude: float | None = None
    longitude: float | None = None
    lifecycle_state: str = "COMMISSIONED"
    created_at: datetime = Field(sa_column=_ts())
    decommissioned_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class FleetVehicle(SQLModel, table=True):
    """A vehicle: configured ones (``source='config'``) and unintegrated ones created through the API."""

    __tablename__ = "fleet_vehicles"

    id: str = Field(primary_key=True)
    name: str = Field(unique=True)
    """The evcc vehicle name (``evcc/vehicles/<name>``); the fleet ID for API-created vehicles."""
    user_id: str = Field(foreign_key="fleet_users.id", index=True)
    trim_id: str | None = None
    model_id: str | None = None
    battery_size_watt_hours: int | None = None
    maximum_charge_limit_percentage: int | None = None
    smart_charging_enabled: bool = True
    vehicle_class: str | None = None
    description: str | None = None
    source: str = "api"
    created_at: datetime = Field(sa_column=_ts())
    deleted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class FleetChargingSession(SQLModel, table=True):
    """The fleet ID of one row of the gateway's ``sessions`` table (one plug-in episode)."""

    __tablename__ = "fleet_charging_sessions"

    id: str = Field(primary_key=True)
    session_uid: str = Field(unique=True)
    user_id: str = Field(index=True)
    evse_id: str | None = Field(default=None, index=True)
    vehicle_id: str | None = Field(default=None, index=True)
    start: datetime = Field(sa_column=_ts())
    end: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class FleetSubSession(SQLModel, table=True):
    """A period of one charging session with one mode (SMART, or BOOST while fast charging)."""

    __tablename__ = "fleet_sub_sessions"

    id: str = Field(primary_key=True)
    charging_session_id: str = Field(foreign_key="fleet_charging_sessions.id", index=True)
    mode: str = "SMART"
    start: datetime = Field(sa_column=_ts(index=True))
    end: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    energy_start_kwh: float = 0.0
    """The session's charged energy when this sub-session began."""
    energy_end_kwh: float | None = None
    restore_mode: str | None = None
    """For BOOST: the loadpoint mode to restore when the boost ends."""


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "fleet_webhook_endpoints"

    id: str = Field(primary_key=True)
    user_id: str | None = Field(default=None, index=True)
    """None: an operator endpoint receiving every user's events."""
    url: str
    secret: str
    """``whsec_<base64 key>``; kept in clear because signing needs it."""
    event_types: str = ""
    """Space-separated filter; empty = every event type."""
    created_at: datetime = Field(sa_column=_ts())
    disabled: bool = False
    base_url: str = ""
    """The root the endpoint was registered through (``https://host``); the links in its deliveries start
    there unless ``gateway.public_url`` is set."""


class WebhookMessage(SQLModel, table=True):
    """The outbox: one row per (event, endpoint), written in the same transaction as the event."""

    __tablename__ = "fleet_webhook_messages"

    id: str = Field(primary_key=True)
    """Also the ``svix-id`` header, stable across retries so receivers can deduplicate."""
    endpoint_id: str = Field(foreign_key="fleet_webhook_endpoints.id", index=True)
    event_type: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    """None once delivered or given up."""
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    failed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = None


FLEET_TABLE_NAMES = (
    "fleet_users",
    "fleet_oauth_clients",
    "fleet_access_tokens",
    "fleet_evses",
    "fleet_vehicles",
    "fleet_charging_sessions",
    "fleet_sub_sessions",
    "fleet_webhook_endpoints",
    "fleet_webhook_messages",
)


def fleet_tables() -> list[Any]:
    return [SQLModel.metadata.tables[name] for name in FLEET_TABLE_NAMES]


def _m1_initial(conn: Connection) -> None:
    """v1: the fleet tables. A new database gets today's shape here, so every later migration checks what
    is there before it changes anything."""
    SQLModel.metadata.create_all(conn, tables=fleet_tables())


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _m2_webhook_base_url(conn: Connection) -> None:
    """v2: where each webhook endpoint was registered (the root of the links in its deliveries)."""
    _add_column(conn, "fleet_webhook_endpoints", "base_url", "TEXT NOT NULL DEFAULT ''")


FLEET_MIGRATIONS: list[Migration] = [_m1_initial, _m2_webhook_base_url]
"""Ordered, append only; applied with the gateway's mechanism under the component name ``fleet``."""


def migrate_fleet(engine: Engine) -> int:
    """Bring the fleet tables up to date (safe at every start); returns the schema version."""
    return migrate(engine, "fleet", FLEET_MIGRATIONS)
