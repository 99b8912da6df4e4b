"""Admin authentication (reference §7): one bcrypt-hashed admin password, a signed JWT (HS256) in the
HttpOnly ``auth`` cookie, and a per-client login throttle that never sleeps on the server.

Settings keys (evcc's): ``adminPassword`` (bcrypt hash), ``jwtSecretKey`` (hex; unless
``CHARGEBUS_GATEWAY__JWT_SECRET`` provides it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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


class PasswordError(ValueError):
    """The new password is not acceptable."""


def hash_password(password: str) -> str:
    data = password.encode()
    if not data:
        raise PasswordError("password must not be empty")
    if len(data) > BCRYPT_MAX_BYTES:
        raise PasswordError(f"password must be at most {BCRYPT_MAX_BYTES} bytes")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=10)).decode()


def check_password(password: str, hashed: str) -> bool:
    data = password.encode()
    if not data or len(data) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(data, hashed.encode())
    except ValueError:
        return False


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
        hashed = self.password_hash()
        return hashed is not None and check_password(password, hashed)

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
    (429 + Retry-After) instead of being made to wait on the server."""

    free: int = 3
    base_s: float = 1.0
    cap_s: float = 300.0
    clients: dict[str, _Attempts] = field(default_factory=dict)

    def retry_after(self, client: str, now: datetime) -> float:
        """Seconds the client must still wait (0 = may try now)."""
        attempts = self.clients.get(client)
        if attempts is None or attempts.blocked_until is None:
            return 0.0
        return max(0.0, (attempts.blocked_until - now).total_seconds())

    max_clients: int = 10_000

    def failed(self, client: str, now: datetime) -> None:
        if len(self.clients) >= self.max_clients:
            self._forget_expired(now)
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
    return request.client.host if request.client else "unknown"
