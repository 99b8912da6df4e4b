"""One fleet gateway, two sites on one broker: every site's EVSEs, live state and sessions in one /v2; an
operator sees all sites, an owner only theirs; writes go to the owning site's optimizer and nowhere else."""

from __future__ import annotations

from typing import Any

from shared.config import MqttSettings
from tests.fleet_gateway.conftest import centre_config, running_centre, sim_site, site_config


async def test_two_sites_routing_and_scoping(
    mqtt_settings: MqttSettings, pg_url: str, sites_root: str
) -> None:
    config = centre_config(mqtt_settings, pg_url, sites_root)
    a_config = site_config(mqtt_settings, sites_root, "home-a")
    b_config = site_config(mqtt_settings, sites_root, "home-b")
    async with running_centre(config) as fleet, sim_site(a_config) as a, sim_site(b_config) as b:
        http = fleet.http

        async def both_registered() -> bool:
            return fleet.site_ids() == ["home-a", "home-b"]

        await fleet.until(both_registered)
        operator = fleet.headers()
        evses = (await http.get("/v2/evses", headers=operator)).json()
        assert sorted((e["site"], e["cpid"]) for e in evses) == [("home-a", "wallbox"), ("home-b", "wallbox")]
        evse_a = next(e for e in evses if e["site"] == "home-a")
        evse_b = next(e for e in evses if e["site"] == "home-b")
        assert evse_a["user"] != evse_b["user"]  # each site has its own owner

        # an owner sees only their site, and may not act as another owner
        owner_a, owner_b = fleet.site_owner("home-a"), fleet.site_owner("home-b")
        mine = (await http.get("/v2/evses", headers=fleet.headers(user_id=owner_a))).json()
        assert [e["id"] for e in mine] == [evse_a["id"]]
        assert (
            await http.get(f"/v2/evses/{evse_b['id']}", headers=fleet.headers(user_id=owner_a))
        ).status_code == 404
        other = await http.get(
            "/v2/evses", headers=fleet.headers(user_id=owner_a, **{"EvEnergy-User": owner_b})
        )
        assert other.status_code == 403
        as_b = (await http.get("/v2/evses", headers={**operator, "EvEnergy-User": owner_b})).json()
        assert [e["id"] for e in as_b] == [evse_b["id"]]

        # live state of each site, from its own tree
        await b.loadpoint(1, "chargePower", "7360")
        await b.loadpoint(1, "connected", "true")
        await a.loadpoint(1, "mode", "minpv")

        async def live_b() -> bool:
            status = (await http.get(evse_b["url"], headers=operator)).json()["live_status"]
            return status is not None and status["charge_rate_watts"] == 7360 and status["is_plugged_in"]

        await fleet.until(live_b)
        await a.loadpoint(1, "chargePower", "not a number")  # hostile value: ignored, logged
        await a.loadpoint(1, "offeredCurrent", "16")

        async def live_a() -> bool:
            status = (await http.get(evse_a["url"], headers=operator)).json()["live_status"]
            return status is not None and status["offered_current_milliamps"] == 16000

        await fleet.until(live_a)
        status_a = (await http.get(evse_a["url"], headers=operator)).json()["live_status"]
        assert status_a["charge_rate_watts"] is None and status_a["mode"] == "minpv"

        # a session at site a is site a's, seen by its owner and not by the other
        await a.session("a-1", charged_kwh=1.5)

        async def session_listed() -> bool:
            return len((await http.get("/v2/charging_sessions", headers=operator)).json()) == 1

        await fleet.until(session_listed)
        (session,) = (await http.get("/v2/charging_sessions", headers=operator)).json()
        assert session["evse"] == evse_a["url"] and session["energy_delivered_watt_hours"] == 1500
        assert (await http.get("/v2/charging_sessions", headers=fleet.headers(user_id=owner_b))).json() == []

        # writes are routed to the owning site's optimizer only
        boost = await http.post(f"/v2/charging_sessions/{session['id']}/boost_start", headers=operator)
        assert boost.status_code == 200, boost.text
        assert (a.keys(), b.keys()) == (["loadpoints/1/mode"], [])
        assert a.requests[-1].value == "now"
        end = await http.post(f"/v2/charging_sessions/{session['id']}/boost_end", headers=operator)
        assert end.status_code == 200 and a.requests[-1].value == "minpv"  # the mode site a's tree showed

        vehicles: list[dict[str, Any]] = (await http.get("/v2/vehicles", headers=operator)).json()
        vehicle_b = next(v for v in vehicles if v["site"] == "home-b")
        patched = await http.patch(
            vehicle_b["url"], headers=operator, json={"maximum_charge_limit_percentage": 80}
        )
        assert patched.status_code == 200, patched.text
        assert b.keys() == ["vehicles/ev/limitSoc"] and len(a.requests) == 2

        # a refusal keeps the owner's status; an offline site is 503 and says which site
        b.refuse["vehicles/ev/limitSoc"] = ("not while charging", 409)
        refused = await http.patch(
            vehicle_b["url"], headers=operator, json={"maximum_charge_limit_percentage": 70}
        )
        assert refused.status_code == 409 and "not while charging" in refused.json()["detail"]
    async with running_centre(config) as fleet:  # site b is gone: its optimizer's will says offline

        async def offline() -> bool:
            answer = await fleet.http.patch(
                f"/v2/vehicles/{vehicle_b['id']}",
                headers=fleet.headers(),
                json={"maximum_charge_limit_percentage": 60},
            )
            return answer.status_code == 503 and "site home-b" in answer.json()["detail"]

        await fleet.until(offline)
