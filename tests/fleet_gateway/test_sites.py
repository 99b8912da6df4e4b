"""Site ids in the configuration and the topics, and a single-site database growing into a fleet one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from services.fleet_gateway.topics import FleetTopics
from services.gateway.fleet.models import FleetEvse, migrate_fleet
from services.gateway.fleet.sites import adopt_local_records, register_site
from shared.config import ConfigError, parse_config
from shared.db import make_engine, migrate
from shared.messages import SiteCharger, SiteManifest
from tests.support.postgres import postgres_schema


def test_site_id_moves_the_roots_and_client_ids() -> None:
    site = parse_config({"site": {"id": "home-7"}})
    assert (site.mqtt.topic, site.mqtt.internal) == ("sites/home-7/evcc", "sites/home-7/chargebus")
    assert site.mqtt.client_id == "chargebus-home-7" and site.site_id == "home-7"
    explicit = parse_config({"site": {"id": "home-7"}, "mqtt": {"topic": "evcc", "internal": "chargebus"}})
    assert (explicit.mqtt.topic, explicit.mqtt.internal) == ("evcc", "chargebus")  # behind a remapping bridge
    assert parse_config({}).site_id == "local" and parse_config({}).mqtt.topic == "evcc"
    for bad in ("a/b", "+", "#", "", "x" * 64, "-lead"):
        with pytest.raises(ConfigError, match=r"site\.id"):
            parse_config({"site": {"id": bad}})


def test_fleet_topics() -> None:
    topics = FleetTopics("sites", "g")
    parsed = topics.parse("sites/home-1/evcc/loadpoints/2/chargePower")
    assert parsed is not None and (parsed.site_id, parsed.tree, parsed.rest) == (
        "home-1",
        "evcc",
        ("loadpoints", "2", "chargePower"),
    )
    assert topics.parse("sites/home-1/other/x") is None
    assert topics.parse("sites/../evcc/x") is None
    assert topics.parse("elsewhere/home-1/evcc/x") is None
    assert topics.shared(topics.events) == "$share/g/sites/+/chargebus/events/+"


OLD_FLEET_TABLES = """
CREATE TABLE fleet_users (id VARCHAR PRIMARY KEY, email VARCHAR, full_name VARCHAR,
    joined_at TIMESTAMP NOT NULL, is_site_owner BOOLEAN NOT NULL);
CREATE TABLE fleet_evses (id VARCHAR PRIMARY KEY, charger VARCHAR NOT NULL UNIQUE,
    user_id VARCHAR NOT NULL REFERENCES fleet_users (id), latitude FLOAT, longitude FLOAT,
    lifecycle_state VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, decommissioned_at TIMESTAMP);
CREATE INDEX ix_fleet_evses_user_id ON fleet_evses (user_id);
CREATE TABLE fleet_vehicles (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL UNIQUE,
    user_id VARCHAR NOT NULL REFERENCES fleet_users (id), trim_id VARCHAR, model_id VARCHAR,
    battery_size_watt_hours INTEGER, maximum_charge_limit_percentage INTEGER,
    smart_charging_enabled BOOLEAN NOT NULL, vehicle_class VARCHAR, description VARCHAR,
    source VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, deleted_at TIMESTAMP);
CREATE TABLE fleet_charging_sessions (id VARCHAR PRIMARY KEY, session_uid VARCHAR NOT NULL UNIQUE,
    user_id VARCHAR NOT NULL, evse_id VARCHAR, vehicle_id VARCHAR, start TIMESTAMP NOT NULL, "end" TIMESTAMP);
CREATE TABLE fleet_webhook_endpoints (id VARCHAR PRIMARY KEY, user_id VARCHAR, url VARCHAR NOT NULL,
    secret VARCHAR NOT NULL, event_types VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    disabled BOOLEAN NOT NULL);
CREATE TABLE fleet_oauth_clients (client_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL, scopes VARCHAR NOT NULL, user_id VARCHAR,
    rate_limit_per_hour INTEGER NOT NULL, created_at TIMESTAMP NOT NULL, disabled BOOLEAN NOT NULL);
CREATE TABLE fleet_access_tokens (token_hash VARCHAR PRIMARY KEY, client_id VARCHAR NOT NULL, scopes VARCHAR
    NOT NULL, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL);
INSERT INTO schema_version (component, version) VALUES ('fleet', 1);
INSERT INTO fleet_users VALUES ('user01', NULL, 'Site owner', '2026-01-01 00:00:00', TRUE);
INSERT INTO fleet_evses VALUES ('evse01', 'wallbox', 'user01', 52.5, 13.4, 'COMMISSIONED',
    '2026-01-01 00:00:00', NULL);
INSERT INTO fleet_vehicles VALUES ('vhcl01', 'ev', 'user01', NULL, NULL, 60000, 90, TRUE, NULL, 'Demo EV',
    'config', '2026-01-01 00:00:00', NULL);
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with postgres_schema("old") as url:
            yield url


def test_a_single_site_database_becomes_a_fleet_one(old_database: str) -> None:
    engine = make_engine(old_database)
    migrate(engine)  # the gateway's tables (and the schema_version table)
    with engine.begin() as conn:
        for statement in OLD_FLEET_TABLES.split(";"):
            if statement.strip():
                conn.execute(text(statement))
    assert migrate_fleet(engine) == 3
    stamp = datetime(2026, 3, 1, tzinfo=UTC)
    home = SiteManifest(
        site_id="home-1",
        state_root="sites/home-1/evcc",
        internal_root="sites/home-1/chargebus",
        chargers=(SiteCharger(name="wallbox", driver="alfen", loadpoint=1, mode="pv"),),
    )
    with Session(engine) as db:
        adopt_local_records(db, "home-1")  # the gateway got a site.id: its records keep their ids
        register_site(db, home, stamp, home.internal_root)
        other = home.model_copy(update={"site_id": "home-2"})
        register_site(db, other, stamp, other.internal_root)  # another site's "wallbox" is fine now
        db.commit()
        evses = db.exec(select(FleetEvse).order_by(FleetEvse.site_id)).all()
        assert [(e.site_id, e.charger, e.driver) for e in evses] == [
            ("home-1", "wallbox", "alfen"),
            ("home-2", "wallbox", "alfen"),
        ]
        kept = evses[0]
        assert (kept.id, kept.latitude, kept.user_id) == ("evse01", 52.5, "user01")  # history kept
        assert evses[1].user_id != "user01"  # the second site has an owner of its own
    engine.dispose()
