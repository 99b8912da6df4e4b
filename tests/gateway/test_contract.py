"""The contract: the app's own OpenAPI document covers the reference evcc API operation by operation, and
a schemathesis run generated from the reference spec finds no server error."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from schemathesis.core.result import Ok

from tests.gateway.conftest import FakeOwner, RunningGateway

SPEC = Path(__file__).parents[2] / ".." / "shared" / "reference" / "evcc-openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch")


def reference_spec() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip(f"reference spec not found at {SPEC.resolve()} (it lives outside the repository)")
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return spec


def operations(spec: dict[str, Any], prefix: str = "") -> dict[tuple[str, str], str]:
    """(METHOD, path) → operationId."""
    return {
        (method.upper(), prefix + path): op.get("operationId", "")
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


async def test_served_openapi_covers_every_reference_operation(gateway: RunningGateway) -> None:
    reference = operations(reference_spec(), prefix="/api")
    served = operations((await gateway.client.get("/openapi.json")).json())
    missing = sorted(set(reference) - set(served))
    assert missing == [], f"operations of the reference spec not served: {missing}"
    renamed = {key: (reference[key], served[key]) for key in reference if reference[key] != served[key]}
    assert renamed == {}
    assert len(reference) == 54


async def test_schemathesis_finds_no_server_error(gateway: RunningGateway, owner: FakeOwner) -> None:
    reference_spec()
    # A healthy, fully set-up home: optimizer online (the fake owner), fresh state, admin password set.
    await owner.bus.publish(f"{owner.bus.state_root}/updated", str(int(time.time())))
    await gateway.store.wait_for(lambda s: s.updated() is not None)
    await gateway.client.put("/api/auth/password", json={"new": "fuzz-admin"})
    schema = schemathesis.openapi.from_path(str(SPEC))
    base_url = gateway.base_url + "/api"
    failures: list[str] = []

    def fuzz() -> int:
        calls = 0
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"reference spec operation does not load: {result}"
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=8,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, timeout=10)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} → {response.status_code} {response.text}"
                    )

            check()
        return calls

    calls = await asyncio.to_thread(fuzz)
    assert calls > 54
    assert failures == []


def test_docs_setter_table_is_generated_from_the_code() -> None:
    from services.gateway.routes_setters import setter_table

    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    section = doc.split("<!-- setters:begin -->\n", 1)[1].split("<!-- setters:end -->", 1)[0]
    assert section == setter_table(), "docs/api.md is out of date: regenerate the setters table"
