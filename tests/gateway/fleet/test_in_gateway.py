"""The fleet API inside the real gateway: its engine, its event writer, its state store and its bus.

One model, two faces: a session written from a bus event is the row ``/api/sessions`` serves and the
fleet's charging session; a command the actuator reported is a fleet command log; a vehicle created here
is a create request to the optimizer; a boost switches the loadpoint's mode and restores the one the
state tree showed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.config import Config
from shared.messages import CommandApplied, CommandReason, Reply, SessionEvent
from tests.gateway.conftest import FakeOwner, RunningGateway
from tests.gateway.fleet.conftest import direct_token
from tests.support.probe import Probe


def operator_token(gateway: RunningGateway) -> str:
    return direct_token(gateway.ctx.engine)


async def test_fleet_api_on_the_gateway(
    config: Config, gateway: RunningGateway, owner: FakeOwner, probe: Probe
) -> None:
    http = gateway.client
    assert (await http.get("/v2/")).status_code == 200  # also starts the fleet machinery (no lifespan)
    headers = {"Authorization": f"Bearer {operator_token(gateway)}"}
    evses = (await http.get("/v2/evses", headers=headers, params={"cpid": "wallbox"})).json()
    evse = evses[0]

    writer = gateway.ctx.writer
    internal = config.mqtt.internal
    created = datetime.now(UTC).replace(microsecond=0)
    session = SessionEvent(
        event_id="e1",
        kind="created",
        session_uid="uid-1",
        loadpoint="Garage",
        loadpoint_id=1,
        vehicle="Demo EV",
        created=created,
        charged_kwh=1.5,
    )
    command = CommandApplied(
        event_id="c1",
        loadpoint=1,
        charger="wallbox",
        seq=3,
        enabled=True,
        current_a=16.0,
        phases=3,
        reason=CommandReason.SCHEDULED_CHARGING,
    )
    await probe.publish(f"{internal}/events/session", session.model_dump_json())
    await probe.publish(f"{internal}/events/command", command.model_dump_json())
    await writer.wait_handled(2)

    (row,) = (await http.get("/api/sessions")).json()["result"]
    (fleet_session,) = (await http.get("/v2/charging_sessions", headers=headers)).json()
    assert fleet_session["evcc_session_id"] == row["id"]
    assert fleet_session["evse"] == evse["url"] and fleet_session["energy_delivered_watt_hours"] == 1500

    logs = (await http.get(f"/v2/evses/{evse['id']}/command_logs", headers=headers)).json()
    assert [(log["max_load_target_milliamps"], log["reason"]) for log in logs] == [
        (16000, "SCHEDULED_CHARGING")
    ]

    user = (await http.get("/v2/users", headers=headers)).json()[0]["id"]
    models = (await http.get("/v2/vehicle_models", headers=headers)).json()
    vehicle = await http.post(
        "/v2/vehicles",
        headers={**headers, "EvEnergy-User": user},
        json={"model": models[0]["url"], "description": "Fleet car"},
    )
    assert vehicle.status_code == 201
    assert owner.keys()[-1] == f"vehicles/{vehicle.json()['id']}/create"
    assert owner.requests[-1].value["title"] == "Fleet car"

    await probe.publish(f"{config.mqtt.topic}/loadpoints/1/mode", "minpv", retain=True)
    await gateway.store.wait_for(lambda s: s.loadpoint(1) is not None and s.loadpoint(1).mode == "minpv")
    start = await http.post(f"/v2/charging_sessions/{fleet_session['id']}/boost_start", headers=headers)
    assert start.status_code == 200, start.text
    assert (owner.keys()[-1], owner.requests[-1].value) == ("loadpoints/1/mode", "now")
    end = await http.post(f"/v2/charging_sessions/{fleet_session['id']}/boost_end", headers=headers)
    assert end.status_code == 200
    assert (owner.keys()[-1], owner.requests[-1].value) == ("loadpoints/1/mode", "minpv")


async def test_one_refusal_two_shapes(gateway: RunningGateway, owner: FakeOwner) -> None:
    """The owner's refusal means the same status on both APIs; only the shape follows the surface."""
    owner.replies["loadpoints/1/mode"] = lambda r: Reply(id=r.id, ok=False, error="busy", code=409)
    http = gateway.client
    evcc = await http.post("/api/loadpoints/1/mode/now")
    assert (evcc.status_code, evcc.json()) == (409, {"error": "busy"})

    headers = {"Authorization": f"Bearer {operator_token(gateway)}"}
    writer = gateway.ctx.writer
    event = SessionEvent(
        event_id="e9", kind="created", session_uid="uid-9", loadpoint="Garage", loadpoint_id=1,
        created=datetime.now(UTC).replace(microsecond=0),
    )  # fmt: skip
    bus = gateway.ctx.bus
    await bus.publish(bus.topics.event("session"), event.model_dump_json(), retain=False)
    await writer.wait_handled(1)
    (session,) = (await http.get("/v2/charging_sessions", headers=headers)).json()
    fleet = await http.post(f"/v2/charging_sessions/{session['id']}/boost_start", headers=headers)
    assert fleet.status_code == 409
    assert fleet.headers["content-type"] == "application/problem+json"
    assert fleet.json()["detail"] == "busy" and fleet.headers["EvEnergy-Version"] == "2"
    missing = await http.get("/api/sessions", params={"year": "]["})
    assert missing.status_code == 400 and "error" in missing.json()
