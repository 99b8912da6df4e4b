"""A schemathesis run over the fleet API's own OpenAPI description finds no server error."""

from __future__ import annotations

import asyncio

import schemathesis

from tests.gateway.fleet.conftest import ALL_SCOPES, Fleet, fleet_app
from tests.support.fuzz import SERVER_ERRORS, fuzz_operations


async def test_fuzzing_finds_no_server_error(fleet: Fleet) -> None:
    headers = {"Authorization": f"Bearer {await fleet.token(ALL_SCOPES, rate_limit=100_000)}"}
    schema = schemathesis.openapi.from_dict(fleet_app(fleet.ctx).openapi())
    calls, failures = await asyncio.to_thread(
        fuzz_operations, schema, fleet.base, checks=SERVER_ERRORS, max_examples=5, headers=headers
    )
    assert calls > 40
    assert failures == [], "\n".join(failures)
