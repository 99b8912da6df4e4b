"""Root, auth, errors, rate limits, EVSEs and their catalogue, logs, pagination and expand."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from services.gateway.fleet.models import FleetEvse
from shared.config import Config
from shared.db import ChargerStatusLog, CommandLog
from tests.gateway.fleet.conftest import ALL_SCOPES, Fleet, ManualClock, running_fleet


async def test_root_lists_collections_without_auth(fleet: Fleet) -> None:
    response = await fleet.http.get("/v2/")
    assert response.status_code == 200
    assert response.json()["evses"] == f"{fleet.base}/v2/evses/"
    assert response.headers["EvEnergy-Version"] == "2"
    assert int(response.headers["X-RateLimit-Limit"]) >= int(response.headers["X-RateLimit-Remaining"])


async def test_links_use_the_public_url_behind_a_reverse_proxy(config: Config, clock: ManualClock) -> None:
    public = "https://energy.example.com/chargebus"
    proxied = config.model_copy(update={"gateway": config.gateway.model_copy(update={"public_url": public})})
    async with running_fleet(proxied, clock) as fleet:
        root = (await fleet.http.get("/v2/")).json()
        assert root["evses"] == f"{public}/v2/evses/"


async def test_token_and_unauthorized(fleet: Fleet) -> None:
    missing = await fleet.http.get("/v2/evses")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "Authentication credentials were not provided."
    assert "X-RateLimit-Remaining" in missing.headers
    bad = await fleet.http.get("/v2/evses", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    client_id, _ = fleet.client("evse:read")
    wrong = await fleet.http.post(
        "/o/token/", data={"grant_type": "client_credentials"}, auth=(client_id, "x")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    headers = await fleet.headers("evse:read")
    ok = await fleet.http.get("/v2/evses", headers=headers)
    assert ok.status_code == 200
    no_scope = await fleet.http.get(f"/v2/evses/{ok.json()[0]['id']}/command_logs", headers=headers)
    assert no_scope.status_code == 403


async def test_unsupported_version_is_400(fleet: Fleet) -> None:
    headers = await fleet.headers("evse:read", **{"EvEnergy-Version": "3.0"})
    response = await fleet.http.get("/v2/evses", headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "Unsupported version requested: 3.0"


async def test_rate_limit_per_token_with_retry_after(fleet: Fleet) -> None:
    token = await fleet.token("evse:read", rate_limit=3)
    headers = {"Authorization": f"Bearer {token}"}
    remaining = [
        (await fleet.http.get("/v2/evses", headers=headers)).headers["X-RateLimit-Remaining"]
        for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
    limited = await fleet.http.get("/v2/evses", headers=headers)
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert int(limited.headers["Retry-After"]) == 1200
    other = await fleet.headers("evse:read")
    assert (await fleet.http.get("/v2/evses", headers=other)).status_code == 200
    fleet.clock.advance(1200)
    assert (await fleet.http.get("/v2/evses", headers=headers)).status_code == 200


async def test_evses_from_config_retrieve_patch_delete(fleet: Fleet) -> None:
    headers = await fleet.headers("evse:read evse:write")
    evses = (await fleet.http.get("/v2/evses", headers=headers)).json()
    assert sorted(e["cpid"] for e in evses) == ["carport", "wallbox"]
    wallbox = next(e for e in evses if e["cpid"] == "wallbox")
    assert wallbox["user"] == f"{fleet.base}/v2/users/{fleet.owner_id()}"
    assert wallbox["charging_sub_sessions"].endswith(f"/charging_sub_sessions/?evse_id={wallbox['id']}")
    one = await fleet.http.get(
        wallbox["url"], headers=headers, params=[("expand", "model.make"), ("expand", "user")]
    )
    body = one.json()
    assert body["model"]["name"] == "Simulated wallbox" and body["model"]["make"]["name"] == "chargebus"
    assert body["user"]["id"] == fleet.owner_id()

    patched = await fleet.http.patch(
        wallbox["url"], headers=headers, json={"location": {"latitude": 52.5, "longitude": 13.4}}
    )
    assert patched.status_code == 200 and patched.json()["location"] == {"latitude": 52.5, "longitude": 13.4}
    invalid = await fleet.http.patch(
        wallbox["url"], headers=headers, json={"location": {"latitude": 120, "longitude": 0}, "cpid": "x"}
    )
    assert invalid.status_code == 400
    assert set(invalid.json()["field_errors"]) == {"location.latitude", "cpid"}
    again = (await fleet.http.get(wallbox["url"], headers=headers)).json()
    assert again["location"] == {"latitude": 52.5, "longitude": 13.4}

    deleted = await fleet.http.delete(wallbox["url"], headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await fleet.http.get(wallbox["url"], headers=headers)).status_code == 404
    remaining = (await fleet.http.get("/v2/evses", headers=headers)).json()
    assert [e["cpid"] for e in remaining] == ["carport"]
    with fleet.db() as db:
        assert (
            db.exec(select(FleetEvse).where(FleetEvse.charger == "wallbox")).one().lifecycle_state
            == "DECOMMISSIONED"
        )


async def test_unknown_expand_is_400(fleet: Fleet) -> None:
    headers = await fleet.headers("evse:read")
    response = await fleet.http.get("/v2/evses", headers=headers, params={"expand": "owner"})
    assert response.status_code == 400 and "expand" in response.json()["field_errors"]


async def test_evse_makes_and_models(fleet: Fleet) -> None:
    headers = await fleet.headers("evse:read")
    makes = (await fleet.http.get("/v2/evse_makes", headers=headers)).json()
    alfen = next(m for m in makes if m["name"] == "Alfen")
    assert (await fleet.http.get(alfen["url"], headers=headers)).json()["id"] == alfen["id"]
    models = (await fleet.http.get(alfen["models"], headers=headers)).json()
    assert [m["name"] for m in models] == ["Eve Single Pro-line"]
    model = (await fleet.http.get(models[0]["url"], headers=headers, params={"expand": "make"})).json()
    assert model["make"]["name"] == "Alfen"
    all_models = (await fleet.http.get("/v2/evse_models", headers=headers)).json()
    assert {"alfen", "phoenix", "evsedin", "abl", "modbus", "demo"} <= {m["driver"] for m in all_models}
    assert (
        await fleet.http.get("/v2/evse_models/emod00000000000000000000000000", headers=headers)
    ).status_code == 404


def parse_links(header: str) -> dict[str, str]:
    """``<url>; rel="x", …`` → ``{"x": url}``."""
    links: dict[str, str] = {}
    for part in header.split(", "):
        url, rel = part.split("; ")
        links[rel.removeprefix('rel="').rstrip('"')] = url.strip("<>")
    return links


async def test_pagination_follows_link_headers(fleet: Fleet) -> None:
    headers = await fleet.headers("vehicle:read")
    seen: list[str] = []
    url: str | None = "/v2/vehicle_trims?page_size=4"
    pages = 0
    while url and url != "about:blank":
        response = await fleet.http.get(url, headers=headers)
        assert response.status_code == 200
        seen += [t["id"] for t in response.json()]
        links = parse_links(response.headers["Link"])
        if pages == 0:
            assert links["previous"] == "about:blank"
        url = links["next"]
        pages += 1
    assert pages > 2 and len(seen) == len(set(seen)) and seen == sorted(seen)
    back = await fleet.http.get(
        "/v2/vehicle_trims", headers=headers, params={"page_before": seen[5], "page_size": 2}
    )
    assert [t["id"] for t in back.json()] == seen[3:5]
    for bad in ({"page_size": "0"}, {"page_size": "101"}, {"page_after": "not-an-id"}):
        problem = await fleet.http.get("/v2/vehicle_trims", headers=headers, params=bad)
        assert problem.status_code == 400
        assert problem.json()["type"] == "https://api.ev.energy/v2/problems/pagination-parameters/"


async def test_command_and_status_logs_newest_first(fleet: Fleet) -> None:
    headers = await fleet.headers("evse:read debug:read")
    evses = (await fleet.http.get("/v2/evses", headers=headers, params={"cpid": "wallbox"})).json()
    evse = evses[0]
    t0 = fleet.clock()
    with fleet.db() as db:
        for i in range(5):
            db.add(
                CommandLog(
                    event_id=f"c{i}",
                    loadpoint=1,
                    charger="wallbox",
                    seq=i,
                    enabled=i % 2 == 0,
                    current_a=6 + i,
                    phases=3,
                    reason="SOLAR_CHARGING",
                    timestamp=(t0 + timedelta(seconds=i)).replace(tzinfo=None),
                )
            )
        db.add(
            CommandLog(
                event_id="other",
                loadpoint=2,
                charger="carport",
                seq=1,
                enabled=True,
                current_a=16,
                phases=3,
                reason="START_CHARGE",
                timestamp=t0.replace(tzinfo=None),
            )
        )
        db.add(
            ChargerStatusLog(
                event_id="s1",
                loadpoint=1,
                charger="wallbox",
                status="C",
                previous="B",
                timestamp=t0.replace(tzinfo=None),
            )
        )
        db.commit()
    first = await fleet.http.get(
        f"/v2/evses/{evse['id']}/command_logs", headers=headers, params={"page_size": 3}
    )
    logs = first.json()
    assert [log["max_load_target_milliamps"] for log in logs] == [10000, 9000, 8000]
    assert [log["is_enabled_target"] for log in logs] == [True, False, True]
    assert logs[0]["reason"] == "SOLAR_CHARGING" and logs[0]["evse"] == evse["url"]
    next_url = parse_links(first.headers["Link"])["next"]
    second = await fleet.http.get(next_url, headers=headers)
    rest = second.json()
    assert [log["max_load_target_milliamps"] for log in rest] == [7000, 6000]
    assert parse_links(second.headers["Link"])["next"] == "about:blank"
    back = (await fleet.http.get(parse_links(second.headers["Link"])["previous"], headers=headers)).json()
    assert back == logs
    recent = await fleet.http.get(
        f"/v2/evses/{evse['id']}/command_logs",
        headers=headers,
        params={"logged_at__gte": (t0 + timedelta(seconds=3)).isoformat()},
    )
    assert [log["max_load_target_milliamps"] for log in recent.json()] == [10000, 9000]
    one = await fleet.http.get(logs[1]["url"], headers=headers, params={"expand": "evse"})
    assert one.json()["max_load_target_milliamps"] == 9000 and one.json()["evse"]["cpid"] == "wallbox"
    status = (await fleet.http.get(f"/v2/evses/{evse['id']}/status_logs", headers=headers)).json()
    assert status[0]["is_charging"] is True and status[0]["control_pilot_status"] == "C"
    assert (await fleet.http.get(status[0]["url"], headers=headers)).json() == status[0]
    latest = (
        await fleet.http.get(evse["url"], headers=headers, params={"expand": "latest_status_log"})
    ).json()
    assert latest["latest_status_log"]["url"] == status[0]["url"]
    assert (
        await fleet.http.get(f"/v2/evses/{evse['id']}/command_logs/2020-01-01T00:00:00Z/", headers=headers)
    ).status_code == 404


async def test_other_users_resources_are_404(fleet: Fleet) -> None:
    stranger = fleet.new_user("stranger@example.com")
    own = await fleet.headers(ALL_SCOPES)
    evse = (await fleet.http.get("/v2/evses", headers=own)).json()[0]
    theirs = await fleet.headers(ALL_SCOPES, user_id=stranger)
    assert (await fleet.http.get("/v2/evses", headers=theirs)).json() == []
    assert (await fleet.http.get(evse["url"], headers=theirs)).status_code == 404
    assert (await fleet.http.delete(evse["url"], headers=theirs)).status_code == 404
    as_stranger = {**own, "EvEnergy-User": f"{fleet.base}/v2/users/{stranger}/"}
    assert (await fleet.http.get(evse["url"], headers=as_stranger)).status_code == 404
    assert (await fleet.http.get(f"/v2/users/{fleet.owner_id()}", headers=theirs)).status_code == 404
    vehicle = (await fleet.http.get("/v2/vehicles", headers=own)).json()[0]
    assert (await fleet.http.get("/v2/vehicles", headers=theirs)).json() == []
    assert (await fleet.http.get(vehicle["url"], headers=theirs)).status_code == 404
    patch = await fleet.http.patch(vehicle["url"], headers=theirs, json={"smart_charging_enabled": False})
    assert patch.status_code == 404
    assert (await fleet.http.get(vehicle["url"], headers=own)).json()["smart_charging_enabled"] is True
    me = (await fleet.http.get("/v2/users", headers=theirs)).json()
    assert [u["id"] for u in me] == [stranger]
    # A bound client cannot pretend to be somebody else.
    spoof = {**theirs, "EvEnergy-User": fleet.owner_id()}
    assert (await fleet.http.get("/v2/evses", headers=spoof)).status_code == 403
    assert (
        await fleet.http.get(evse["url"], headers={**own, "EvEnergy-User": fleet.owner_id()})
    ).status_code == 200


async def test_token_expiry_and_unknown_user_header(fleet: Fleet) -> None:
    token = await fleet.token("evse:read")
    headers = {"Authorization": f"Bearer {token}"}
    unknown = await fleet.http.get(
        "/v2/evses", headers={**headers, "EvEnergy-User": "user01HN2NJ9NMRZBXT1H6FT9N7735"}
    )
    assert unknown.status_code == 400
    fleet.clock.advance(36000)
    expired = await fleet.http.get("/v2/evses", headers=headers)
    assert expired.status_code == 401 and expired.json()["detail"] == "Invalid or expired token."


async def test_oauth_errors_and_scope_narrowing(fleet: Fleet) -> None:
    client_id, secret = fleet.client("evse:read debug:read")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    narrowed = await fleet.http.post("/o/token/", data={**form, "scope": "evse:read"})
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "evse:read"
    assert narrowed.json()["expires_in"] == 36000 and narrowed.json()["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    evse = (await fleet.http.get("/v2/evses", headers=headers)).json()[0]
    assert (await fleet.http.get(f"{evse['url']}/command_logs", headers=headers)).status_code == 403
    wider = await fleet.http.post("/o/token/", data={**form, "scope": "evse:write"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    grant = await fleet.http.post("/o/token/", data={**form, "grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
