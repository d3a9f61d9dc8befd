"""The stateful model of docs/lifecycle.md: 2,000 lives of an alarm in `make test`, a hundred times that in
`make soak` (HYPOTHESIS_PROFILE=soak)."""

import os

from hypothesis import HealthCheck, settings

from tests.lifecycle.model import AlarmLife

EXAMPLES = int(os.environ.get("NIGHTWATCH_MODEL_EXAMPLES", "2000")) * (
    100 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 1
)

TestAlarmLife = AlarmLife.TestCase
TestAlarmLife.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
