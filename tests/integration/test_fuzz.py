"""Schemathesis against ``/openapi.json``, the app in-process over WSGI: every documented
operation, fed valid and invalid requests, must answer without a 5xx, with a documented
status code and media type, and with a body of the documented schema.

Two passes, both deterministic so that a failure reproduces:

- schemathesis's boundary-value cases (its coverage phase: limits, missing and wrong-typed
  parameters, unexpected methods), every one of them;
- Hypothesis-generated cases, ``MAX_EXAMPLES`` per operation and mode, derandomized. Two
  thirds of them name the seeded shop and carry the admin token so they reach the views,
  and half of those get one string or integer swapped for a hostile value (NUL, a lone
  surrogate, control characters, an over-long text, an integer past bigint): a generator
  rarely draws exactly those, and they are what Postgres and Redis refuse.

(The operations are driven directly rather than through schemathesis's pytest plugin,
which does not run under pytest 9.2: it sets ``Node._nodeid``, which pytest removed.)
"""

from __future__ import annotations

import time
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kassa.bootstrap import Container
from ops.seed import seed_shop_in

MAX_EXAMPLES = 10
"""Per operation and mode: about 700 generated requests over some 40 operations, besides
about 2,250 boundary cases."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

HOSTILE_TEXT = ["\x00", "MUG-WHITE\x00", "\x1b[2J\x7f\x9f", "x" * 300, "%00"]
HOSTILE_BODY_TEXT = ["\ud800", "a\udfffb"]
"""Lone surrogates travel only in JSON (``"\\ud800"``): a URL or header cannot carry them."""

HOSTILE_INTEGERS = [2**63, -(2**63) - 1, 10**30, -1]

BUDGET = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(app: Any, container: Container) -> Any:
    with container.uow() as uow:
        seed_shop_in(uow, "demo", container.settings, stripe_api_key="sk_test_kassa_demo")
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def operations(api_schema: Any) -> list[Any]:
    found = [result.ok() for result in api_schema.get_all_operations()]
    labels = {op.label for op in found}
    assert {
        "POST /api/cart/items",
        "POST /api/checkout",
        "POST /webhooks/stripe/{shop_id}",
    } <= labels
    return found


def known_caller(case: Any, admin_token: str) -> None:
    """Name the seeded shop and, where the operation needs credentials, the operator token
    (which acts for the shop named by ``X-Shop-Id``), as a legitimate client would."""
    case.headers = dict(case.headers or {})
    if case.path.startswith(("/api/", "/admin/")):
        case.headers["X-Shop-Id"] = "demo"
    if case.operation.definition.raw.get("security"):
        case.headers["Authorization"] = f"Bearer {admin_token}"


def _leaves(value: Any, in_body: bool) -> list[tuple[Any, Any, bool]]:
    """(container, key, in_body) for every string or integer inside ``value``."""
    found: list[tuple[Any, Any, bool]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, str | int) and not isinstance(child, bool):
            found.append((value, key, in_body))
        elif isinstance(child, dict | list):
            found.extend(_leaves(child, in_body))
    return found


def swap_in_hostile(case: Any, data: st.DataObject) -> None:
    leaves = _leaves(case.path_parameters or {}, False) + _leaves(case.query or {}, False)
    if isinstance(case.body, dict | list):
        leaves += _leaves(case.body, True)
    if not leaves:
        return
    holder, key, in_body = data.draw(st.sampled_from(leaves))
    if isinstance(holder[key], int):
        holder[key] = data.draw(st.sampled_from(HOSTILE_INTEGERS))
    else:
        holder[key] = data.draw(
            st.sampled_from(HOSTILE_TEXT + HOSTILE_BODY_TEXT if in_body else HOSTILE_TEXT)
        )


def generated(operation: Any, mode: GenerationMode, admin_token: str) -> None:
    @hypothesis.given(
        case=operation.as_strategy(generation_mode=mode),
        caller=st.sampled_from(["as generated", "known", "known and hostile"]),
        data=st.data(),
    )
    @BUDGET
    def run(case: Any, caller: str, data: st.DataObject) -> None:
        if caller.startswith("known"):
            known_caller(case, admin_token)
        if caller.endswith("hostile"):
            swap_in_hostile(case, data)
        case.call_and_validate(checks=CHECKS)

    run()


def test_boundary_cases_answer_as_documented(api_schema: Any, container: Container) -> None:
    failures: list[str] = []
    count = 0
    started = time.monotonic()
    for operation in operations(api_schema):
        cases = api_schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=api_schema.config.generation,
        )
        for case in cases:
            count += 1
            if count % 2:
                known_caller(case, container.settings.admin_token)
            try:
                case.call_and_validate(checks=CHECKS)
            except (Exception, FailureGroup) as exc:
                failures.append(f"{case.method} {case.formatted_path}: {exc}")
    print(f"{count} boundary cases in {time.monotonic() - started:.1f}s")
    assert count > 300
    assert not failures, "\n\n".join(failures)


def test_generated_requests_answer_as_documented(api_schema: Any, container: Container) -> None:
    failures: list[str] = []
    started = time.monotonic()
    for operation in operations(api_schema):
        # Negative mode needs something to break: a parameter or a body.
        breakable = bool(operation.definition.raw.get("parameters")) or bool(operation.body)
        for mode in [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * breakable:
            try:
                generated(operation, mode, container.settings.admin_token)
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}):\n{exc}")
    print(f"generated cases in {time.monotonic() - started:.1f}s")
    assert not failures, "\n\n".join(failures)
