"""OAuth2 client credentials: clients with bcrypt-hashed secrets, bearer tokens stored as SHA-256 hashes.

Pure helpers plus small database functions; the HTTP edge lives in ``routes_oauth.py`` and ``deps.py``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import bcrypt
from sqlmodel import Session

from services.gateway.fleet.models import AccessToken, OAuthClient, utc

TOKEN_LIFETIME = timedelta(seconds=36000)
"""ev.energy's 10 hours."""

SCOPES: dict[str, str] = {
    "evse:read": "read EVSEs, their models, makes and status logs",
    "evse:write": "set an EVSE's location, decommission it",
    "vehicle:read": "read vehicles and the vehicle catalogue",
    "vehicle:write": "create, change and remove vehicles",
    "charging_session:read": "read charging sessions and sub-sessions",
    "charging_session:write": "start and end a boost",
    "tariff:read": "read tariffs",
    "tariff:prices:read": "read tariff prices",
    "carbon:read": "read carbon feeds and intensities",
    "user:read": "read users",
    "user:write": "create users",
    "webhook:read": "list webhook endpoints",
    "webhook:write": "register and remove webhook endpoints",
    "debug:read": "read EVSE command logs",
}


class AuthError(Exception):
    """An OAuth error code of RFC 6749 §5.2 (``invalid_client``, ``invalid_scope`` …)."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client, its scopes, and the user it acts as (None = operator view)."""

    client_id: str
    scopes: frozenset[str]
    token_key: str
    """Rate-limit bucket key (the token hash)."""
    rate_limit_per_hour: int
    client_user_id: str | None
    user_id: str | None


def parse_scopes(raw: str) -> frozenset[str]:
    """Space-separated (OAuth) or comma-separated (CLI convenience) scope list; unknown scopes → error."""
    scopes = frozenset(s for s in raw.replace(",", " ").split() if s)
    unknown = sorted(scopes - SCOPES.keys())
    if unknown:
        raise AuthError("invalid_scope", f"unknown scope(s): {', '.join(unknown)}")
    return scopes


def hash_secret(secret: str) -> str:
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt()).decode()


def secret_matches(secret: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(secret.encode(), hashed.encode())
    except ValueError:
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_client(
    db: Session,
    *,
    name: str,
    scopes: frozenset[str],
    user_id: str | None,
    now: datetime,
    rate_limit_per_hour: int = 1000,
) -> tuple[OAuthClient, str]:
    """A new client and its secret (shown once; only the hash is stored)."""
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=secrets.token_urlsafe(18),
        name=name,
        secret_hash=hash_secret(secret),
        scopes=" ".join(sorted(scopes)),
        user_id=user_id,
        rate_limit_per_hour=rate_limit_per_hour,
        created_at=now,
    )
    db.add(client)
    return client, secret


def issue_token(
    db: Session, client_id: str, secret: str, requested: str | None, now: datetime
) -> tuple[str, AccessToken]:
    """Check the client's credentials and issue a token for the requested subset of its scopes."""
    client = db.get(OAuthClient, client_id)
    if client is None or client.disabled or not secret_matches(secret, client.secret_hash):
        raise AuthError("invalid_client", "client authentication failed", status=401)
    allowed = frozenset(client.scopes.split())
    wanted = parse_scopes(requested) if requested else allowed
    if not wanted <= allowed:
        extra = ", ".join(sorted(wanted - allowed))
        raise AuthError("invalid_scope", f"scope(s) not granted to this client: {extra}")
    token = secrets.token_urlsafe(32)
    row = AccessToken(
        token_hash=token_hash(token),
        client_id=client.client_id,
        scopes=" ".join(sorted(wanted)),
        created_at=now,
        expires_at=now + TOKEN_LIFETIME,
    )
    db.add(row)
    return token, row


def lookup_token(db: Session, token: str, now: datetime) -> tuple[AccessToken, OAuthClient] | None:
    """The live token and its client, or None when unknown, expired or the client was disabled."""
    row = db.get(AccessToken, token_hash(token))
    if row is None or utc(row.expires_at) <= now:
        return None
    client = db.get(OAuthClient, row.client_id)
    if client is None or client.disabled:
        return None
    return row, client
