"""Admin authentication (reference §7): one bcrypt-hashed admin password, a signed JWT (HS256) in the
``auth`` cookie (HttpOnly, SameSite=Strict, Secure over https), and a per-client login throttle that never
sleeps on the server. Every password check costs one bcrypt check, set password or not.

Settings keys (evcc's): ``adminPassword`` (bcrypt hash), ``jwtSecretKey`` (hex; unless
``CHARGEBUS_GATEWAY__JWT_SECRET`` provides it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

import bcrypt
import jwt
from fastapi import Request

from shared.db import get_setting, set_setting

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

COOKIE = "auth"
LIFETIME = timedelta(days=90)
SUBJECT = "admin"
ALGORITHM = "HS256"
KEY_PASSWORD = "adminPassword"
KEY_JWT_SECRET = "jwtSecretKey"
BCRYPT_MAX_BYTES = 72
BCRYPT_ROUNDS = 10
"""evcc's ``bcrypt.DefaultCost``."""


class Busy(Exception):
    """This client already has a password check running."""


OVERFLOW = "*"
"""The throttle key of clients beyond ``LoginThrottle.max_clients``."""


class PasswordError(ValueError):
    """The new password is not acceptable."""


def hash_password(password: str) -> str:
    data = password.encode()
    if not data:
        raise PasswordError("password must not be empty")
    if len(data) > BCRYPT_MAX_BYTES:
        raise PasswordError(f"password must be at most {BCRYPT_MAX_BYTES} bytes")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


@functools.cache
def _decoy_hash() -> bytes:
    """A hash of nothing anyone knows, checked when there is no real one, so every check costs the same."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=BCRYPT_ROUNDS))


def check_password(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches ``hashed``. Always one bcrypt check (against a decoy when there is no
    hash or the password is empty or too long), so the answer takes as long either way."""
    data = password.encode()
    real = hashed.encode() if hashed is not None and 0 < len(data) <= BCRYPT_MAX_BYTES else None
    try:
        matched = bcrypt.checkpw(data[:BCRYPT_MAX_BYTES] or b"-", real or _decoy_hash())
    except ValueError:  # a stored hash that is not bcrypt
        bcrypt.checkpw(b"-", _decoy_hash())
        return False
    return real is not None and matched


class AuthStore:
    """Password hash and JWT secret in the settings table."""

    def __init__(self, engine: Engine, jwt_secret: str | None = None) -> None:
        self.engine = engine
        self._configured_secret = jwt_secret

    def password_hash(self) -> str | None:
        return get_setting(self.engine, KEY_PASSWORD) or None

    def has_password(self) -> bool:
        return self.password_hash() is not None

    def set_password(self, password: str) -> None:
        set_setting(self.engine, KEY_PASSWORD, hash_password(password))

    def verify(self, password: str) -> bool:
        """Constant work whether or not a password is set (see :func:`check_password`)."""
        return check_password(password, self.password_hash())

    def reset(self) -> None:
        """Forget the password and the JWT secret (every issued session becomes invalid)."""
        set_setting(self.engine, KEY_PASSWORD, None)
        set_setting(self.engine, KEY_JWT_SECRET, None)

    def secret(self) -> str:
        if self._configured_secret:
            return self._configured_secret
        stored = get_setting(self.engine, KEY_JWT_SECRET)
        if stored:
            return stored
        generated = secrets.token_hex(32)
        set_setting(self.engine, KEY_JWT_SECRET, generated)
        return generated

    def issue(self, now: datetime) -> str:
        claims = {"sub": SUBJECT, "iat": int(now.timestamp()), "exp": int((now + LIFETIME).timestamp())}
        return jwt.encode(claims, self.secret(), algorithm=ALGORITHM)

    def valid(self, token: str | None) -> bool:
        if not token or not self.has_password():
            return False
        try:
            claims = jwt.decode(
                token, self.secret(), algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == SUBJECT


@dataclass
class _Attempts:
    failures: int = 0
    blocked_until: datetime | None = None


@dataclass
class LoginThrottle:
    """Per-client slow-down of wrong passwords: after ``free`` failures each further failure locks the
    client out for an exponentially growing time (capped). A locked-out client is refused immediately
    (429 + Retry-After) instead of being made to wait on the server. A client has one check at a time
    (parallel guesses would all run before the first failure counted), and at most ``concurrent`` bcrypt
    checks run at once in all (each costs tens of milliseconds of CPU)."""

    free: int = 3
    base_s: float = 1.0
    cap_s: float = 300.0
    concurrent: int = 2
    clients: dict[str, _Attempts] = field(default_factory=dict)
    _checking: set[str] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def attempt(self, client: str) -> AsyncIterator[None]:
        """One password check of ``client``; :class:`Busy` while it already has one running."""
        if client in self._checking:
            raise Busy()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrent)
        self._checking.add(client)
        try:
            async with self._slots:
                yield
        finally:
            self._checking.discard(client)

    def retry_after(self, client: str, now: datetime) -> float:
        """Seconds the client must still wait (0 = may try now)."""
        attempts = self.clients.get(client)
        if attempts is None and len(self.clients) >= self.max_clients:
            attempts = self.clients.get(OVERFLOW)
        if attempts is None or attempts.blocked_until is None:
            return 0.0
        return max(0.0, (attempts.blocked_until - now).total_seconds())

    max_clients: int = 10_000

    def failed(self, client: str, now: datetime) -> None:
        if len(self.clients) >= self.max_clients and client not in self.clients:
            self._forget_expired(now)
            if len(self.clients) >= self.max_clients:  # everyone locked out: newcomers share one lock
                client = OVERFLOW
        attempts = self.clients.setdefault(client, _Attempts())
        attempts.failures += 1
        if attempts.failures > self.free:
            delay = min(self.cap_s, self.base_s * 2 ** (attempts.failures - self.free - 1))
            attempts.blocked_until = now + timedelta(seconds=delay)

    def succeeded(self, client: str) -> None:
        self.clients.pop(client, None)

    def _forget_expired(self, now: datetime) -> None:
        """Bound memory: drop clients that are not locked out right now."""
        for client in [
            c for c, a in self.clients.items() if a.blocked_until is None or a.blocked_until <= now
        ]:
            del self.clients[client]


def client_key(request: Request) -> str:
    """Who is asking, for throttles: the peer address (a trusted proxy's ``X-Forwarded-For`` client when
    ``gateway.trusted_proxies`` names the proxy); IPv6 by its /64, which one host usually has whole."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def session_cookie(token: str, now: datetime, *, secure: bool) -> str:
    """The ``Set-Cookie`` value evcc sends on login (``Secure`` too when the request came over https)."""
    expires = format_datetime(now + LIFETIME, usegmt=True)
    return f"{COOKIE}={token}; Path=/; Expires={expires}; HttpOnly; SameSite=Strict" + (
        "; Secure" if secure else ""
    )


def logout_cookie(*, secure: bool) -> str:
    """The empty ``auth`` cookie evcc sends on logout (the spec's exact value over http)."""
    return f"{COOKIE}=; Path=/; HttpOnly" + ("; Secure; SameSite=Strict" if secure else "")
