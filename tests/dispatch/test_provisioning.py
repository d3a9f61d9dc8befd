"""Provisioning a key ring the way a person does it (docs/flashing.md): `nightwatch provision` prints a record, the
record is posted unchanged to /api/v1/devices, and the ring's first alarm opens an incident, whatever counter the
ring was told to start at. The counter start travels to the database and the resolver, and survives a restart."""

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from basestation.dispatch.api.app import create_app
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.core.state import DispatchState
from basestation.dispatch.io.store import Store
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from nightwatch.cli import app as cli
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import bearer
from tests.dispatch.world import GATEWAYS, envelope, topic

OPERATOR = "provisioning-test-operator"
PROVISION = "provisioning-test-provisioner"
GATEWAY = "gw-breestraat"


def provision_record(tmp_path: Path, device_id: int, *extra: str) -> dict[str, Any]:
    """What `nightwatch provision` prints, run as a person runs it."""
    out = tmp_path / f"ring-{device_id}.json"
    r = CliRunner().invoke(cli, ["provision", "--device-id", str(device_id), "--out", str(out), *extra])
    assert r.exit_code == 0, r.output
    record: dict[str, Any] = json.loads(r.output.strip().splitlines()[-1])
    return record


@dataclass
class Service:
    base: str
    d: Dispatcher
    loop: asyncio.AbstractEventLoop

    def sos(self, record: dict[str, Any], counter: int) -> Outcome:
        """The ring's SOS at ``counter``, heard by one gateway, handled on the service's own loop."""
        keys = DeviceKeys(bytes.fromhex(record["root_key"]))
        frame = uplink.encode(
            keys, uplink.Uplink(counter, record["device_id"], EVENT_SOS, 90, flags=FLAG_ACK_REQUESTED)
        )
        payload = envelope(frame, GATEWAY, int(time.time() * 1000))
        fut: Future[Outcome] = asyncio.run_coroutine_threadsafe(self.d.on_uplink(topic(GATEWAY), payload), self.loop)
        return fut.result(10)

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}/api/v1/devices", json=body, headers=bearer(PROVISION), timeout=10)

    def incident(self, incident_id: str) -> httpx.Response:
        return httpx.get(f"{self.base}/api/v1/incidents/{incident_id}", headers=bearer(OPERATOR), timeout=10)


@contextmanager
def service(db: Path) -> Iterator[Service]:
    """The real app on a real SQLite file, served over HTTP; a second one on the same file is a restart."""
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{db}", tokens={OPERATOR: "operator", PROVISION: "provisioning"}
    )
    d = Dispatcher(settings)
    with served(create_app(d)) as (base, loop):
        lat, lon = GATEWAYS[GATEWAY]
        r = httpx.put(f"{base}/api/v1/gateways/{GATEWAY}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR))
        assert r.is_success
        yield Service(base, d, loop)


def test_the_first_alarm_of_a_ring_provisioned_at_5000_opens_an_incident(tmp_path: Path) -> None:
    record = provision_record(tmp_path, 4242, "--counter-start", "5000")
    assert record["counter_start"] == 5000
    with service(tmp_path / "d.db") as s:
        r = s.post(record)  # unchanged, as printed
        assert r.status_code == 201, r.text
        assert s.d.state.resolver.replay_state(4242) == (4999, (1 << 32) - 1)
        assert 5000 in s.d.state.resolver.window(4242)
        assert s.sos(record, 5000) == Outcome.ACCEPTED
        inc = s.incident("4242-5000")
        assert inc.status_code == 200
        # Nobody is on duty in this town: open, or already with the operators, but not over.
        assert inc.json()["kind"] == "sos" and inc.json()["state"] in ("open", "escalated")
        # The window moved on with the alarm: the next press is a new frame, the first one again only a copy.
        assert s.sos(record, 5001) == Outcome.ACCEPTED
        assert s.sos(record, 5000) in (Outcome.DUPLICATE, Outcome.REPLAY)


def test_counters_below_the_start_are_refused(tmp_path: Path) -> None:
    """A ring re-provisioned with its old key and a higher start: its earlier frames, if recorded and played back,
    open nothing."""
    record = provision_record(tmp_path, 77, "--counter-start", "300")
    with service(tmp_path / "d.db") as s:
        assert s.post(record).status_code == 201
        for old in (299, 295, 292):  # the ones the resolver still looks for (SPEC 7.3): each marked as used
            assert s.sos(record, old) == Outcome.REPLAY, old
        assert s.sos(record, 268) != Outcome.ACCEPTED
        assert s.sos(record, 1) != Outcome.ACCEPTED
        assert all(not i.startswith("77-") for i in s.d.state.incidents)
        assert s.sos(record, 300) == Outcome.ACCEPTED


def test_the_window_survives_a_restart(tmp_path: Path) -> None:
    record = provision_record(tmp_path, 4243, "--counter-start", "5000")
    db = tmp_path / "d.db"
    with service(db) as s:
        assert s.post(record).status_code == 201
    with service(db) as s:  # the same database, a new process's state
        assert 4243 in s.d.state.resolver
        assert s.sos(record, 4999) == Outcome.REPLAY
        assert s.sos(record, 5000) == Outcome.ACCEPTED
        assert s.incident("4243-5000").status_code == 200
    with service(db) as s:  # and once more after the alarm: it is remembered, not taken again
        assert s.sos(record, 5000) in (Outcome.REPLAY, Outcome.DUPLICATE)
        assert s.sos(record, 5001) == Outcome.ACCEPTED


def test_a_record_without_a_counter_start_starts_at_1(tmp_path: Path) -> None:
    record = provision_record(tmp_path, 9)
    assert record["counter_start"] == 1
    del record["counter_start"]
    with service(tmp_path / "d.db") as s:
        assert s.post(record).status_code == 201
        assert s.sos(record, 1) == Outcome.ACCEPTED


@pytest.mark.parametrize(
    "counter_start",
    [0, -1, 1 << 32, "5000", 5000.0, True, None],
)
def test_a_counter_start_out_of_range_or_not_an_integer_is_refused(tmp_path: Path, counter_start: object) -> None:
    record = provision_record(tmp_path, 10)
    with service(tmp_path / "d.db") as s:
        r = s.post({**record, "counter_start": counter_start})
        assert r.status_code == 422, (counter_start, r.text)
        assert any(e["loc"][-1] == "counter_start" for e in r.json()["detail"])
        assert 10 not in s.d.state.resolver
        # Nothing was stored: the corrected record is then accepted.
        assert s.post({**record, "counter_start": 0xFFFFFFFF}).status_code == 201


def test_the_openapi_document_shows_the_counter_start(tmp_path: Path) -> None:
    with service(tmp_path / "d.db") as s:
        doc = httpx.get(f"{s.base}/openapi.json").json()
    field = doc["components"]["schemas"]["DeviceIn"]["properties"]["counter_start"]
    assert field["type"] == "integer"
    assert (field["minimum"], field["maximum"], field["default"]) == (1, 0xFFFFFFFF, 1)
    assert "counter_start" not in doc["components"]["schemas"]["DeviceIn"].get("required", [])


# -- the store, on both databases --------------------------------------------------------------------------


def test_the_store_keeps_the_window_it_is_given(db_url: str) -> None:
    """What another replica or a restarted service loads from the database is the window the API stored."""
    from basestation.dispatch.io.migrate import upgrade

    upgrade(db_url)
    key = bytes(range(16))

    async def go() -> DispatchState:
        store = Store(db_url)
        try:
            assert await store.add_device(5, key, None, 0, 4999, (1 << 32) - 1)
            assert await store.add_device(6, key[::-1], None, 0)
            state = DispatchState()
            await store.load(state, int(time.time() * 1000))
            return state
        finally:
            await store.close()

    state = asyncio.run(go())
    assert state.resolver.replay_state(5) == (4999, (1 << 32) - 1)
    assert 5000 in state.resolver.window(5)
    assert state.resolver.resolve(uplink.encode(DeviceKeys(key), uplink.Uplink(5000, 5, EVENT_SOS, 90))).counter == 5000
    assert state.resolver.replay_state(6) == (0, 0)
