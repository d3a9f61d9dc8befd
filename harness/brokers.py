"""Which MQTT broker a test gets: a private Mosquitto, or amqtt when no mosquitto binary exists (set
NIGHTWATCH_TEST_BROKER=amqtt to force it); and, for conformance, which broker programs exist on this machine
(``broker_kinds()``; ``python -m harness.brokers`` prints it).

The brokers themselves: harness/mosquitto.py, harness/amqtt_broker.py, harness/conformance_brokers.py (RabbitMQ,
NATS), all of the shape in harness/broker_base.py; a recording subscriber in harness/recorder.py.

Usage:
    with start_broker(tmp_path) as broker:
        with Recorder(broker, ["nightwatch/v1/up/#"]) as rec:
            ...
            rec.wait_for(lambda msgs: len(msgs) >= 10, timeout=5)
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.amqtt_broker import AmqttBroker
from harness.broker_base import Broker
from harness.conformance_brokers import (
    NatsMqttBroker,
    RabbitMqttBroker,
    epmd_binary,
    nats_server_binary,
    rabbitmq_server_script,
)
from harness.mosquitto import MosquittoBroker, mosquitto_binary


@dataclass(frozen=True)
class BrokerKind:
    """One broker program the tests can start, what it offers, and why it is missing when it is."""

    name: str
    found: str | None  # the binary, None when absent
    protocols: tuple[int, ...]  # MQTT protocol levels: 4 is 3.1.1, 5 is 5.0
    shared_subscriptions: bool  # $share/<group>/<filter> splits messages between subscribers
    retained_for_wildcards: bool  # a new subscription to a filter with + or # gets the retained messages
    dotted_topics: bool  # a "." inside a topic level is an ordinary character (gateway ids may hold one)
    # A reconnecting session gets its unacknowledged messages at once (MQTT 3.1.1 and 5.0, 4.4); else only
    # after a redelivery timer.
    redelivers_on_reconnect: bool
    make: Callable[[Path], Broker]
    install: str

    @property
    def missing(self) -> str | None:
        return None if self.found else f"no {self.name} on this machine ({self.install})"


def broker_kinds() -> dict[str, BrokerKind]:
    mosquitto, rabbit, epmd, nats = mosquitto_binary(), rabbitmq_server_script(), epmd_binary(), nats_server_binary()

    def mosquitto_broker(workdir: Path) -> Broker:
        assert mosquitto is not None
        return MosquittoBroker(workdir, mosquitto)

    def rabbit_broker(workdir: Path) -> Broker:
        assert rabbit is not None and epmd is not None
        return RabbitMqttBroker(workdir, rabbit, epmd)

    def nats_broker(workdir: Path) -> Broker:
        assert nats is not None
        return NatsMqttBroker(workdir, nats)

    kinds = [
        BrokerKind(
            "mosquitto",
            mosquitto,
            protocols=(4, 5),
            shared_subscriptions=True,
            retained_for_wildcards=True,
            dotted_topics=True,
            redelivers_on_reconnect=True,
            make=mosquitto_broker,
            install="apt-get install mosquitto",
        ),
        # Both grant $share/... and take it as a plain topic filter: nothing published reaches it.
        BrokerKind(
            "rabbitmq",
            rabbit if epmd else None,
            protocols=(4,),
            shared_subscriptions=False,
            retained_for_wildcards=False,
            dotted_topics=False,
            redelivers_on_reconnect=True,
            make=rabbit_broker,
            install="apt-get install rabbitmq-server; the tests enable rabbitmq_mqtt in their own node only",
        ),
        BrokerKind(
            "nats",
            nats,
            protocols=(4,),
            shared_subscriptions=False,
            retained_for_wildcards=True,
            dotted_topics=False,
            redelivers_on_reconnect=False,
            make=nats_broker,
            install="apt-get install nats-server",
        ),
    ]
    return {k.name: k for k in kinds}


def make_broker(workdir: Path, port: int | None = None) -> Broker:
    binary = mosquitto_binary()
    if binary is not None and os.environ.get("NIGHTWATCH_TEST_BROKER") != "amqtt":
        return MosquittoBroker(workdir, binary, port)
    return AmqttBroker(port)


def start_broker(workdir: Path, port: int | None = None) -> Broker:
    """A started broker; use it as a context manager so it stops at the end."""
    broker = make_broker(workdir, port)
    broker.start()
    return broker


if __name__ == "__main__":
    for kind in broker_kinds().values():
        versions = ", ".join({4: "3.1.1", 5: "5"}[v] for v in kind.protocols)
        print(f"{kind.name:10} MQTT {versions:9} {kind.found or kind.missing}")
