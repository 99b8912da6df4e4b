"""Vehicles (both faces: fleet record and optimizer vehicle), sessions, sub-sessions, boosts, tariffs."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.db import ChargerStatusLog, ChargingSession
from shared.messages import Rate, RateSeries, TariffType, TariffUsage
from tests.gateway.fleet.conftest import ALL_SCOPES, BusSite, Fleet


async def test_vehicle_catalogue(fleet: Fleet) -> None:
    headers = await fleet.headers("vehicle:read")
    makes = (await fleet.http.get("/v2/vehicle_makes", headers=headers)).json()
    volvo = next(m for m in makes if m["name"] == "Volvo")
    assert (await fleet.http.get(volvo["url"], headers=headers)).json()["name"] == "Volvo"
    models = (await fleet.http.get(volvo["models"], headers=headers)).json()
    assert [m["name"] for m in models] == ["C40"]
    c40 = (await fleet.http.get(models[0]["url"], headers=headers, params={"expand": "make"})).json()
    assert c40["make"]["id"] == volvo["id"]
    trims = (await fleet.http.get(c40["vehicle_trims"], headers=headers)).json()
    core = next(t for t in trims if t["name"] == "Recharge Core (69 kWh)")
    trim = (await fleet.http.get(core["url"], headers=headers, params={"expand": "model.make"})).json()
    assert trim["model"]["make"]["name"] == "Volvo" and trim["battery_size_watt_hours"] == 69000


async def test_create_patch_delete_vehicle_reaches_the_optimizer(fleet: Fleet) -> None:
    headers = await fleet.headers("vehicle:read vehicle:write", **{"EvEnergy-User": fleet.owner_id()})
    trims = (await fleet.http.get("/v2/vehicle_trims", headers=headers, params={"page_size": 100})).json()
    trim = next(t for t in trims if t["name"] == "Pro S (77 kWh)")
    created = await fleet.http.post(
        "/v2/vehicles",
        headers=headers,
        params={"expand": "user"},
        json={"trim": trim["url"], "description": "Family ID.3", "maximum_charge_limit_percentage": 80},
    )
    assert created.status_code == 201, created.text
    vehicle = created.json()
    assert vehicle["id"].startswith("vhcl") and len(vehicle["id"]) == 30
    assert vehicle["integrated"] == "UNINTEGRATED" and vehicle["battery_size_watt_hours"] == 77000
    assert vehicle["user"]["id"] == fleet.owner_id()
    request = fleet.optimizer.requests[-1]
    assert request.key == f"vehicles/{vehicle['id']}/create"
    assert request.value == {"title": "Family ID.3", "capacity_kwh": 77.0, "limit_soc": 80}

    patched = await fleet.http.patch(
        vehicle["url"],
        headers=headers,
        json={
            "battery_size_watt_hours": 75000,
            "maximum_charge_limit_percentage": 90,
            "smart_charging_enabled": False,
        },
    )
    assert patched.status_code == 200
    assert (
        patched.json()["maximum_charge_limit_percentage"] == 90
        and patched.json()["smart_charging_enabled"] is False
    )
    assert fleet.optimizer.keys()[-2:] == [
        f"vehicles/{vehicle['id']}/capacity",
        f"vehicles/{vehicle['id']}/limitSoc",
    ]
    assert [r.value for r in fleet.optimizer.requests[-2:]] == [75.0, 90]

    too_low = await fleet.http.patch(
        vehicle["url"], headers=headers, json={"maximum_charge_limit_percentage": 20}
    )
    assert too_low.status_code == 400 and "maximum_charge_limit_percentage" in too_low.json()["field_errors"]
    fleet.optimizer.refuse[f"vehicles/{vehicle['id']}/limitSoc"] = "not now"
    refused = await fleet.http.patch(
        vehicle["url"], headers=headers, json={"maximum_charge_limit_percentage": 60}
    )
    assert refused.status_code == 400 and "not now" in refused.json()["detail"]
    assert (await fleet.http.get(vehicle["url"], headers=headers)).json()[
        "maximum_charge_limit_percentage"
    ] == 90

    listed = (await fleet.http.get("/v2/vehicles", headers=headers)).json()
    assert {v["evcc_vehicle"] for v in listed} == {"ev", vehicle["id"]}
    assert (await fleet.http.delete(vehicle["url"], headers=headers)).status_code == 204
    assert fleet.optimizer.keys()[-1] == f"vehicles/{vehicle['id']}/delete"
    assert (await fleet.http.get(vehicle["url"], headers=headers)).status_code == 404
    configured = next(v for v in listed if v["evcc_vehicle"] == "ev")
    assert (await fleet.http.delete(configured["url"], headers=headers)).status_code == 409


async def test_create_vehicle_errors(fleet: Fleet) -> None:
    operator = await fleet.headers("vehicle:read vehicle:write")
    models = (await fleet.http.get("/v2/vehicle_models", headers=operator)).json()
    no_user = await fleet.http.post("/v2/vehicles", headers=operator, json={"model": models[0]["url"]})
    assert no_user.status_code == 400
    assert no_user.headers["content-type"] == "application/problem+json"
    assert list(no_user.json()["field_errors"]) == ["user"]
    bad_trim = await fleet.http.post(
        "/v2/vehicles",
        headers=operator,
        json={
            "trim": f"{fleet.base}/v2/vehicle_trims/trim00000000000000000000000000",
            "user": fleet.owner_id(),
        },
    )
    assert bad_trim.json()["field_errors"] == {"trim": ["Invalid hyperlink - Object does not exist."]}
    before = len(fleet.optimizer.requests)
    fleet.optimizer.refuse.clear()
    body = {"model": models[0]["url"], "user": f"{fleet.base}/v2/users/{fleet.owner_id()}"}
    created = await fleet.http.post("/v2/vehicles", headers=operator, json=body)
    assert created.status_code == 201
    assert len(fleet.optimizer.requests) == before + 1


def add_session(fleet: Fleet, uid: str, charged_kwh: float = 0.0, finished: bool = False) -> None:
    now = fleet.clock().replace(tzinfo=None)
    with fleet.db() as db:
        db.add(
            ChargingSession(
                session_uid=uid,
                created=now,
                loadpoint="Garage",
                loadpoint_id=1,
                vehicle="Demo EV",
                charged_kwh=charged_kwh,
                finished=now if finished else None,
                charge_duration=int(3600e9),
                price_per_kwh=0.25,
            )
        )
        db.commit()


def set_session(fleet: Fleet, uid: str, **values: object) -> None:
    from sqlmodel import select

    with fleet.db() as db:
        row = db.exec(select(ChargingSession).where(ChargingSession.session_uid == uid)).one()
        for key, value in values.items():
            setattr(row, key, value)
        db.add(row)
        db.commit()


async def test_sessions_sub_sessions_and_boost(fleet: Fleet) -> None:
    headers = await fleet.headers("charging_session:read charging_session:write evse:read")
    add_session(fleet, "s-1", charged_kwh=2.0)
    sessions = (
        await fleet.http.get("/v2/charging_sessions", headers=headers, params={"expand": "sub_sessions"})
    ).json()
    assert len(sessions) == 1
    session = sessions[0]
    assert session["end"] is None and session["vehicle"] and session["evse"]
    assert [s["mode"] for s in session["sub_sessions"]] == ["SMART"]
    assert session["sub_sessions"][0]["energy_delivered_watt_hours"] == 2000

    fleet.clock.advance(600)
    boosted = await fleet.http.post(f"/v2/charging_sessions/{session['id']}/boost_start", headers=headers)
    assert boosted.status_code == 200, boosted.text
    assert (
        fleet.optimizer.requests[-1].key == "loadpoints/1/mode"
        and fleet.optimizer.requests[-1].value == "now"
    )
    again = await fleet.http.post(f"/v2/charging_sessions/{session['id']}/boost_start", headers=headers)
    assert again.status_code == 409

    set_session(fleet, "s-1", charged_kwh=5.0)
    fleet.clock.advance(600)
    ended = await fleet.http.post(f"/v2/charging_sessions/{session['id']}/boost_end", headers=headers)
    assert ended.status_code == 200
    assert fleet.optimizer.requests[-1].value == "pv"  # the configured mode, as nothing else was seen

    subs = (
        await fleet.http.get(
            "/v2/charging_sub_sessions",
            headers=headers,
            params={"evse_id": session["evse"].rsplit("/", 1)[-1]},
        )
    ).json()
    assert [s["mode"] for s in subs] == ["SMART", "BOOST", "SMART"]  # newest first
    assert [s["energy_delivered_watt_hours"] for s in subs] == [0, 3000, 2000]
    boost = subs[1]
    assert boost["end"] is not None and boost["cost"] == 75  # 3 kWh × 0.25 EUR = 75 cents
    only_boost = (
        await fleet.http.get("/v2/charging_sub_sessions", headers=headers, params={"mode": "BOOST"})
    ).json()
    assert [s["id"] for s in only_boost] == [boost["id"]]
    detail = (
        await fleet.http.get(boost["url"], headers=headers, params={"expand": "charging_session"})
    ).json()
    assert detail["charging_session"]["id"] == session["id"]

    stopped = fleet.clock().replace(tzinfo=None)
    set_session(fleet, "s-1", finished=stopped, charged_kwh=6.0)
    # A charge stop alone (still plugged in) does not end the episode …
    paused = (await fleet.http.get(f"/v2/charging_sessions/{session['id']}", headers=headers)).json()
    assert paused["end"] is None
    # … the disconnect does.
    fleet.clock.advance(60)
    with fleet.db() as db:
        db.add(
            ChargerStatusLog(
                event_id="unplug",
                loadpoint=1,
                charger="wallbox",
                status="A",
                previous="B",
                timestamp=fleet.clock().replace(tzinfo=None),
            )
        )
        db.commit()
    finished = (await fleet.http.get(f"/v2/charging_sessions/{session['id']}", headers=headers)).json()
    assert finished["end"] == stopped.isoformat() + "Z"
    open_subs = await fleet.http.get(
        "/v2/charging_sub_sessions", headers=headers, params={"is_finished": "false"}
    )
    assert open_subs.json() == []
    late = await fleet.http.post(f"/v2/charging_sessions/{session['id']}/boost_start", headers=headers)
    assert late.status_code == 409
    stranger = await fleet.headers("charging_session:read", user_id=fleet.new_user("x@example.com"))
    assert (
        await fleet.http.get(f"/v2/charging_sessions/{session['id']}", headers=stranger)
    ).status_code == 404
    assert (await fleet.http.get("/v2/charging_sub_sessions", headers=stranger)).json() == []


async def test_tariffs_and_carbon_feed_from_the_bus(fleet: Fleet) -> None:
    start = fleet.clock().replace(minute=0)
    grid = RateSeries(
        usage=TariffUsage.GRID,
        type=TariffType.PRICE_DYNAMIC,
        currency="EUR",
        rates=[
            Rate(start=start + timedelta(hours=h), end=start + timedelta(hours=h + 1), value=0.2 + h / 100)
            for h in range(30)
        ],
    )
    co2 = RateSeries(
        usage=TariffUsage.CO2,
        type=TariffType.CO2,
        rates=[Rate(start=start, end=start + timedelta(hours=1), value=321.0)],
    )
    await fleet.bus.publish_model(fleet.bus.topics.tariff("grid"), grid)
    await fleet.bus.publish_model(fleet.bus.topics.tariff("co2"), co2)
    headers = await fleet.headers("tariff:read tariff:prices:read carbon:read")
    site = fleet.ctx.sites
    assert isinstance(site, BusSite)
    await site.view.wait_for(lambda live: live.tariff("grid") is not None and live.tariff("co2") is not None)
    feeds = (await fleet.http.get("/v2/carbon_feeds", headers=headers)).json()
    tariffs = (await fleet.http.get("/v2/tariffs", headers=headers)).json()
    tariff = next(t for t in tariffs if t["usage"] == "grid")
    detail = (await fleet.http.get(tariff["url"], headers=headers)).json()
    assert detail["current_price"] == 20.0 and detail["currency"] == "EUR"
    prices = await fleet.http.get(detail["prices"], headers=headers, params={"page_size": 24})
    assert [p["price_minor_units"] for p in prices.json()][:2] == [20.0, 21.0]
    assert prices.json()[0]["interval_seconds"] == 3600
    assert "page=2" in prices.headers["Link"]
    assert (
        len(
            (
                await fleet.http.get(detail["prices"], headers=headers, params={"page": 2, "page_size": 24})
            ).json()
        )
        == 6
    )
    assert (await fleet.http.get(detail["prices"], headers=headers, params={"page": 9})).status_code == 404
    feed = (await fleet.http.get(feeds[0]["url"], headers=headers)).json()
    assert feed["current_co2_intensity_grams_per_kilowatt_hour"] == 321.0
    intensities = (await fleet.http.get(feed["carbon_intensities"], headers=headers)).json()
    assert intensities[0]["co2_intensity_grams_per_kilowatt_hour"] == 321.0
    no_prices = await fleet.headers("tariff:read")
    assert (await fleet.http.get(detail["prices"], headers=no_prices)).status_code == 403
    assert (
        json.loads((await fleet.http.get(tariff["url"], headers=no_prices)).text)["prices"]
        == detail["prices"]
    )


async def test_users(fleet: Fleet) -> None:
    operator = await fleet.headers(ALL_SCOPES)
    created = await fleet.http.post("/v2/users", headers=operator, json={"email": "new@example.com"})
    assert created.status_code == 201
    user = created.json()
    assert (await fleet.http.get(user["url"], headers=operator)).json()["email"] == "new@example.com"
    found = (await fleet.http.get("/v2/users", headers=operator, params={"email": "new@example.com"})).json()
    assert [u["id"] for u in found] == [user["id"]]
    owner = (await fleet.http.get(f"/v2/users/{fleet.owner_id()}", headers=operator)).json()
    assert len(owner["evses"]) == 2 and len(owner["vehicles"]) == 1
    bad = await fleet.http.post("/v2/users", headers=operator, json={"email": "not an address"})
    assert bad.status_code == 400 and "email" in bad.json()["field_errors"]
