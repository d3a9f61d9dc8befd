"""GET /metrics in Prometheus' text format, through prometheus-client.

The service already keeps its figures (``Dispatcher.health()``, the walk-me-home refusals): a collector reads them
at each scrape, so the hot path keeps counting in plain integers and pays nothing for the exposition, and
prometheus-client writes the format (escaping, types, help) that a hand-written one had to get right by itself.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

CONTENT_TYPE = CONTENT_TYPE_LATEST

# (name, type, help, where in health()): one figure each.
_FIGURES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("nightwatch_open_incidents", "gauge", "Incidents not yet ended.", ("open_incidents",)),
    ("nightwatch_writer_commits_total", "counter", "Commits of the group-committing writer.", ("writer", "commits")),
    ("nightwatch_writer_queue_depth", "gauge", "Records waiting for the writer.", ("writer", "depth")),
    ("nightwatch_unresolved_queue", "gauge", "Frames held for the recovery sweep.", ("unresolved_queue",)),
    (
        "nightwatch_unresolved_given_up_total",
        "counter",
        "Held frames no device claimed after the recovery sweep.",
        ("unresolved_given_up",),
    ),
    (
        "nightwatch_unresolved_dropped_total",
        "counter",
        "Frames pushed out of a full recovery queue before a sweep.",
        ("unresolved_dropped",),
    ),
    ("nightwatch_acks_withheld_total", "counter", "ACKs not sent (docs/lifecycle.md).", ("acks_withheld",)),
    (
        "nightwatch_dead_letters_total",
        "counter",
        "Messages set aside as never to be handled (GET /api/v1/dead-letters).",
        ("dead_letters",),
    ),
    (
        "nightwatch_gateway_status_refused_total",
        "counter",
        "Statuses from removed gateways, refused (PUT adds them again).",
        ("gateway_status_refused",),
    ),
    ("nightwatch_stream_subscribers", "gauge", "Live streams open.", ("stream_subscribers",)),
)


class DispatchCollector(Collector):
    def __init__(self, dispatcher: Any, walk_refused: Counter[str]) -> None:
        self.dispatcher = dispatcher
        self.walk_refused = walk_refused

    def collect(self) -> Iterator[Metric]:
        h = self.dispatcher.health()
        uplinks = CounterMetricFamily(
            "nightwatch_uplinks_total", "Uplink messages by pipeline outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(h["outcomes"].items()):
            uplinks.add_metric([outcome], n)
        yield uplinks
        for name, kind, text, path in _FIGURES:
            value: Any = h
            for key in path:
                value = value[key]
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, text, value=value)
        refused = CounterMetricFamily(
            "nightwatch_walk_refused_total", "Walk-me-home requests refused, by why (docs/walk.md).", labels=["why"]
        )
        for why, n in sorted(self.walk_refused.items()):
            refused.add_metric([why], n)
        yield refused


def registry(dispatcher: Any, walk_refused: Counter[str] | None = None) -> CollectorRegistry:
    """A registry of this service's figures alone: not the process-wide default, which several apps in one
    process (the tests, the benchmarks) would share."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DispatchCollector(dispatcher, walk_refused if walk_refused is not None else Counter()))
    return reg


def text(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
