"""OAuth 2 as ev.energy offers it: client credentials, and the authorization code grant with PKCE, refresh
tokens and revocation.

Client secrets and user passwords are bcrypt hashes; access tokens, refresh tokens and codes are random and
stored as SHA-256 hashes. A code lives one minute and works once (a replay revokes what it gave); each
refresh rotates the refresh token, and presenting a used one revokes its whole family (RFC 6819
§5.2.2.3). Pure helpers plus small database functions; the HTTP edge lives in ``routes_oauth.py`` and
``deps.py``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import bcrypt
from sqlalchemy import update
from sqlmodel import Session, col, select

from services.gateway.fleet.models import (
    AccessToken,
    AuthorizationCode,
    FleetUser,
    OAuthClient,
    RefreshToken,
    utc,
)

TOKEN_LIFETIME = timedelta(seconds=36000)
"""ev.energy's 10 hours."""
REFRESH_LIFETIME = timedelta(days=90)
CODE_LIFETIME = timedelta(minutes=1)
"""ev.energy: "code valid 1 minute"."""
CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
GRANT_TYPES = (CLIENT_CREDENTIALS, AUTHORIZATION_CODE)

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
    """bcrypt at cost 10 (about 50 ms): client secrets are random and users' passwords guarded by the
    sign-in rate limit, so the cost need only make a stolen hash table useless."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=10)).decode()


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
    grant_types: tuple[str, ...] = (CLIENT_CREDENTIALS,),
    redirect_uris: tuple[str, ...] = (),
    public: bool = False,
) -> tuple[OAuthClient, str | None]:
    """A new client and its secret (shown once; only the hash is stored; None for a public client)."""
    unknown = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown:
        raise AuthError("unsupported_grant_type", f"unknown grant type(s): {', '.join(unknown)}")
    if AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise AuthError("invalid_request", "the authorization code grant needs at least one redirect URI")
    if public and CLIENT_CREDENTIALS in grant_types:
        raise AuthError("invalid_request", "a public client (no secret) cannot use client credentials")
    secret = None if public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=secrets.token_urlsafe(18),
        name=name,
        secret_hash=hash_secret(secret) if secret else "",
        scopes=" ".join(sorted(scopes)),
        user_id=user_id,
        rate_limit_per_hour=rate_limit_per_hour,
        created_at=now,
        grant_types=" ".join(grant_types),
        redirect_uris=" ".join(redirect_uris),
        public=public,
    )
    db.add(client)
    return client, secret


def authenticate_client(db: Session, client_id: str, secret: str | None) -> OAuthClient:
    """The client these credentials prove (a public client proves nothing but its id), else 401."""
    client = db.get(OAuthClient, client_id)
    if client is None or client.disabled:
        raise AuthError("invalid_client", "client authentication failed", status=401)
    if client.public:
        return client
    if secret is None or not secret_matches(secret, client.secret_hash):
        raise AuthError("invalid_client", "client authentication failed", status=401)
    return client


def _granted(client: OAuthClient, requested: str | None) -> frozenset[str]:
    allowed = frozenset(client.scopes.split())
    wanted = parse_scopes(requested) if requested else allowed
    if not wanted <= allowed:
        extra = ", ".join(sorted(wanted - allowed))
        raise AuthError("invalid_scope", f"scope(s) not granted to this client: {extra}")
    return wanted


def _require_grant(client: OAuthClient, grant: str) -> None:
    if grant not in client.grant_types.split():
        raise AuthError("unauthorized_client", f"this client may not use the {grant} grant")


@dataclass(frozen=True)
class Tokens:
    access: str
    row: AccessToken
    refresh: str | None = None


def _access(
    db: Session,
    client: OAuthClient,
    scopes: frozenset[str] | str,
    now: datetime,
    user_id: str | None = None,
    family: str | None = None,
) -> Tokens:
    token = secrets.token_urlsafe(32)
    row = AccessToken(
        token_hash=token_hash(token),
        client_id=client.client_id,
        scopes=scopes if isinstance(scopes, str) else " ".join(sorted(scopes)),
        created_at=now,
        expires_at=now + TOKEN_LIFETIME,
        user_id=user_id,
        refresh_family=family,
    )
    db.add(row)
    return Tokens(token, row)


def _with_refresh(
    db: Session, client: OAuthClient, user_id: str, scopes: str, now: datetime, family: str
) -> Tokens:
    access = _access(db, client, scopes, now, user_id, family)
    refresh = secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            token_hash=token_hash(refresh),
            family=family,
            client_id=client.client_id,
            user_id=user_id,
            scopes=scopes,
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    return Tokens(access.access, access.row, refresh)


def issue_token(
    db: Session, client_id: str, secret: str, requested: str | None, now: datetime
) -> tuple[str, AccessToken]:
    """Client credentials: check the client and issue a token for the requested subset of its scopes."""
    client = authenticate_client(db, client_id, secret)
    _require_grant(client, CLIENT_CREDENTIALS)
    tokens = _access(db, client, _granted(client, requested), now)
    return tokens.access, tokens.row


def pkce_s256(verifier: str) -> str:
    """RFC 7636 S256: ``BASE64URL(SHA256(verifier))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_client_redirect(db: Session, client_id: str, redirect_uri: str | None) -> tuple[OAuthClient, str]:
    """The client of an authorization request and the redirect URI to answer on, or :class:`AuthError`.
    These errors must never be redirected: the URI is not trusted before this check passed."""
    client = db.get(OAuthClient, client_id)
    if client is None or client.disabled:
        raise AuthError("invalid_client", "unknown client")
    allowed = client.redirect_uris.split()
    uri = redirect_uri or (allowed[0] if len(allowed) == 1 else None)
    if uri is None or uri not in allowed:
        raise AuthError("invalid_redirect_uri", "the redirect URI is not registered for this client")
    return client, uri


def check_grant_request(
    client: OAuthClient, scope: str | None, code_challenge: str | None, code_challenge_method: str | None
) -> frozenset[str]:
    """The scopes of an authorization request, or :class:`AuthError` (sent back to the redirect URI)."""
    _require_grant(client, AUTHORIZATION_CODE)
    scopes = _granted(client, scope)
    if code_challenge is None:
        if client.public:
            raise AuthError("invalid_request", "PKCE (code_challenge, S256) is required for this client")
    elif code_challenge_method != "S256" or not 43 <= len(code_challenge) <= 128:
        raise AuthError("invalid_request", "code_challenge must be S256 of a 43 to 128 character verifier")
    return scopes


def issue_code(
    db: Session,
    client: OAuthClient,
    user_id: str,
    scopes: frozenset[str],
    redirect_uri: str,
    code_challenge: str | None,
    now: datetime,
) -> str:
    code = secrets.token_urlsafe(32)
    db.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            client_id=client.client_id,
            user_id=user_id,
            scopes=" ".join(sorted(scopes)),
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method="S256" if code_challenge else None,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    return code


def revoke_family(db: Session, family: str, now: datetime) -> None:
    db.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family) == family)
        .where(col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    db.execute(
        update(AccessToken)
        .where(col(AccessToken.refresh_family) == family)
        .where(col(AccessToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def redeem_code(
    db: Session,
    client: OAuthClient,
    code: str,
    redirect_uri: str | None,
    verifier: str | None,
    now: datetime,
) -> Tokens:
    """Authorization code → access and refresh token (once; a replay revokes what the code gave)."""
    _require_grant(client, AUTHORIZATION_CODE)
    row = db.get(AuthorizationCode, token_hash(code))
    if row is None or row.client_id != client.client_id:
        raise AuthError("invalid_grant", "unknown authorization code")
    if row.used_at is not None:
        if row.family:
            revoke_family(db, row.family, now)
        db.commit()
        raise AuthError("invalid_grant", "the authorization code was already used")
    if utc(row.expires_at) <= now:
        raise AuthError("invalid_grant", "the authorization code has expired")
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        raise AuthError("invalid_grant", "redirect_uri differs from the authorization request")
    if row.code_challenge is not None:
        if verifier is None or not 43 <= len(verifier) <= 128:
            raise AuthError("invalid_grant", "code_verifier missing or malformed")
        if not secrets.compare_digest(pkce_s256(verifier), row.code_challenge):
            raise AuthError("invalid_grant", "code_verifier does not match the code_challenge")
    elif verifier is not None:
        raise AuthError("invalid_grant", "no code_challenge was sent with the authorization request")
    family = secrets.token_urlsafe(12)
    row.used_at, row.family = now, family
    db.add(row)
    return _with_refresh(db, client, row.user_id, row.scopes, now, family)


def refresh_tokens(
    db: Session, client: OAuthClient, refresh: str, requested: str | None, now: datetime
) -> Tokens:
    """Rotate a refresh token: a new pair, the old refresh token spent."""
    row = db.get(RefreshToken, token_hash(refresh))
    if row is None or row.client_id != client.client_id or row.revoked_at is not None:
        raise AuthError("invalid_grant", "unknown or revoked refresh token")
    if row.used_at is not None:
        revoke_family(db, row.family, now)  # a spent token again: stolen or replayed
        db.commit()
        raise AuthError("invalid_grant", "the refresh token was already used")
    if utc(row.expires_at) <= now:
        raise AuthError("invalid_grant", "the refresh token has expired")
    user = db.get(FleetUser, row.user_id)
    if user is None:
        raise AuthError("invalid_grant", "the user no longer exists")
    granted = frozenset(row.scopes.split())
    wanted = parse_scopes(requested) if requested else granted
    if not wanted <= granted:
        raise AuthError("invalid_scope", "a refresh cannot widen the granted scopes")
    row.used_at = now
    db.add(row)
    return _with_refresh(db, client, row.user_id, " ".join(sorted(wanted)), now, row.family)


def revoke(db: Session, client: OAuthClient, token: str, now: datetime) -> None:
    """RFC 7009: revoke an access or refresh token of this client (unknown tokens are no error); a
    refresh token takes its family's access tokens with it."""
    digest = token_hash(token)
    refresh = db.get(RefreshToken, digest)
    if refresh is not None and refresh.client_id == client.client_id:
        revoke_family(db, refresh.family, now)
        return
    access = db.get(AccessToken, digest)
    if access is not None and access.client_id == client.client_id and access.revoked_at is None:
        access.revoked_at = now
        db.add(access)


def verify_user(db: Session, email: str, password: str) -> FleetUser | None:
    """The user with this e-mail and password (for the authorization page), else None."""
    if not email or not password or len(password.encode()) > 72:
        return None
    users = db.exec(select(FleetUser).where(FleetUser.email == email.strip())).all()
    for user in users:
        if user.password_hash and secret_matches(password, user.password_hash):
            return user
    return None


def lookup_token(db: Session, token: str, now: datetime) -> tuple[AccessToken, OAuthClient] | None:
    """The live token and its client, or None when unknown, expired, revoked or the client was disabled."""
    row = db.get(AccessToken, token_hash(token))
    if row is None or row.revoked_at is not None or utc(row.expires_at) <= now:
        return None
    client = db.get(OAuthClient, row.client_id)
    if client is None or client.disabled:
        return None
    return row, client
