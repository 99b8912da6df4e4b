"""Admin auth (§7), protected system endpoints, login throttling, the password CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from services.gateway.auth import AuthStore, LoginThrottle
from shared.config import Config
from shared.logging import get_logger
from tests.gateway.conftest import FakeOwner, RunningGateway, running_gateway

REPO = Path(__file__).parents[2]


async def test_password_login_logout_and_protected_endpoints(gateway: RunningGateway) -> None:
    client = gateway.client
    unset = await client.get("/api/auth/status")  # no password yet: nobody is logged in, no 501
    assert (unset.status_code, unset.text) == (200, "false")
    assert (await client.get("/api/system/log")).status_code == 401
    assert (await client.post("/api/auth/login", json={"password": "x"})).status_code == 401

    first = await client.put("/api/auth/password", json={"new": "s3cret"})
    assert first.status_code == 201 and "auth" in client.cookies  # first set logs in
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert (await client.get("/api/auth/status")).text == "true"
    stored = AuthStore(gateway.ctx.engine).password_hash()
    assert stored is not None and stored.startswith("$2") and "s3cret" not in stored

    await client.post("/api/auth/logout")
    client.cookies.clear()
    assert (await client.get("/api/auth/status")).text == "false"
    assert (await client.get("/api/system/log/areas")).status_code == 401
    async with httpx.AsyncClient(
        base_url=gateway.base_url, cookies={"auth": "eyJhbGciOiJIUzI1NiJ9.e30.x"}
    ) as forged:
        assert (await forged.get("/api/system/log")).status_code == 401

    assert (await client.post("/api/auth/login", json={"password": "wrong"})).status_code == 401
    assert (await client.post("/api/auth/login", json={"password": "s3cret"})).status_code == 200
    assert (await client.get("/api/system/log/areas")).status_code == 200

    wrong_current = await client.put("/api/auth/password", json={"current": "nope", "new": "other"})
    assert wrong_current.status_code == 400
    changed = await client.put("/api/auth/password", json={"current": "s3cret", "new": "n3w"})
    assert changed.status_code == 202
    assert AuthStore(gateway.ctx.engine).verify("n3w")
    assert (await client.put("/api/auth/password", json={"current": "n3w", "new": ""})).status_code == 400


async def test_repeated_wrong_passwords_are_refused_without_waiting(gateway: RunningGateway) -> None:
    await gateway.client.put("/api/auth/password", json={"new": "right"})
    gateway.client.cookies.clear()
    codes = [
        (await gateway.client.post("/api/auth/login", json={"password": "bad"})).status_code for _ in range(5)
    ]
    assert codes[:4] == [401, 401, 401, 401] and codes[4] == 429
    locked = await gateway.client.post("/api/auth/login", json={"password": "right"})
    assert locked.status_code == 429 and "try again" in locked.json()["error"]


def test_throttle_backs_off_exponentially_and_forgives_success() -> None:
    throttle = LoginThrottle(free=2, base_s=1.0, cap_s=8.0)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(2):
        throttle.failed("a", now)
    assert throttle.retry_after("a", now) == 0
    waits = []
    for _ in range(5):
        throttle.failed("a", now)
        waits.append(throttle.retry_after("a", now))
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert throttle.retry_after("b", now) == 0  # per client
    assert throttle.retry_after("a", now + timedelta(seconds=9)) == 0
    bounded = LoginThrottle(free=0, max_clients=2)
    for client in ("x", "y", "z"):
        bounded.failed(client, now)
    later = now + timedelta(seconds=5)
    bounded.failed("w", later)  # full: clients whose lockout expired are forgotten
    assert set(bounded.clients) == {"w"}
    throttle.succeeded("a")
    throttle.failed("a", now)
    assert throttle.retry_after("a", now) == 0


async def test_setters_need_login_when_configured(
    config: Config, owner: FakeOwner, gateway: RunningGateway
) -> None:
    config.gateway.auth_required_for_setters = True
    refused = await gateway.client.post("/api/loadpoints/1/mode/now")
    session_edit = await gateway.client.delete("/api/session/1")
    telemetry = await gateway.client.post("/api/settings/telemetry/true")
    assert (refused.status_code, session_edit.status_code, telemetry.status_code) == (401, 401, 401)
    assert owner.requests == []
    read = await gateway.client.get("/api/loadpoints/1/plan")  # reads stay open
    assert read.status_code == 200 and owner.keys() == ["loadpoints/1/plan"]
    await gateway.client.put("/api/auth/password", json={"new": "pw"})
    allowed = await gateway.client.post("/api/loadpoints/1/mode/now")
    assert allowed.status_code == 200 and owner.keys() == ["loadpoints/1/plan", "loadpoints/1/mode"]


async def test_system_log_filters_and_download(gateway: RunningGateway) -> None:
    recent = gateway.ctx.recent
    recent.lines.extend(
        [
            {"event": "charging started", "level": "info", "service": "optimizer", "loadpoint": 1},
            {"event": "meter timeout", "level": "warning", "service": "meter-reader", "device": "grid"},
            {"event": "poll", "level": "debug", "service": "meter-reader", "device": "grid"},
        ]
    )
    await gateway.client.put("/api/auth/password", json={"new": "pw"})
    areas = (await gateway.client.get("/api/system/log/areas")).json()["result"]
    assert areas == ["grid", "lp-1"]
    warn = (await gateway.client.get("/api/system/log", params={"level": "warn"})).json()["result"]
    assert len(warn) == 1 and "meter timeout" in warn[0] and "[grid] WARN" in warn[0]
    grid = (await gateway.client.get("/api/system/log", params={"areas": "grid", "level": "debug"})).json()
    assert len(grid["result"]) == 2
    last = (await gateway.client.get("/api/system/log", params={"level": "debug", "count": 1})).json()[
        "result"
    ]
    assert len(last) == 1 and "poll" in last[0]
    text = await gateway.client.get("/api/system/log", params={"format": "txt", "level": "info"})
    assert text.headers["content-type"].startswith("text/plain") and text.text.count("\n") == 2
    assert (await gateway.client.get("/api/system/log", params={"level": "LOUD"})).status_code == 400


async def test_shutdown_stops_cleanly_after_login(config: Config) -> None:
    async with running_gateway(config) as gw:
        assert (await gw.client.post("/api/system/shutdown")).status_code == 401
        assert not gw.ctx.shutdown.is_set()
        await gw.client.put("/api/auth/password", json={"new": "pw"})
        response = await gw.client.post("/api/system/shutdown")
        assert response.status_code == 204 and gw.ctx.shutdown.is_set()


async def test_real_log_lines_reach_the_log_view(gateway: RunningGateway) -> None:
    from shared.logging import configure_logging

    configure_logging("debug", "json", recent=gateway.ctx.recent)
    get_logger("gateway", loadpoint=2).warning("vehicle not responding")
    await gateway.client.put("/api/auth/password", json={"new": "pw"})
    lines = (await gateway.client.get("/api/system/log", params={"level": "warn", "areas": "lp-2"})).json()
    assert any("vehicle not responding" in line for line in lines["result"])


def test_password_cli_set_and_reset(tmp_path: Path) -> None:
    config_file = tmp_path / "chargebus.yaml"
    db = tmp_path / "cli.db"
    config_file.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{db}"}}))
    run = [sys.executable, "-m", "services.cli", "password"]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*run, "set", "--config", str(config_file), "--stdin"], input="cli-pass\n", text=True,
        capture_output=True, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from shared.db import open_database

    engine = open_database(f"sqlite:///{db}")
    assert AuthStore(engine).verify("cli-pass")
    reset = subprocess.run(
        [*run, "reset", "--config", str(config_file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert reset.returncode == 0, reset.stderr
    assert not AuthStore(engine).has_password()
    engine.dispose()


async def test_jwt_secret_from_config_signs_the_cookie(config: Config) -> None:
    import jwt
    from pydantic import SecretStr

    config.gateway.jwt_secret = SecretStr("configured-secret-for-tests-0123456789")
    async with running_gateway(config) as gw:
        await gw.client.put("/api/auth/password", json={"new": "pw"})
        claims = jwt.decode(
            gw.client.cookies["auth"], "configured-secret-for-tests-0123456789", algorithms=["HS256"]
        )
        assert claims["sub"] == "admin" and claims["exp"] - claims["iat"] == 90 * 24 * 3600
        assert AuthStore(gw.ctx.engine).secret() != "configured-secret-for-tests-0123456789"  # never stored


async def test_generated_secret_is_stored_and_survives_restart(config: Config) -> None:
    async with running_gateway(config) as gw:
        await gw.client.put("/api/auth/password", json={"new": "pw"})
        cookie = gw.client.cookies["auth"]
    async with running_gateway(config) as gw:
        gw.client.cookies.set("auth", cookie)
        assert (await gw.client.get("/api/auth/status")).text == "true"
