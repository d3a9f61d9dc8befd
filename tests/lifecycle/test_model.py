"""The stateful model of docs/lifecycle.md: 2,000 lives of an alarm in `make test`, a hundred times that in
`make soak` (HYPOTHESIS_PROFILE=soak); NIGHTWATCH_MODEL_EXAMPLES sets the count for one run."""

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.lifecycle.model import AlarmLife

SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
EXAMPLES = int(os.environ.get("NIGHTWATCH_MODEL_EXAMPLES", "2000")) * (100 if SOAK else 1)


# About two minutes here at 2,000 examples; the soak runs for hours and has no limit.
@pytest.mark.timeout(0 if SOAK else 1800)
def test_the_lifecycle_invariants_hold_whatever_people_and_the_radio_do() -> None:
    run_state_machine_as_test(
        AlarmLife,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
