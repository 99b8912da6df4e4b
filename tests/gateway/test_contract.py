"""The contract: the app's own OpenAPI document covers the reference evcc API operation by operation, and
a schemathesis run generated from the reference spec finds no server error and no response that
violates the spec (status code, content type, body schema)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml

from shared.config import Config
from tests.gateway.conftest import RunningGateway
from tests.gateway.test_with_optimizer import real_optimizer
from tests.support.fuzz import SPEC_CONFORMANCE, fuzz_operations

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


async def test_schemathesis_finds_no_server_error_and_no_spec_violation(
    gateway: RunningGateway, config: Config, tmp_path: Path
) -> None:
    """Two runs on a healthy, fully set-up home (the real optimizer answering, fresh state, admin password
    set): the reference spec's operations — no server error, status codes, content types, headers
    (the logout cookie), bodies as the reference says, protected operations refusing without a session —;
    and every /api operation of the app's own /openapi.json, where no undocumented 4xx is let through."""
    reference_spec()
    async with real_optimizer(config, tmp_path):
        await gateway.store.wait_for(
            lambda s: s.service_online("optimizer") is True and s.snapshot().ready, timeout=15
        )
        await gateway.client.put("/api/auth/password", json={"new": "fuzz-admin"})
        schema = schemathesis.openapi.from_path(str(SPEC))
        calls, failures = await asyncio.to_thread(
            fuzz_operations, schema, gateway.base_url + "/api", checks=SPEC_CONFORMANCE, max_examples=8
        )
        document = (await gateway.client.get("/openapi.json")).json()
        own = schemathesis.openapi.from_dict(document).include(path_regex="^/api/")
        own_calls, own_failures = await asyncio.to_thread(
            fuzz_operations, own, gateway.base_url, checks=SPEC_CONFORMANCE, max_examples=3,
            undocumented_4xx=False,
        )  # fmt: skip
    assert calls > 54 and own_calls > 54
    assert failures == [], "\n".join(failures)
    assert own_failures == [], "\n".join(own_failures)


async def test_405_names_every_method_of_the_path(gateway: RunningGateway) -> None:
    """A method a path does not have is 405 with an Allow header listing all the methods it has."""
    spec = reference_spec()
    wrong = []
    for path, item in spec["paths"].items():
        declared = {m.upper() for m in item if m in METHODS}
        missing = sorted(set(m.upper() for m in METHODS) - declared)
        url = "/api" + path.replace("{id}", "1").replace("{name}", "ev1")
        url = "/".join("x" if part.startswith("{") else part for part in url.split("/"))
        response = await gateway.client.request(missing[0], url)
        allowed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if response.status_code != 405 or not declared <= allowed:
            wrong.append((missing[0], path, response.status_code, sorted(allowed)))
    assert wrong == []


def test_docs_setter_table_is_generated_from_the_code() -> None:
    from services.gateway.routes_setters import setter_table

    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    section = doc.split("<!-- setters:begin -->\n", 1)[1].split("<!-- setters:end -->", 1)[0]
    assert section == setter_table(), "docs/api.md is out of date: regenerate the setters table"
