"""``Idempotency-Key`` on fleet writes: a retried POST/PATCH/DELETE answers what the first one did.

A chargebus extension (ev.energy's API has none): a client that lost the answer to "start a boost" or
"create a vehicle" repeats the request with the same key and gets the stored answer instead of a second
boost or a second vehicle. Keys are per client, kept 24 hours, in the database shared by every instance
(or in Redis when configured). The same key with a different request is refused (422); a key whose first
request is still running answers 409. Server errors are not stored, so a retry after a 5xx runs again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.fleet.models import IdempotencyRecord, insert_for, utc

KEEP = timedelta(hours=24)
RUNNING_LEASE = timedelta(seconds=60)
"""A first request that has not finished after this long is presumed dead; its key may be taken over."""
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "running", "mismatch"]
    stored: Stored | None = None


class IdempotencyStore(Protocol):
    def claim(self, key: str, fingerprint: str, now: datetime) -> Claim:
        """Reserve ``key`` for a first request, or say what happened to it before."""
        ...

    def complete(self, key: str, stored: Stored) -> None: ...

    def release(self, key: str) -> None:
        """Forget a reservation whose request failed on the server side (it may be retried)."""
        ...


class SqlIdempotency:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, key: str, fingerprint: str, now: datetime) -> Claim:
        with self._engine.begin() as conn:
            conn.execute(
                delete(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)  # type: ignore[arg-type]
                .where(IdempotencyRecord.created_at < now - KEEP)  # type: ignore[arg-type]
            )
            reserve = insert_for(conn)(IdempotencyRecord).values(
                key=key, fingerprint=fingerprint, status=0, body="", headers="{}", created_at=now
            )
            reserved = reserve.on_conflict_do_nothing(index_elements=["key"]).returning(IdempotencyRecord.key)
            inserted = conn.execute(reserved).first() is not None
        if inserted:
            return Claim("new")
        with Session(self._engine) as db:
            row = db.get(IdempotencyRecord, key)
            if row is None:  # deleted in between: a fresh start
                return self.claim(key, fingerprint, now)
            if row.fingerprint != fingerprint:
                return Claim("mismatch")
            if row.status == 0:
                if utc(row.created_at) < now - RUNNING_LEASE:
                    row.created_at = now
                    db.add(row)
                    db.commit()
                    return Claim("new")
                return Claim("running")
            return Claim("replay", Stored(row.status, row.body.encode(), json.loads(row.headers)))

    def complete(self, key: str, stored: Stored) -> None:
        with Session(self._engine) as db:
            row = db.get(IdempotencyRecord, key)
            if row is not None:
                row.status = stored.status
                row.body = stored.body.decode("utf-8", errors="replace")
                row.headers = json.dumps(stored.headers)
                db.add(row)
                db.commit()

    def release(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == key))  # type: ignore[arg-type]


class RedisIdempotency:
    """The same rules on Redis: ``SET NX`` reserves, the stored answer expires after 24 hours."""

    def __init__(self, client: Any, prefix: str = "chargebus:fleet:idem") -> None:
        self._client = client
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def claim(self, key: str, fingerprint: str, now: datetime) -> Claim:
        record = json.dumps({"fingerprint": fingerprint, "status": 0, "at": now.timestamp()})
        if self._client.set(self._key(key), record, nx=True, ex=int(KEEP.total_seconds())):
            return Claim("new")
        raw = self._client.get(self._key(key))
        if raw is None:
            return self.claim(key, fingerprint, now)
        found = json.loads(raw)
        if found["fingerprint"] != fingerprint:
            return Claim("mismatch")
        if found["status"] == 0:
            if found["at"] < (now - RUNNING_LEASE).timestamp():
                self._client.set(self._key(key), record, ex=int(KEEP.total_seconds()))
                return Claim("new")
            return Claim("running")
        return Claim("replay", Stored(found["status"], found["body"].encode(), found["headers"]))

    def complete(self, key: str, stored: Stored) -> None:
        raw = self._client.get(self._key(key))
        fingerprint = json.loads(raw)["fingerprint"] if raw else ""
        record = {
            "fingerprint": fingerprint,
            "status": stored.status,
            "body": stored.body.decode("utf-8", errors="replace"),
            "headers": stored.headers,
        }
        self._client.set(self._key(key), json.dumps(record), keepttl=True)

    def release(self, key: str) -> None:
        self._client.delete(self._key(key))
