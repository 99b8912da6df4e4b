"""Fleet-only tables, registered on the shared SQLModel metadata beside the gateway's tables.

Every record of a site carries its ``site_id``: a site's own gateway keeps one site, the fleet gateway at
the centre of a fleet keeps all of them in one database. Times are stored as UTC; SQLite hands them back
naive, so readers pass them through :func:`utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, Text, UniqueConstraint, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from shared.config import LOCAL_SITE
from shared.db import Migration, migrate


def insert_for(bind: Connection | Engine) -> Any:
    """The dialect's ``insert`` (PostgreSQL or SQLite), which has ``on_conflict_do_nothing/update``."""
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


def _ts(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class FleetUser(SQLModel, table=True):
    """The owner of chargers and vehicles. A site's owner owns every charger of that site."""

    __tablename__ = "fleet_users"

    id: str = Field(primary_key=True)
    email: str | None = Field(default=None, index=True)
    full_name: str | None = None
    joined_at: datetime = Field(sa_column=_ts())
    is_site_owner: bool = False
    """Before sites had ids: the owner of the one site (adopted by the first site registered)."""
    password_hash: str | None = None
    """bcrypt; lets the user sign in to authorize an OAuth application (``/o/authorize/``)."""


class FleetSite(SQLModel, table=True):
    """A site of the fleet, as its manifest (``<internal>/fleet/site``) describes it."""

    __tablename__ = "fleet_sites"

    id: str = Field(primary_key=True)
    title: str = ""
    timezone: str = "UTC"
    currency: str = "EUR"
    owner_id: str = Field(foreign_key="fleet_users.id", index=True)
    manifest: str = Field(sa_column=Column(Text, nullable=False))
    """The :class:`~shared.messages.SiteManifest` as JSON."""
    manifest_hash: str = ""
    central_root: str = ""
    """The site's internal root on the broker this gateway reads (``sites/<id>/chargebus`` at the centre,
    the site's own root in its gateway): requests go to ``<central_root>/requests/<service>``."""
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class OAuthClient(SQLModel, table=True):
    """An OAuth application. Only the bcrypt hash of its secret is stored (public clients have none and
    must use PKCE)."""

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
    grant_types: str = "client_credentials"
    """Space-separated: ``client_credentials``, ``authorization_code`` (refresh tokens come with it)."""
    redirect_uris: str = ""
    """Space-separated exact redirect URIs allowed for the authorization code grant."""
    public: bool = False
    """A native or browser app without a secret: PKCE is required and the client is identified only."""


class AccessToken(SQLModel, table=True):
    """An issued bearer token, stored as a SHA-256 hash (tokens are random, so no slow hash is needed)."""

    __tablename__ = "fleet_access_tokens"

    token_hash: str = Field(primary_key=True)
    client_id: str = Field(foreign_key="fleet_oauth_clients.client_id", index=True)
    scopes: str
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    user_id: str | None = Field(default=None, index=True)
    """The user who authorized it (authorization code grant); None for client credentials."""
    refresh_family: str | None = Field(default=None, index=True)
    """The refresh-token family it was issued with; revoking the family revokes it."""
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class RefreshToken(SQLModel, table=True):
    """A refresh token (SHA-256 hash). Each use rotates it; a used one presented again revokes its whole
    family (RFC 6819 §5.2.2.3: it was stolen or replayed)."""

    __tablename__ = "fleet_refresh_tokens"

    token_hash: str = Field(primary_key=True)
    family: str = Field(index=True)
    client_id: str = Field(foreign_key="fleet_oauth_clients.client_id", index=True)
    user_id: str
    scopes: str
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class AuthorizationCode(SQLModel, table=True):
    """A one-minute, one-use authorization code (SHA-256 hash) with its PKCE challenge."""

    __tablename__ = "fleet_authorization_codes"

    code_hash: str = Field(primary_key=True)
    client_id: str = Field(foreign_key="fleet_oauth_clients.client_id", index=True)
    user_id: str
    scopes: str
    redirect_uri: str
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    family: str | None = None
    """The refresh-token family issued for it (revoked if the code is replayed)."""


class FleetEvse(SQLModel, table=True):
    """The fleet face of one configured charger: stable ID, owner, location, lifecycle."""

    __tablename__ = "fleet_evses"
    __table_args__ = (UniqueConstraint("site_id", "charger", name="uq_fleet_evses_site_charger"),)

    id: str = Field(primary_key=True)
    site_id: str = Field(default=LOCAL_SITE, index=True)
    charger: str
    """Name of the charger in the site's configuration (the EVSE's ``cpid``)."""
    loadpoint_id: int | None = None
    """The loadpoint (1-based) the charger serves at its site."""
    driver: str = "modbus"
    """The ``chargers[].type`` that drives it (its EVSE model)."""
    user_id: str = Field(foreign_key="fleet_users.id", index=True)
    latitude: float | None = None
    longitude: float | None = None
    lifecycle_state: str = "COMMISSIONED"
    created_at: datetime = Field(sa_column=_ts())
    decommissioned_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class FleetVehicle(SQLModel, table=True):
    """A vehicle: configured ones (``source='config'``) and unintegrated ones created through the API."""

    __tablename__ = "fleet_vehicles"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_fleet_vehicles_site_name"),)

    id: str = Field(primary_key=True)
    site_id: str = Field(default=LOCAL_SITE, index=True)
    name: str
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
    site_id: str = Field(default=LOCAL_SITE, index=True)
    loadpoint_id: int | None = None
    user_id: str = Field(index=True)
    evse_id: str | None = Field(default=None, index=True)
    vehicle_id: str | None = Field(default=None, index=True)
    start: datetime = Field(sa_column=_ts())
    end: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    unplugged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    """When the episode was seen to end (a disconnect, or a newer session on the loadpoint); the session
    closes once its row is finished too."""


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


class SyncMark(SQLModel, table=True):
    """How far the session sync has read a growing table (its highest id seen)."""

    __tablename__ = "fleet_sync_marks"

    name: str = Field(primary_key=True)
    value: int = 0


class RateBucket(SQLModel, table=True):
    """One token bucket of the fleet API's rate limits, shared by every instance on this database."""

    __tablename__ = "fleet_rate_buckets"

    key: str = Field(primary_key=True)
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    updated_s: float = Field(sa_column=Column(Float, nullable=False))
    """Unix seconds of the last refill."""
    allowed: bool = True
    """Whether the last take was allowed (written in the same statement as the refill)."""


class IdempotencyRecord(SQLModel, table=True):
    """The response to a write sent with an ``Idempotency-Key``, replayed when the key comes again."""

    __tablename__ = "fleet_idempotency_keys"

    key: str = Field(primary_key=True)
    """``<client id>:<Idempotency-Key>``."""
    fingerprint: str
    """SHA-256 of method, path and body: the same key with another request is refused."""
    status: int = 0
    """0 while the first request is still running."""
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    headers: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    created_at: datetime = Field(sa_column=_ts(index=True))


class LiveLoadpoint(SQLModel, table=True):
    """The latest evcc loadpoint keys a fleet gateway saw for a site (JSON object of key → value)."""

    __tablename__ = "fleet_live_loadpoints"

    site_id: str = Field(primary_key=True)
    loadpoint_id: int = Field(primary_key=True)
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=_ts())


class SiteTariff(SQLModel, table=True):
    """A site's latest rate series of one usage (``chargebus/tariffs/<usage>``), as JSON."""

    __tablename__ = "fleet_site_tariffs"

    site_id: str = Field(primary_key=True)
    usage: str = Field(primary_key=True)
    series: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=_ts())


class SiteService(SQLModel, table=True):
    """A site service's last reported status (``chargebus/services/<service>/status``)."""

    __tablename__ = "fleet_site_services"

    site_id: str = Field(primary_key=True)
    service: str = Field(primary_key=True)
    online: bool
    updated_at: datetime = Field(sa_column=_ts())


FLEET_TABLE_NAMES = (
    "fleet_users",
    "fleet_sites",
    "fleet_oauth_clients",
    "fleet_access_tokens",
    "fleet_refresh_tokens",
    "fleet_authorization_codes",
    "fleet_evses",
    "fleet_vehicles",
    "fleet_charging_sessions",
    "fleet_sub_sessions",
    "fleet_webhook_endpoints",
    "fleet_webhook_messages",
    "fleet_sync_marks",
    "fleet_rate_buckets",
    "fleet_idempotency_keys",
    "fleet_live_loadpoints",
    "fleet_site_tariffs",
    "fleet_site_services",
)


def fleet_tables() -> list[Any]:
    return [SQLModel.metadata.tables[name] for name in FLEET_TABLE_NAMES]


def _m1_initial(conn: Connection) -> None:
    """v1: the fleet tables. A new database gets today's shape here, so every later migration checks what
    is there before it changes anything."""
    SQLModel.metadata.create_all(conn, tables=fleet_tables())


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    if column not in _columns(conn, table):
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _m2_webhook_base_url(conn: Connection) -> None:
    """v2: where each webhook endpoint was registered (the root of the links in its deliveries)."""
    _add_column(conn, "fleet_webhook_endpoints", "base_url", "TEXT NOT NULL DEFAULT ''")


def _rebuild(conn: Connection, table: str) -> None:
    """Recreate ``table`` in today's shape keeping its rows (SQLite cannot drop a unique constraint)."""
    old = f"{table}_before_sites"
    for index in inspect(conn).get_indexes(table):
        if index.get("name"):
            conn.execute(text(f"DROP INDEX IF EXISTS {index['name']}"))
    conn.execute(text(f"ALTER TABLE {table} RENAME TO {old}"))
    SQLModel.metadata.tables[table].create(conn)
    shared = sorted(_columns(conn, old) & _columns(conn, table))
    names = ", ".join(shared)
    conn.execute(text(f"INSERT INTO {table} ({names}) SELECT {names} FROM {old}"))
    conn.execute(text(f"DROP TABLE {old}"))


def _unique_per_site(conn: Connection, table: str, column: str, constraint: str) -> None:
    """``column`` unique per site instead of overall (one ``wallbox`` at every site)."""
    if conn.dialect.name == "sqlite":
        _rebuild(conn, table)
        return
    for unique in inspect(conn).get_unique_constraints(table):
        if unique["column_names"] == [column] and unique.get("name"):
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{unique["name"]}"'))
    for index in inspect(conn).get_indexes(table):
        if index["column_names"] == [column] and index.get("unique") and index.get("name"):
            conn.execute(text(f'DROP INDEX "{index["name"]}"'))
    conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} UNIQUE (site_id, {column})"))


def _m3_sites(conn: Connection) -> None:
    """v3: many sites in one database — every site-bound record carries its site id (existing rows belong
    to the gateway's own site), plus the tables of sites, OAuth codes and refresh tokens, shared rate
    limits and idempotency keys, and the live state a fleet gateway keeps."""
    local = f"TEXT NOT NULL DEFAULT '{LOCAL_SITE}'"
    SQLModel.metadata.create_all(conn, tables=fleet_tables())  # the new tables (existing ones are kept)
    if "site_id" not in _columns(conn, "fleet_evses"):
        _add_column(conn, "fleet_evses", "site_id", local)
        _add_column(conn, "fleet_evses", "loadpoint_id", "INTEGER")
        _add_column(conn, "fleet_evses", "driver", "TEXT NOT NULL DEFAULT 'modbus'")
        _unique_per_site(conn, "fleet_evses", "charger", "uq_fleet_evses_site_charger")
    if "site_id" not in _columns(conn, "fleet_vehicles"):
        _add_column(conn, "fleet_vehicles", "site_id", local)
        _unique_per_site(conn, "fleet_vehicles", "name", "uq_fleet_vehicles_site_name")
    _add_column(conn, "fleet_charging_sessions", "site_id", local)
    _add_column(conn, "fleet_charging_sessions", "loadpoint_id", "INTEGER")
    stamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    _add_column(conn, "fleet_charging_sessions", "unplugged_at", stamp)
    _add_column(conn, "fleet_users", "password_hash", "TEXT")
    _add_column(conn, "fleet_oauth_clients", "grant_types", "TEXT NOT NULL DEFAULT 'client_credentials'")
    _add_column(conn, "fleet_oauth_clients", "redirect_uris", "TEXT NOT NULL DEFAULT ''")
    _add_column(conn, "fleet_oauth_clients", "public", "BOOLEAN NOT NULL DEFAULT FALSE")
    _add_column(conn, "fleet_access_tokens", "user_id", "TEXT")
    _add_column(conn, "fleet_access_tokens", "refresh_family", "TEXT")
    _add_column(conn, "fleet_access_tokens", "revoked_at", stamp)


FLEET_MIGRATIONS: list[Migration] = [_m1_initial, _m2_webhook_base_url, _m3_sites]
"""Ordered, append only; applied with the gateway's mechanism under the component name ``fleet``."""


def migrate_fleet(engine: Engine) -> int:
    """Bring the fleet tables up to date (safe at every start); returns the schema version."""
    return migrate(engine, "fleet", FLEET_MIGRATIONS)
