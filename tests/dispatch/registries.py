"""The registries' tests' service: the real app over real HTTP on a real SQLite file, restartable (a second one on
the same file is a restart), with the operator's, provisioning's and two responders' tokens; a town of gateways
and on-duty responders in it, a ring registered and its SOS sent, a metric and the file's rows read back."""

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from basestation.dispatch.api.app import create_app
from basestation.dispatch.core.outcomes import Outcome
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from protocol import uplink
from protocol.constants import EVENT_SOS, FLAG_ACK_REQUESTED
from protocol.keys import DeviceKeys
from tests.dispatch.conftest import bearer
from tests.dispatch.world import GATEWAYS, envelope, topic

OPERATOR = "registries-operator-token-0"
PROVISION = "registries-provision-token"
ANNA = "registries-anna-token-0000"
BEN = "registries-ben-token-00000"
GATEWAY = "gw-breestraat"
ANNA_AT, BEN_AT = (52.1589, 4.4894), (52.1664, 4.4817)


@dataclass
class Service:
    base: str
    d: Dispatcher
    loop: asyncio.AbstractEventLoop
    http: httpx.Client

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a coroutine function or a plain one) on the service's own event loop: its state is not
        shared with this thread."""

        async def call() -> Any:
            out = fn()
            return await out if asyncio.iscoroutine(out) else out

        fut: Future[Any] = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return fut.result(10)

    def sos(self, device_id: int, root: bytes, counter: int) -> Outcome:
        frame = uplink.encode(
            DeviceKeys(root), uplink.Uplink(counter, device_id, EVENT_SOS, 90, flags=FLAG_ACK_REQUESTED)
        )
        payload = envelope(frame, GATEWAY, int(time.time() * 1000))
        outcome: Outcome = self.on_loop(lambda: self.d.on_uplink(topic(GATEWAY), payload))
        return outcome

    def register(self, device_id: int, root: bytes, counter_start: int = 1) -> httpx.Response:
        body = {"device_id": device_id, "root_key": root.hex(), "counter_start": counter_start, "label": "test ring"}
        return self.http.post("/api/v1/devices", json=body, headers=bearer(PROVISION))

    def alarm(self, device_id: int) -> bytes:
        """A new ring ``device_id``, registered, and its first SOS, which opens an incident: the ring's root key."""
        root = os.urandom(16)
        assert self.register(device_id, root).status_code == 201
        assert self.sos(device_id, root, 1) == Outcome.ACCEPTED
        return root

    def metric(self, line: str) -> int:
        text = self.http.get("/metrics").text
        # prometheus-client writes every value as a float: a count as "3.0".
        found = re.search(rf"^{re.escape(line)} (\d+)\.0$", text, re.M)
        return int(found.group(1)) if found else 0


@contextmanager
def service(db: Path) -> Iterator[Service]:
    """The real app on a real SQLite file, with three gateways and two responders; a second one on the same file
    is a restart."""
    tokens = {OPERATOR: "operator", PROVISION: "provisioning", ANNA: "responder:anna", BEN: "responder:ben"}
    d = Dispatcher(DispatchSettings(database_url=f"sqlite+aiosqlite:///{db}", tokens=tokens))
    with served(create_app(d)) as (base, loop), httpx.Client(base_url=base, timeout=10) as http:
        yield Service(base, d, loop, http)


def town(s: Service) -> None:
    """The three gateways placed, and Anna and Ben as responders on duty near them."""
    for gw, (lat, lon) in GATEWAYS.items():
        assert s.http.put(f"/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=bearer(OPERATOR)).is_success
    for rid, name, token, (lat, lon) in (("anna", "Anna Visser", ANNA, ANNA_AT), ("ben", "Ben de Wit", BEN, BEN_AT)):
        body = {"name": name, "skills": ["patrol", "first_aid"]}
        assert s.http.put(f"/api/v1/responders/{rid}", json=body, headers=bearer(OPERATOR)).is_success
        duty = {"on_duty": True, "lat": lat, "lon": lon}
        assert s.http.put("/api/v1/me/duty", json=duty, headers=bearer(token)).is_success


def rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """What ``sql`` reads from the database file ``db``, outside the service."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()
