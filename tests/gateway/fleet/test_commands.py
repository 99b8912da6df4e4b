"""``chargebus fleet-client create``: the printed credentials work, and only a hash is stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlmodel import select

from services.cli import build_parser
from services.gateway.fleet.auth import verify_user
from services.gateway.fleet.models import OAuthClient
from shared.config import Config
from tests.gateway.fleet.conftest import Fleet


def run_cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)  # the real ``chargebus`` command line
    return int(args.handler(args))


async def test_cli_client_gets_a_token(
    fleet: Fleet, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "fleet.yaml"
    config_file.write_text(f"database:\n  url: {config.database.url}\n", encoding="utf-8")
    assert (
        run_cli(
            [
                "fleet-client",
                "create",
                "--config",
                str(config_file),
                "--scopes",
                "evse:read,debug:read",
                "--owner",
                "--name",
                "installer",
            ]
        )
        == 0
    )
    printed = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    client_id, secret = printed["client_id"].strip(), printed["client_secret"].strip()
    assert printed["user"].strip() == fleet.owner_id()
    token = await fleet.http.post(
        "/o/token/", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert token.status_code == 200 and token.json()["scope"] == "debug:read evse:read"
    with fleet.db() as db:
        stored = db.exec(select(OAuthClient).where(OAuthClient.client_id == client_id)).one()
        assert secret not in stored.secret_hash and stored.secret_hash.startswith("$2")
    assert run_cli(["fleet-client", "create", "--config", str(config_file), "--scopes", "evse:fly"]) == 2
    assert "unknown scope" in capsys.readouterr().err


def test_cli_sets_the_owners_sign_in(
    fleet: Fleet,
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_file = tmp_path / "fleet.yaml"
    config_file.write_text(f"database:\n  url: {config.database.url}\n", encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    argv = ["fleet-user", "password", "--config", str(config_file), "--owner", "--email", "me@example.com"]
    assert run_cli([*argv, "--stdin"]) == 0
    assert f"user:  {fleet.owner_id()}" in capsys.readouterr().out
    with fleet.db() as db:
        assert verify_user(db, "me@example.com", "correct horse") is not None
        assert verify_user(db, "me@example.com", "wrong") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert run_cli([*argv, "--stdin"]) == 2  # an empty password is refused
