"""Schemathesis over an OpenAPI document against a running server: every operation, a few examples each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

Check = Callable[..., Any]

SERVER_ERRORS: list[Check] = [not_a_server_error]
SPEC_CONFORMANCE: list[Check] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]


def fuzz_operations(
    schema: BaseSchema,
    base_url: str,
    *,
    checks: list[Check],
    max_examples: int,
    headers: Mapping[str, str] | None = None,
    undocumented_4xx: bool = True,
) -> tuple[int, list[str]]:
    """Call every operation of ``schema`` with generated cases (derandomized, so a run is repeatable) and
    return how many calls were made and one line per failed check. ``undocumented_4xx`` lets a 4xx the
    document does not list pass (the reference spec lists few, yet bad input must be a 400 and an unknown
    id a 404); against a document that lists them all, pass False. Blocking: run it in a thread."""
    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"operation does not load: {result}"
        operation = result.ok()

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, headers=dict(headers or {}), timeout=10)
            try:
                case.validate_response(response, checks=checks)
            except FailureGroup as group:
                for failure in group.exceptions:
                    title = getattr(failure, "title", type(failure).__name__)
                    if (
                        undocumented_4xx
                        and title == "Undocumented status code"
                        and 400 <= response.status_code < 500
                    ):
                        continue
                    message = " ".join(str(getattr(failure, "message", failure)).split())[:300]
                    if response.status_code >= 500:
                        message += f" body: {response.text[:300]}"
                    failures.append(
                        f"{case.method} {case.formatted_path} → {response.status_code}: {title}: {message}"
                    )

        check()
    return calls, failures
