"""A PostgreSQL schema of its own per test (parallel runs never collide), or a skip where none is
reachable. ``CHARGEBUS_TEST_POSTGRES`` overrides the server (default the machine's own, trust auth)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from shared.db import make_engine

POSTGRES_URL = os.environ.get("CHARGEBUS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def reachable() -> bool:
    try:
        engine = make_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:  # any connection problem means: not available here
        return False
    return True


@contextlib.contextmanager
def postgres_schema(prefix: str = "fleet") -> Iterator[str]:
    """The URL of a fresh schema (dropped afterwards); skips the test without a PostgreSQL."""
    if not reachable():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
