"""A site on a broker of its own, bridged (``chargebus fleet-bridge``) to the central broker — two
mosquitto processes. The site keeps its own roots; the centre sees it below ``<sites_root>/<id>/``,
stores its events, and its requests cross the bridge in and the answers back out."""

from __future__ import annotations

import pytest

from services.embedded_broker import find_mosquitto, mosquitto
from services.fleet_gateway.bridge import Bridge
from shared.config import MqttSettings
from tests.fleet_gateway.conftest import centre_config, running_centre, sim_site, site_config
from tests.support.broker import Broker, free_port


async def test_site_behind_a_bridge(
    broker: Broker, mqtt_settings: MqttSettings, pg_url: str, sites_root: str
) -> None:
    if find_mosquitto() is None or broker.kind != "mosquitto":
        pytest.skip("the bridge needs two mosquitto processes")
    local_state, local_internal = mqtt_settings.topic, mqtt_settings.internal  # the site's own roots
    bridge = Bridge(
        site_id="bridged",
        central_host=broker.host,
        central_port=broker.port,
        sites_root=sites_root,
        local_state_root=local_state,
        local_internal_root=local_internal,
    )
    with mosquitto(free_port(), extra=bridge.config()) as site_broker:
        local = mqtt_settings.model_copy(update={"host": site_broker.host, "port": site_broker.port})
        site = site_config(local, sites_root, "bridged", topic=local_state, internal=local_internal)
        config = centre_config(mqtt_settings, pg_url, sites_root)
        async with running_centre(config) as fleet, sim_site(site) as home:

            async def registered() -> bool:
                return fleet.site_ids() == ["bridged"]

            await fleet.until(registered)  # the manifest crossed the bridge, remapped
            await home.loadpoint(1, "mode", "minpv")
            await home.session("b-1", charged_kwh=2.0)
            operator = fleet.headers()

            async def session_and_mode() -> bool:
                listed = (await fleet.http.get("/v2/charging_sessions", headers=operator)).json()
                (evse,) = (await fleet.http.get("/v2/evses", headers=operator)).json()
                live = evse["live_status"]
                return len(listed) == 1 and live is not None and live["mode"] == "minpv"

            await fleet.until(session_and_mode)
            (session,) = (await fleet.http.get("/v2/charging_sessions", headers=operator)).json()
            boost = await fleet.http.post(
                f"/v2/charging_sessions/{session['id']}/boost_start", headers=operator
            )
            assert boost.status_code == 200, boost.text
            (request,) = home.requests  # arrived on the site's own request topic …
            assert (request.key, request.value) == ("loadpoints/1/mode", "now")
            assert request.reply_to.startswith(f"{local_internal}/replies/")  # … answerable in its terms
