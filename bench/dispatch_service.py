"""`nightwatch dispatch` as the benchmarks run it: its own process on a SQLite file, key rings provisioned sealed
as in production, responders on duty, the gateways' retained status, and a probe that tells its subscription is
live. bench/dispatch_bench.py and bench/flood_bench.py measure it."""

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from basestation.dispatch.io.keystore import KeySealer
from basestation.dispatch.io.migrate import upgrade
from basestation.dispatch.io.schema import devices as devices_table
from basestation.dispatch.io.store import Store
from bench.peer_runs import probe_peer
from bench.uplinks import GATEWAYS, POSITIONS, Fleet, connect, drained
from harness.dispatch_process import dispatch_args, until_healthy
from harness.ports import free_port
from harness.started import stop_process

RESPONDERS = 5  # on duty near the gateways, so every alarm runs the real offer
OPERATOR = "bench-operator-token-000000"


class Service:
    """`nightwatch dispatch` as a subprocess: the real MqttLink, the real API, a SQLite file."""

    def __init__(self, workdir: Path, broker_port: int, env: dict[str, str] | None = None) -> None:
        self.env = env or {}  # on top of this process's environment (bench/ab.py runs variants this way)
        self.db_path = workdir / "dispatch.db"
        self.db = f"sqlite+aiosqlite:///{self.db_path}"
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.responders = {f"bench-responder-{i}-token-0000": f"r{i}" for i in range(RESPONDERS)}
        tokens = [f"{OPERATOR}=operator"] + [f"{t}=responder:{r}" for t, r in self.responders.items()]
        self.args = dispatch_args(broker_port, self.db, self.http_port, tokens)
        self.log_path = workdir / "dispatch.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Keys sealed at rest as in production: start-up opens every one of them (AES-256-GCM).
        self.sealing_key = os.urandom(32)

    async def provision(self, fleets: list[Fleet]) -> None:
        """Key rings straight into the devices table in one transaction, sealed as Store.add_device seals them
        (the API's POST /devices inserts them one by one; 15k of those would dominate the set-up time)."""
        if "PYTHONPATH" in self.env:
            # Another checkout (bench.ab --a-path) migrates its own database: it may not know this one's newest
            # migrations, and would refuse to start on a database that has them.
            migrate = "import sys; from basestation.dispatch.io.migrate import upgrade; upgrade(sys.argv[1])"
            env = dict(os.environ, **self.env)
            # Run from that checkout: ``-c`` puts the working directory ahead of PYTHONPATH.
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", migrate, f"sqlite+aiosqlite:///{self.db_path.resolve()}"],
                env=env,
                cwd=self.env["PYTHONPATH"],
                check=True,
            )
        else:
            await asyncio.to_thread(upgrade, self.db)
        store = Store(self.db)
        sealer = KeySealer(self.sealing_key)
        now_ms = time.time_ns() // 1_000_000
        rows = [
            {
                "device_id": d,
                "root_key": sealer.seal(d, k),
                "label": None,
                "highest": 0,
                "bitmap": 0,
                "created_ms": now_ms,
            }
            for fleet in fleets
            for d, k in fleet.roots.items()
        ]
        async with store.engine.begin() as conn:
            await conn.execute(devices_table.insert(), rows)
        await store.close()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            env = dict(os.environ, NIGHTWATCH_DISPATCH_KEY_SEALING_KEY=self.sealing_key.hex(), **self.env)
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=env)

    async def ready(self, http: httpx.AsyncClient) -> None:
        assert self.proc is not None
        await until_healthy(http, self.proc, lambda: f"dispatch exited: {self.log_path.read_text()[-2000:]}")

    async def staff(self, http: httpx.AsyncClient) -> None:
        op = {"Authorization": f"Bearer {OPERATOR}"}
        lat, lon = POSITIONS["gw-a"]
        for i, (token, rid) in enumerate(self.responders.items()):
            r = await http.put(f"/api/v1/responders/{rid}", json={"name": f"Responder {i}"}, headers=op)
            r.raise_for_status()
            duty = {"on_duty": True, "lat": lat + 0.001 * i, "lon": lon}
            r = await http.put("/api/v1/me/duty", json=duty, headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()

    def stop(self) -> None:
        stop_process(self.proc, 20)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        with contextlib.closing(sqlite3.connect(self.db_path)) as conn:
            row: tuple[Any, ...] = conn.execute(sql, args).fetchone()
            return row


def processed(health: dict[str, Any]) -> int:
    return sum(int(v) for v in health["outcomes"].values())


async def retain_gateway_status(port: int) -> None:
    """Each gateway's retained online status with its position, as a real gateway publishes on connect: the
    service then locates every alarm from its copies."""
    c = await connect(port, f"bench-status-{os.getpid()}")
    for gw in GATEWAYS:
        lat, lon = POSITIONS[gw]
        doc = {"gateway_id": gw, "state": "online", "position": {"lat": lat, "lon": lon}, "radios": ["lora"]}
        c.publish(f"nightwatch/v1/gw/{gw}/status", json.dumps(doc).encode(), qos=1, retain=True)
    await drained(c)
    await c.disconnect()


async def probe_service(port: int, http: httpx.AsyncClient, before: int) -> None:
    """The subscription is live once a probe (a malformed envelope: counted, nothing stored) has an outcome."""
    latest = before

    async def poll() -> None:
        nonlocal latest
        while True:
            latest = processed((await http.get("/healthz")).json())
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll())
    try:
        await probe_peer(port, lambda: latest > before)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
