"""Notifications: safe templates, evcc's events decided from the state, delivered by Apprise over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from services.gateway.notify.events import EventDetector, LoadpointFacts
from services.gateway.notify.notifier import Notifier
from shared.bus import Bus
from shared.config import MqttSettings
from shared.config_integrations import NotifySettings, NotifyTemplate
from shared.messages import ServiceStatus
from shared.state import LoadpointState, SiteState
from shared.templating import Template, TemplateError
from tests.integrations.conftest import Received, Receiver, start_receiver
from tests.support.gateway_part import running_part
from tests.support.tree import publish_as_owners


@pytest.mark.parametrize(
    "text",
    [
        "{soc.__class__.__mro__}",
        "{title[0]}",
        "{soc!r}",
        "{HOME}",
        "{0}",
        "{}",
        "{soc:{limit}}",
        "unbalanced {",
    ],
)
def test_templates_refuse_everything_but_named_values(text: str) -> None:
    with pytest.raises(TemplateError):
        Template.parse(text)
    with pytest.raises(ValidationError):
        NotifyTemplate(message=text)


def test_templates_fill_in_values_only() -> None:
    template = Template.parse("{title}: {soc:.0f} % of {limit} — {vehicle}")
    assert template.render({"title": "Garage", "soc": 79.6, "limit": 80, "vehicle": "e-Golf"}) == (
        "Garage: 80 % of 80 — e-Golf"
    )
    assert template.render({"title": "Garage"}) == "Garage:  % of  — "  # a missing value is empty
    assert "PATH" not in Template.parse("{site}").render({"site": "Home"}) + str(os.environ.get("PATH"))[:0]


def facts(**changes: object) -> LoadpointFacts:
    base: dict[str, object] = {"id": 1, "title": "Garage", "connected": False, "charging": False}
    return LoadpointFacts(**{**base, **changes})  # type: ignore[arg-type]


def events(detector: EventDetector, snapshot: LoadpointFacts, now: float = 0.0) -> list[str]:
    return [n.event for n in detector.loadpoint(snapshot, now)]


def test_a_charging_session_as_evcc_announces_it() -> None:
    detector = EventDetector(guest_delay_s=60)
    assert events(detector, facts()) == []  # baseline
    assert events(detector, facts(connected=True, vehicle_name="ev", soc=40.0, limit=80.0), 1) == ["connect"]
    assert events(
        detector, facts(connected=True, charging=True, vehicle_name="ev", soc=41.0, limit=80.0), 2
    ) == ["start"]
    assert events(
        detector, facts(connected=True, charging=True, vehicle_name="ev", soc=80.0, limit=80.0), 3
    ) == ["soc"]
    done = facts(connected=True, vehicle_name="ev", soc=80.0, limit=80.0, energy_wh=24000.0, duration_s=9000)
    stop = detector.loadpoint(done, 4)
    assert [n.event for n in stop] == ["stop"]
    assert stop[0].values["energy"] == 24.0 and stop[0].values["duration"] == "2:30"
    assert events(detector, facts(connected=True, vehicle_name="ev", soc=80.0, limit=80.0), 5) == []  # once
    assert events(detector, facts(vehicle_name="ev"), 6) == ["disconnect"]


def test_guest_after_the_delay_and_plan_overrun_once() -> None:
    detector = EventDetector(guest_delay_s=60)
    events(detector, facts())
    assert events(detector, facts(connected=True), 100) == ["connect"]
    assert events(detector, facts(connected=True), 159) == []
    assert events(detector, facts(connected=True), 160) == ["guest"]
    assert events(detector, facts(connected=True), 200) == []
    assert events(detector, facts(connected=True, overrun_s=600), 201) == ["planoverrun"]
    assert events(detector, facts(connected=True, overrun_s=900), 202) == []
    assert events(detector, facts(connected=True, overrun_s=0), 203) == []
    assert events(detector, facts(connected=True, overrun_s=60), 204) == ["planoverrun"]


def test_a_restart_mid_charge_announces_nothing() -> None:
    detector = EventDetector()
    assert events(detector, facts(connected=True, charging=True, soc=90.0, limit=80.0, overrun_s=5)) == []
    assert detector.device("grid", True, "timeout") == []  # baseline: already failing
    assert [n.event for n in detector.device("grid", False, None)] == ["online"]
    assert [n.event for n in detector.device("grid", True, "timeout")] == ["offline"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.server.shutdown()


def notifier(
    mqtt: MqttSettings, settings: NotifySettings
) -> contextlib.AbstractAsyncContextManager[Notifier]:
    return running_part(mqtt, lambda bus, store: Notifier(settings, bus, store))


async def test_delivered_to_ntfy_and_a_json_webhook(mqtt_settings: MqttSettings, receiver: Receiver) -> None:
    tag = mqtt_settings.topic.split("/")[0]
    settings = NotifySettings.model_validate(
        {
            "urls": [f"json://{receiver.url}/{tag}/hook", f"ntfy://{receiver.url}/{tag}"],
            "events": {
                "connect": {"title": "{site}", "message": "{vehicle} plugged in at {title}"},
                "offline": {"message": "{device} offline: {error}"},
            },
        }
    )

    def mine(requests: list[Received]) -> list[Received]:
        """This test's deliveries (the receiver serves the module)."""
        return [
            r for r in requests if tag in r.path or (isinstance(r.body, dict) and r.body.get("topic") == tag)
        ]

    async with Bus(mqtt_settings, "optimizer") as owner, notifier(mqtt_settings, settings) as notify:
        await publish_as_owners(owner, "site", SiteState(siteTitle="Home"))
        await publish_as_owners(
            owner, "loadpoints/1", LoadpointState(title="Garage", connected=False, charging=False)
        )
        await notify.wait_evaluated(lambda n: n.detector.knows(1))  # the baseline is taken
        await publish_as_owners(
            owner, "loadpoints/1", LoadpointState(connected=True, vehicleName="ev", vehicleTitle="e-Golf")
        )
        got = await asyncio.to_thread(receiver.wait, lambda rs: len(mine(rs)) >= 2)
        hook = next(r.body for r in mine(got) if r.path.endswith("/hook"))
        assert hook["title"] == "Home" and hook["message"] == "e-Golf plugged in at Garage"
        ntfy = next(r.body for r in mine(got) if not r.path.endswith("/hook"))
        assert ntfy["topic"] == tag and ntfy["message"] == "e-Golf plugged in at Garage"

        status = ServiceStatus(state="online", version="1")
        await owner.publish_model(owner.topics.service_status("meter-reader"), status)
        await owner.publish_model(
            owner.topics.service_status("meter-reader"), status.model_copy(update={"state": "offline"})
        )
        got = await asyncio.to_thread(receiver.wait, lambda rs: len(mine(rs)) >= 4)
        assert {r.body["message"] for r in mine(got)[2:]} == {"meter-reader offline: service stopped"}
    # events not configured are not sent: the disconnect of this test's loadpoint never arrived
    assert all("disconnected" not in str(r.body) for r in mine(receiver.requests))
