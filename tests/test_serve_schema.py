"""Schemathesis against the app's own OpenAPI schema, in-process over ASGI: no input to any
operation is a 500. Examples are few per operation (the suite's time is shared) and drawn
deterministically, so a failure comes back the same."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from sorakit.serve.app import create_app

EXAMPLES = 15  # per operation
# The planner lays out and simulates a scene per example (seconds each at 512 px and 8 s).
FEWER = {"POST /v1/plans": 4}


def test_no_input_is_a_server_error(tmp_path):
    app = create_app(tmp_path / "jobs.sqlite", tmp_path / "data", max_queue=1000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # every route of the API is fuzzed

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=FEWER.get(operation.label, EXAMPLES), deadline=None,
                  derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def no_500(case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_500()
