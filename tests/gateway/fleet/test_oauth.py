"""OAuth as ev.energy offers it beside client credentials: the authorization code grant with PKCE (a
user signs in and allows an app), refresh-token rotation with reuse detection, and revocation; plus
``Idempotency-Key`` on writes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import Session

from services.gateway.fleet.auth import AUTHORIZATION_CODE, create_client, hash_secret
from services.gateway.fleet.models import FleetUser
from tests.gateway.fleet.conftest import Fleet
from tests.gateway.fleet.test_vehicles_sessions import add_session

REDIRECT = "https://app.example/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def app_client(fleet: Fleet, *, public: bool) -> tuple[str, str | None]:
    with fleet.db() as db:
        client, secret = create_client(
            db,
            name="Charge app",
            scopes=frozenset({"evse:read", "charging_session:read"}),
            user_id=None,
            now=fleet.clock(),
            grant_types=(AUTHORIZATION_CODE,),
            redirect_uris=(REDIRECT,),
            public=public,
        )
        db.commit()
        return client.client_id, secret


def owner_with_password(fleet: Fleet, email: str, password: str) -> str:
    with Session(fleet.engine) as db:
        owner = db.get(FleetUser, fleet.owner_id())
        assert owner is not None
        owner.email, owner.password_hash = email, hash_secret(password)
        db.add(owner)
        db.commit()
        return owner.id


async def authorize(fleet: Fleet, client_id: str, challenge: str, password: str, state: str = "xyz") -> str:
    """The user's side: open the page, sign in, allow; the code the app's redirect URI receives."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "evse:read",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = await fleet.http.get("/o/authorize/", params=params)
    assert page.status_code == 200 and "Charge app" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    fields = dict(re.findall(r"name='([a-z_]+)' value='([^']*)'", page.text))
    answer = await fleet.http.post(
        "/o/authorize/",
        data={**fields, "email": "owner@example.com", "password": password, "decision": "allow"},
    )
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    query = parse_qs(target.query)
    assert query["state"] == [state]
    return query["code"][0]


async def exchange(http: httpx.AsyncClient, data: dict[str, str]) -> httpx.Response:
    return await http.post("/o/token/", data=data)


async def test_code_with_pkce_refresh_and_revocation(fleet: Fleet) -> None:
    owner = owner_with_password(fleet, "owner@example.com", "correct horse")
    client_id, _ = app_client(fleet, public=True)
    verifier, challenge = pkce()
    wrong_password = await fleet.http.post(
        "/o/authorize/",
        data={
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256",
            "email": "owner@example.com", "password": "guess", "decision": "allow",
        },
    )  # fmt: skip
    assert wrong_password.status_code == 401 and "location" not in wrong_password.headers

    code = await authorize(fleet, client_id, challenge, "correct horse")
    base = {"grant_type": "authorization_code", "client_id": client_id, "redirect_uri": REDIRECT}
    bad_verifier = await exchange(fleet.http, {**base, "code": code, "code_verifier": pkce()[0]})
    assert bad_verifier.status_code == 400 and bad_verifier.json()["error"] == "invalid_grant"
    tokens = await exchange(fleet.http, {**base, "code": code, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "evse:read" and body["expires_in"] == 36000 and body["refresh_token"]
    assert tokens.headers["cache-control"] == "no-store"
    access = {"Authorization": f"Bearer {body['access_token']}"}
    evses = await fleet.http.get("/v2/evses", headers=access)
    assert evses.status_code == 200 and {e["user"].rsplit("/", 1)[-1] for e in evses.json()} == {owner}
    stranger = fleet.new_user("x@example.com")
    assert (
        await fleet.http.get("/v2/evses", headers={**access, "EvEnergy-User": stranger})
    ).status_code == 403
    assert (await fleet.http.get("/v2/charging_sessions", headers=access)).status_code == 403  # not granted

    # refresh: a new pair; the old refresh token is spent, and presenting it again revokes the family
    refresh = {"grant_type": "refresh_token", "client_id": client_id}
    renewed = await exchange(fleet.http, {**refresh, "refresh_token": body["refresh_token"]})
    assert renewed.status_code == 200
    second = renewed.json()
    assert second["refresh_token"] != body["refresh_token"]
    new_access = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await fleet.http.get("/v2/evses", headers=new_access)).status_code == 200
    replayed = await exchange(fleet.http, {**refresh, "refresh_token": body["refresh_token"]})
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert (await fleet.http.get("/v2/evses", headers=new_access)).status_code == 401
    assert (
        await exchange(fleet.http, {**refresh, "refresh_token": second["refresh_token"]})
    ).status_code == 400

    # a code works once; its replay revokes what it gave
    verifier, challenge = pkce()
    code = await authorize(fleet, client_id, challenge, "correct horse")
    granted = (await exchange(fleet.http, {**base, "code": code, "code_verifier": verifier})).json()
    again = await exchange(fleet.http, {**base, "code": code, "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (
        await fleet.http.get("/v2/evses", headers={"Authorization": f"Bearer {granted['access_token']}"})
    ).status_code == 401

    # revocation (RFC 7009): the access token stops working; an unknown token is no error
    verifier, challenge = pkce()
    code = await authorize(fleet, client_id, challenge, "correct horse")
    third = (await exchange(fleet.http, {**base, "code": code, "code_verifier": verifier})).json()
    third_access = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await fleet.http.get("/v2/evses", headers=third_access)).status_code == 200
    revoked = await fleet.http.post(
        "/o/revoke_token/", data={"client_id": client_id, "token": third["access_token"]}
    )
    assert revoked.status_code == 200
    assert (await fleet.http.get("/v2/evses", headers=third_access)).status_code == 401
    assert (
        await fleet.http.post("/o/revoke_token/", data={"client_id": client_id, "token": "nope"})
    ).status_code == 200
    gone = await fleet.http.post(
        "/o/revoke_token/", data={"client_id": client_id, "token": third["refresh_token"]}
    )
    assert gone.status_code == 200
    assert (
        await exchange(fleet.http, {**refresh, "refresh_token": third["refresh_token"]})
    ).status_code == 400


async def test_authorization_requests_that_must_not_redirect(fleet: Fleet) -> None:
    public_id, _ = app_client(fleet, public=True)
    confidential_id, secret = app_client(fleet, public=False)
    assert secret is not None
    _, challenge = pkce()
    evil = await fleet.http.get(
        "/o/authorize/",
        params={"response_type": "code", "client_id": public_id, "redirect_uri": "https://evil.example/"},
    )
    assert evil.status_code == 400 and "location" not in evil.headers  # never redirect to an unknown URI
    unknown = await fleet.http.get("/o/authorize/", params={"response_type": "code", "client_id": "nope"})
    assert unknown.status_code == 400
    no_pkce = await fleet.http.get(
        "/o/authorize/", params={"response_type": "code", "client_id": public_id, "redirect_uri": REDIRECT}
    )
    assert no_pkce.status_code == 302
    assert parse_qs(urlsplit(no_pkce.headers["location"]).query)["error"] == ["invalid_request"]
    denied = await fleet.http.post(
        "/o/authorize/",
        data={
            "response_type": "code", "client_id": public_id, "redirect_uri": REDIRECT, "state": "s",
            "code_challenge": challenge, "code_challenge_method": "S256", "decision": "deny",
        },
    )  # fmt: skip
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {
        "error": ["access_denied"],
        "error_description": ["the user denied the request"],
        "state": ["s"],
    }
    # a confidential client must authenticate at the token endpoint; client credentials it may not use
    no_secret = await exchange(
        fleet.http, {"grant_type": "authorization_code", "client_id": confidential_id, "code": "x"}
    )
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    not_allowed = await fleet.http.post(
        "/o/token/", data={"grant_type": "client_credentials"}, auth=(confidential_id, secret)
    )
    assert not_allowed.status_code == 400 and not_allowed.json()["error"] == "unauthorized_client"


async def test_idempotency_key_replays_a_boost(fleet: Fleet) -> None:
    headers = await fleet.headers("charging_session:read charging_session:write")
    add_session(fleet, "idem-1", charged_kwh=1.0)
    (session,) = (await fleet.http.get("/v2/charging_sessions", headers=headers)).json()
    url = f"/v2/charging_sessions/{session['id']}/boost_start"
    once = {**headers, "Idempotency-Key": "boost-1"}
    first = await fleet.http.post(url, headers=once)
    assert first.status_code == 200
    again = await fleet.http.post(url, headers=once)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert fleet.optimizer.keys().count("loadpoints/1/mode") == 1  # one boost, not two
    other = await fleet.http.post(f"/v2/charging_sessions/{session['id']}/boost_end", headers=once)
    assert other.status_code == 422  # the same key for another request
    without = await fleet.http.post(url, headers=headers)
    assert without.status_code == 409  # a real second attempt: already boosting
