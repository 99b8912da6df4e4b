"""The central system's door: identities, unknown charge points (parked or refused), basic auth, and the
failsafe profile a box falls back to when chargebus is gone — with real websocket charge points."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from services.charger_actuator.ocpp.central import CentralSystem, basic_auth_ok, identity_of
from services.charger_actuator.ocpp.driver import OcppCharger
from services.simulator.devices.ocpp_cp import SimulatedChargePoint
from shared.config_devices import ChargerConfig, OcppSettings, OcppTls
from shared.devices.ocpp import OcppEndpoint
from shared.logging import get_logger
from shared.messages import OcppStations
from shared.tasks import cancel_and_wait
from tests.support.broker import free_port, wait_for
from tests.support.modbus import simulated_home


@contextlib.asynccontextmanager
async def central(**settings: Any) -> AsyncIterator[tuple[CentralSystem, list[OcppStations]]]:
    published: list[OcppStations] = []
    system = CentralSystem(
        OcppSettings(host="127.0.0.1", port=free_port(), response_timeout_s=3, **settings),
        log=get_logger("test"),
        on_stations=published.append,
    )
    yield system, published
    await system.stop()


def charger(identity: str = "cp1", **ocpp: Any) -> ChargerConfig:
    return ChargerConfig.model_validate(
        {"name": "box", "type": "ocpp", "ocpp": {"identity": identity, "meter_interval_s": 1, **ocpp}}
    )


@contextlib.asynccontextmanager
async def charge_point(url: str, **device: Any) -> AsyncIterator[SimulatedChargePoint]:
    spec = {"name": "wallbox", "model": "ocpp", "port": 0, "url": url, **device}
    async with simulated_home({"devices": [spec], "car": {"connected": True}}) as home:
        cp = home.services["wallbox"]
        assert isinstance(cp, SimulatedChargePoint)
        yield cp


@pytest.mark.parametrize(
    ("path", "identity"),
    [("/cp1", "cp1"), ("/ocpp/ABB-123.4", "ABB-123.4"), ("/steve/CentralSystemService/EVB%2DP1/", "EVB-P1"),
     ("/", None), ("/a%2Fb", None), ("/" + "x" * 49, None), ("/cp 1", None)],
)  # fmt: skip
def test_identity_is_the_last_path_segment(path: str, identity: str | None) -> None:
    assert identity_of(path) == identity


def test_basic_auth_compares_user_and_password() -> None:
    assert basic_auth_ok("Basic Y3AxOnMzY3JldA==", "cp1", "s3cret")  # cp1:s3cret
    assert not basic_auth_ok("Basic Y3AxOnMzY3JldA==", "cp2", "s3cret")
    assert not basic_auth_ok("Basic Y3AxOnMzY3JldA==", "cp1", "other")
    assert not basic_auth_ok("Basic !!!", "cp1", "s3cret") and not basic_auth_ok(None, "cp1", "s3cret")


async def test_unknown_charge_point_is_parked_and_listed() -> None:
    async with central() as (system, published):
        OcppCharger(charger("cp1"), system.station(charger("cp1").ocpp))  # type: ignore[arg-type]
        await system.start()
        async with charge_point(f"ws://127.0.0.1:{system.port}/stranger") as cp:
            await wait_for(lambda: cp.boots >= 1)
            assert not cp.accepted  # BootNotification answered Pending: it keeps asking
            await wait_for(lambda: any(s.identity == "stranger" and s.vendor for s in published[-1].stations))
        stations = {s.identity: s for s in system.snapshot().stations}
        assert stations["stranger"].registration == "pending" and not stations["stranger"].configured
        assert stations["stranger"].model == "SimBox" and stations["cp1"].registration == "unknown"


async def test_unknown_charge_point_is_refused_when_configured_so() -> None:
    async with central(unknown="reject") as (system, _):
        await system.start()
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"ws://127.0.0.1:{system.port}/stranger", subprotocols=[Subprotocol("ocpp1.6")]
            ):
                pass
        assert refused.value.response.status_code == 404
        assert {s.identity: s.registration for s in system.snapshot().stations} == {"stranger": "rejected"}


async def test_basic_auth_is_required_when_a_password_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP1_PASSWORD", "s3cret")
    monkeypatch.setenv("WRONG_PASSWORD", "guess")
    async with central() as (system, _):
        config = charger("cp1", password_env="CP1_PASSWORD")
        assert config.ocpp is not None
        OcppCharger(config, system.station(config.ocpp))
        await system.start()
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{system.port}/cp1", subprotocols=[Subprotocol("ocpp1.6")]):
                pass
        assert refused.value.response.status_code == 401
        async with charge_point(f"ws://127.0.0.1:{system.port}/cp1", password_env="WRONG_PASSWORD") as cp:
            await wait_for(lambda: system.snapshot().stations[0].registration == "unknown" and cp.boots == 0)
            assert not system.stations["cp1"].online
        async with charge_point(f"ws://127.0.0.1:{system.port}/cp1", password_env="CP1_PASSWORD") as cp:
            await wait_for(lambda: cp.accepted and system.stations["cp1"].configured)


async def test_a_box_left_alone_falls_back_to_the_failsafe_profile() -> None:
    config = charger("cp1", profile_validity_s=1.5)
    assert config.ocpp is not None
    async with central() as (system, _):
        driver = OcppCharger(config, system.station(config.ocpp))
        await system.start()
        async with charge_point(f"ws://127.0.0.1:{system.port}/cp1") as cp:
            await wait_for(lambda: system.stations["cp1"].configured)
            assert driver.capabilities.heartbeat_s == 0.75  # the actuator re-writes it in time
            await driver.set_current(10.0)
            await driver.set_enabled(True)
            await wait_for(lambda: cp.limit() == (10.0, None) and cp.sim.wallbox.status == "C")
            fallback = cp.profiles[("TxDefaultProfile", 0)]
            live = cp.profiles[("TxDefaultProfile", 1)]
            assert "valid_to" not in fallback and "valid_to" in live
            # chargebus goes away: nobody re-writes the live profile, and its validity ends.
            await system.stop()
            await wait_for(lambda: cp.limit() == (0.0, None) and cp.sim.wallbox.status == "B", timeout=5)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key for the central system's TLS listener."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cs.pem", tmp_path / "cs.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_only_charge_point_is_taken_only_over_wss(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = OcppTls(cert_file=str(cert), key_file=str(key), port=free_port())
    async with central(tls=tls) as (system, _):
        config = charger("cp1", tls_only=True)
        assert config.ocpp is not None
        OcppCharger(config, system.station(config.ocpp))
        await system.start()
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{system.port}/cp1", subprotocols=[Subprotocol("ocpp1.6")]):
                pass
        assert refused.value.response.status_code == 403
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the self-signed test certificate
        url = f"wss://127.0.0.1:{system.tls_port}/cp1"
        async with connect(url, ssl=context, subprotocols=[Subprotocol("ocpp1.6")]) as websocket:
            endpoint = OcppEndpoint("cp1", websocket, {}, timeout_s=5)
            serving = asyncio.create_task(endpoint.serve())
            boot = await endpoint.call(
                call.BootNotification(charge_point_vendor="ACME", charge_point_model="X1")
            )
            assert boot.status == "Accepted" and system.stations["cp1"].online
            await cancel_and_wait([serving])
