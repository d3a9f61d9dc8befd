"""The dispatch pipeline and actions on a real SQLite database, restartable: after :meth:`Desk.restart` the
service knows only what it committed, as after a crash. Used by the lifecycle tests and the stateful model."""

import asyncio
import itertools
import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from basestation.dispatch.core.assignment import Policy
from basestation.dispatch.core.context import Context
from basestation.dispatch.core.effects import Effects
from basestation.dispatch.core.pipeline import UplinkPipeline
from basestation.dispatch.core.state import DispatchState
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.store import Store
from tests.dispatch.world import T0, World, envelope, topic

_TEMPLATES: dict[str, Path] = {}
_FRESH = itertools.count()


def migrated(directory: Path, world: World | None = None) -> Path:
    """A migrated database file, copied from one made once per process: alembic takes a second or so, and the
    stateful model opens one database per example. With ``world``, its gateways and responders are in it already
    (the same for every World). Each copy has a name of its own: a name used before may still have that database's
    write-ahead log beside it."""
    key = f"{directory}:{world is not None}"
    if key not in _TEMPLATES:
        template = directory / f"template-{len(_TEMPLATES)}.db"
        upgrade(f"sqlite+aiosqlite:///{template}")
        if world is not None:
            Desk(template, world).close()
        _TEMPLATES[key] = template
    fresh = directory / f"dispatch-{os.getpid()}-{next(_FRESH)}.db"
    shutil.copyfile(_TEMPLATES[key], fresh)
    return fresh


def remove(path: Path) -> None:
    """A database file and its write-ahead log."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class Desk:
    """One dispatch service's decisions on a real database: every effect committed before the next step."""

    def __init__(
        self, path: Path, world: World | None = None, policy: Policy | None = None, registered: bool = False
    ) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"
        self.world = world if world is not None else World()
        self.policy = policy if policy is not None else self.world.state.policy
        self.timing = self.world.state.timing
        self.world.state.policy = self.policy
        self.loop = asyncio.new_event_loop()
        self.store = Store(self.url)
        self.state = self.world.state
        self.pipeline = self.world.pipeline
        if not registered:  # a database from ``migrated(directory, world)`` has them
            self._run(self._register())

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _register(self) -> None:
        for gw in self.state.gateways.values():
            await self.store.save_gateway(gw)
        for r in self.state.responders.values():
            await self.store.save_responder(r)

    def save_responder(self, rid: str) -> None:
        """A responder's duty and shift, as PUT /api/v1/responders and /me/duty store them."""
        self._run(self.store.save_responder(self.state.responders[rid]))

    def ring(self, device_id: int) -> None:
        """Provision a key ring in the database and in memory."""
        keys_known = device_id in self.world.roots
        self.world.ring(device_id)
        if not keys_known:
            self._run(self.store.add_device(device_id, self.world.roots[device_id], None, 0))

    def commit(self, eff: Effects) -> Effects:
        if eff.durable:
            self._run(self.store.apply(eff.durable))
        return eff

    def send(
        self,
        frame: bytes,
        gw: str = "gw-breestraat",
        at: int = T0,
        radio: str = "lora",
        rssi: float = -90.0,
        rx: int = 0,
    ) -> Context:
        """One copy heard by gateway ``gw`` at dispatch time ``at`` (its own receive time ``rx``, default ``at``)."""
        ctx = self.pipeline.handle(topic(gw), envelope(frame, gw, rx or at, radio, rssi), at)
        self.commit(ctx.effects)
        return ctx

    def act(self, fn: Callable[..., Effects], *args: Any, **kwargs: Any) -> Effects:
        return self.commit(fn(self.state, *args, **kwargs))

    def restart(self, now_ms: int) -> None:
        """A new process: memory rebuilt from the database alone."""
        self.state = DispatchState(policy=self.policy, timing=self.timing)
        self._run(self.store.load(self.state, now_ms))
        self.pipeline = UplinkPipeline(self.state)
        self.world.state, self.world.pipeline = self.state, self.pipeline

    def events(self, incident_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._run(self.store.incident_events(incident_id))
        return result

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """An incident as memory holds it, else as the database does (a restart drops ended ones from memory)."""
        inc = self.state.incidents.get(incident_id)
        if inc is not None:
            return inc.to_dict()
        conn = sqlite3.connect(self.path)
        try:
            row = conn.execute("SELECT doc FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        finally:
            conn.close()
        return None if row is None else dict(json.loads(row[0]))

    def logged(self, incident_id: str) -> int:
        """How many log entries the database holds for an incident (read straight from the file: it is asked
        around every act of the stateful model)."""
        conn = sqlite3.connect(self.path)
        try:
            row = conn.execute("SELECT count(*) FROM incident_events WHERE incident_id = ?", (incident_id,)).fetchone()
        finally:
            conn.close()
        return int(row[0])

    def close(self) -> None:
        self._run(self.store.close())
        self.loop.close()
