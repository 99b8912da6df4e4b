"""``chargebus demo --sites N``: every home a site of its own (id, owner, roots, ports, folder), and the
README's fleet walk-through — ``fleet-client create --config data/demo-config.yaml --owner``, a
client-credentials token, ``/v2/evses`` — on a fleet gateway (SQLite, as the demo runs it) with two homes
of one owner: one client sees every home's EVSEs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.cli import build_parser
from services.demo import demo_config_data
from services.demo_fleet import OWNER, _ports, fleet_data, site_data
from shared.config import MqttSettings, parse_config
from tests.fleet_gateway.conftest import centre_config, running_centre, sim_site, site_config


def test_every_home_is_a_site_of_its_own(tmp_path: Path) -> None:
    base = demo_config_data(None)
    homes = [parse_config(site_data(base, n, tmp_path, 1883, 7070)) for n in range(3)]
    assert [h.site.id for h in homes] == ["home-1", "home-2", "home-3"]
    assert {h.site.owner for h in homes} == {OWNER}
    assert [h.mqtt.topic for h in homes] == [f"sites/home-{n}/evcc" for n in (1, 2, 3)]
    assert [h.gateway.port for h in homes] == [7071, 7072, 7073]
    devices = [
        _ports({"meters": [m.model_dump() for m in h.meters], "simulator": h.simulator.model_dump()})
        for h in homes
    ]
    assert all(devices) and not set.intersection(*devices)  # no two homes share a device port
    for home in homes:  # the meters read what the home's simulator serves
        simulated = {home.simulator.pv_port, home.simulator.grid_port, home.simulator.battery_port}
        assert {m.modbus.port for m in home.meters if m.modbus} <= simulated
    assert len({h.database.url for h in homes}) == 3 and len({h.simulator.pv_peak_w for h in homes}) > 1
    fleet = parse_config(fleet_data(tmp_path, 1883, 7070, None))
    assert fleet.gateway.port == 7070 and fleet.database.url.endswith("fleet.db")


async def test_the_readme_walk_through_lists_every_home(
    mqtt_settings: MqttSettings, sites_root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = centre_config(mqtt_settings, f"sqlite:///{tmp_path / 'fleet.db'}", sites_root)
    config_file = tmp_path / "demo-config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    homes = [site_config(mqtt_settings, sites_root, f"home-{n}") for n in (1, 2)]
    homes = [h.model_copy(update={"site": h.site.model_copy(update={"owner": OWNER})}) for h in homes]
    async with running_centre(config) as fleet, sim_site(homes[0]), sim_site(homes[1]):

        async def registered() -> bool:
            return fleet.site_ids() == ["home-1", "home-2"]

        await fleet.until(registered)
        argv = ["fleet-client", "create", "--config", str(config_file), "--name", "me", "--owner"]
        argv += ["--scopes", "evse:read debug:read charging_session:read vehicle:read"]
        args = build_parser().parse_args(argv)
        assert int(args.handler(args)) == 0
        printed = dict(
            line.split(":", 1) for line in capsys.readouterr().out.splitlines() if line.count(":") >= 1
        )
        client_id, secret = printed["client_id"].strip(), printed["client_secret"].strip()
        token = await fleet.http.post(
            "/o/token/", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        evses = (await fleet.http.get("/v2/evses", headers=headers)).json()
        assert sorted(e["site"] for e in evses) == ["home-1", "home-2"]
        assert len({e["user"] for e in evses}) == 1  # one owner of both homes
