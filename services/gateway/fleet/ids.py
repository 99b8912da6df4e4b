"""Resource IDs: a 4-letter collection prefix followed by a 26-character ULID (``evse01HS…``)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from ulid import ULID

ID_PATTERN = re.compile(r"^[a-z]{4}[A-Z\d]{26}$")
"""The spec's generic pattern: any A–Z/0–9, not only Crockford base32 (several spec examples use I/O/U)."""


def new_id(prefix: str, now: datetime | None = None) -> str:
    """A fresh ID; IDs of one collection sort by creation time because ULIDs do."""
    _check_prefix(prefix)
    ulid = ULID.from_datetime(now) if now is not None else ULID()
    return f"{prefix}{ulid}"


def stable_id(prefix: str, key: str) -> str:
    """A deterministic ID for catalogue entries and derived resources (same key → same ID, always)."""
    _check_prefix(prefix)
    digest = hashlib.sha256(f"{prefix}:{key}".encode()).digest()[:16]
    return f"{prefix}{ULID.from_bytes(digest)}"


def has_prefix(value: str, prefix: str) -> bool:
    return bool(ID_PATTERN.match(value)) and value.startswith(prefix)


def _check_prefix(prefix: str) -> None:
    if not re.fullmatch(r"[a-z]{4}", prefix):
        raise ValueError(f"an ID prefix is four lowercase letters, not {prefix!r}")
