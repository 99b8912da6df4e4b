"""A schemathesis run over the fleet API's own OpenAPI description finds no server error."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.core.result import Ok

from tests.gateway.fleet.conftest import ALL_SCOPES, Fleet, fleet_app


async def test_fuzzing_finds_no_server_error(fleet: Fleet) -> None:
    headers = {"Authorization": f"Bearer {await fleet.token(ALL_SCOPES, rate_limit=100_000)}"}
    schema = schemathesis.openapi.from_dict(fleet_app(fleet.ctx).openapi())
    failures: list[str] = []

    def fuzz() -> int:
        calls = 0
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"operation does not load: {result}"
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=5,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=fleet.base, headers=headers, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} → {response.status_code} {response.text}"
                    )

            check()
        return calls

    calls = await asyncio.to_thread(fuzz)
    assert calls > 40
    assert failures == []
