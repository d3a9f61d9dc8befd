"""The dispatch service in the test's own event loop: the real app with its lifespan run, as uvicorn runs it, and
an httpx client that calls it in process. Over real HTTP it is harness.dispatch's served() and LiveService.

Here rather than in harness/: only tests call the service in process; the benchmarks, the simulator and the demo
reach it over the network. With it, what the dispatch tests share: the service with its MQTT link (linked, wired,
mqtt_settings, a private Mosquitto, publishing as a gateway), replicas on one PostgreSQL, a request's bearer
header, waiting for a condition, the db fixture (a SQLite file's path), the db_url fixture that runs a test on both
databases, and the target fixture: each broker the link is tested against.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import paho.mqtt.client as mqtt
import pytest
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

from basestation.dispatch.api.app import create_app
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.mqtt_link import MqttLink
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.broker_base import TEST_USERNAME, Broker
from harness.brokers import BrokerKind, broker_kinds
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from tests.databases import PrivatePostgres
from tests.dispatch.world import World, provision

Links = Callable[[Dispatcher], list[MqttLink]]


@dataclass(frozen=True)
class Running:
    dispatcher: Dispatcher
    app: FastAPI
    http: httpx.AsyncClient  # base URL http://dispatch
    links: list[MqttLink]


def no_links(dispatcher: Dispatcher) -> list[MqttLink]:
    return []


def mqtt_links(settings: DispatchSettings) -> Links:
    """The service's MQTT links, one per broker ``settings`` name, as `nightwatch dispatch` makes them."""
    return lambda d: [MqttLink(broker, d) for broker in settings.brokers()]


@asynccontextmanager
async def running(
    settings: DispatchSettings, links: Links = no_links, client: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[Running]:
    """The service of ``settings`` from the start of its lifespan to the end. ``client`` is the address requests
    come from (httpx's own by default), for the limits and logs that read it."""
    d = Dispatcher(settings)
    made = links(d)
    app = create_app(d, made)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://dispatch") as http:
            yield Running(d, app, http, made)


@asynccontextmanager
async def linked(settings: DispatchSettings, world: World | None = None) -> AsyncIterator[tuple[Dispatcher, MqttLink]]:
    """The service of ``settings`` with its one MQTT link; ``world``'s rings provisioned first."""
    if world is not None:
        await provision(settings.database_url, world.roots)
    async with running(settings, mqtt_links(settings)) as svc:
        yield svc.dispatcher, svc.links[0]


async def wired(settings: DispatchSettings) -> tuple[Dispatcher, MqttLink]:
    """A started dispatcher and an MQTT link that carries its downlinks, the link not started yet: for the tests
    that start and stop the two in an order of their own."""
    d = Dispatcher(settings)
    await d.start()
    link = MqttLink(settings, d)
    d.publishers.append(link.publish)
    return d, link


def mosquitto(tmp_path: Path, extra_conf: str = "") -> MosquittoBroker:
    """A private Mosquitto in ``tmp_path``, not started: ``with`` starts it (tests that call it skip without one)."""
    binary = mosquitto_binary()
    assert binary is not None
    return MosquittoBroker(tmp_path / "broker", binary, extra_conf=extra_conf)


def publish_as_gateway(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    """``messages`` (topic, payload) as a gateway publishes them: MQTT 3.1.1, QoS 1, each done at the broker's
    PUBACK."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-test-publisher", protocol=mqtt.MQTTv311)
    c.username_pw_set(TEST_USERNAME)
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        for t, payload in messages:
            c.publish(t, payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def mqtt_settings(tmp_path: Path, host: str, port: int, **kw: object) -> DispatchSettings:
    """The service on a new SQLite database in ``tmp_path`` and the broker at ``host``:``port``, reconnecting after
    50 ms; ``kw`` other settings."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(db)
    return DispatchSettings(
        mqtt_url=f"mqtt://{host}:{port}",
        database_url=db,
        **{"mqtt_username": TEST_USERNAME, "mqtt_reconnect_initial_s": 0.05, **kw},  # type: ignore[arg-type]
    )


def replicas(postgres: PrivatePostgres, tokens: dict[str, str]) -> Callable[[str], FastAPI]:
    """Replicas of the service on one new PostgreSQL database: the app of the replica named by the argument, a new
    one at each call (served, as harness.dispatch.served does, over real HTTP)."""
    db = postgres.create_database(f"r_{uuid.uuid4().hex[:10]}")
    upgrade(db)
    return lambda name: create_app(
        Dispatcher(DispatchSettings(database_url=db, tokens=tokens, mqtt_client_id=f"dispatch-{name}"))
    )


def serve(
    settings: DispatchSettings,
    scenario: Callable[[Dispatcher, httpx.AsyncClient], Awaitable[None]],
    client: tuple[str, int] = ("127.0.0.1", 123),
) -> None:
    """``scenario(dispatcher, http)`` on the service of ``settings`` (see running()), in an event loop of its own."""

    async def run() -> None:
        async with running(settings, client=client) as svc:
            await scenario(svc.dispatcher, svc.http)

    asyncio.run(run())


def bearer(token: str) -> dict[str, str]:
    """The header that signs a request in with ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def until(cond: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait in the test's event loop for ``cond`` to hold; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


def wait_for(cond: Callable[[], object], timeout: float = 5.0) -> None:
    """``until`` for a test that blocks: the service runs elsewhere (a thread of its own, as harness.dispatch.served
    runs it, or a browser), nothing here to await. TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite file's path in the test's own directory, not made yet: the service makes it."""
    return tmp_path / "d.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each engine the store supports: one data layer, one behaviour."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'dispatch.db'}"
    pg: PrivatePostgres = request.getfixturevalue("postgres")
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@dataclass(frozen=True)
class Target:
    """A broker of one kind, running, and the MQTT version the link speaks to it."""

    kind: BrokerKind
    broker: Broker
    protocol: Literal[4, 5]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("mosquitto", 5), id="mosquitto-v5"),
        pytest.param(("mosquitto", 4), id="mosquitto-v311"),
        pytest.param(("rabbitmq", 4), id="rabbitmq-v311"),
        pytest.param(("nats", 4), id="nats-v311"),
    ],
)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A broker the service's link must work with (tests/dispatch/test_mqtt_conformance_*.py), one per variant
    for the whole module: RabbitMQ's node takes 10-16 s to boot here. Tests keep apart by their own client ids and
    gateway ids."""
    name, protocol = request.param
    kind = broker_kinds()[name]
    if kind.missing:
        pytest.skip(kind.missing)
    with kind.make(tmp_path_factory.mktemp(name)) as broker:
        yield Target(kind, broker, protocol)
