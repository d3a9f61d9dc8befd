"""Simulated responders and operators on the dispatch service's public API: each responder's phone holds the live
stream (GET /api/v1/stream, server-sent events) with its own token, accepts what is offered to it (POST .../accept)
and, back from the scene, resolves it; the operators' board holds the same stream with the operator token.

An incident arriving on a responder's stream is "on the responder's screen": the end of the latency budget.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from simulator.realtime.clock import WallClock
from simulator.realtime.services import Tokens

OnPush = Callable[[str, float, dict[str, Any]], None]  # (responder id or "operator", arrival ms, incident)


class Responders:
    def __init__(self, clock: WallClock, http: httpx.AsyncClient, tokens: Tokens) -> None:
        self.clock = clock
        self.http = http
        self.tokens = tokens
        self.on_push: OnPush = lambda _who, _t, _inc: None  # set by whoever reads the screens
        self._tasks: list[asyncio.Task[None]] = []
        self._open: dict[str, asyncio.Event] = {}

    def _auth(self, who: str) -> dict[str, str]:
        token = self.tokens.operator if who == "operator" else self.tokens.responders[who]
        return {"Authorization": f"Bearer {token}"}

    async def enlist(self, people: list[tuple[str, str, str, list[str], float, float]]) -> dict[str, str]:
        """The operators add each of ``people`` at run time (POST /api/v1/accounts), as a city adds its volunteers;
        each one's token is kept for their phone. Returns each one's sign-in link, by responder id."""
        op = self._auth("operator")
        links = {}
        for rid, name, lang, skills, _lat, _lon in people:
            body = {"role": "responder", "name": name, "responder_id": rid, "language": lang, "skills": skills}
            r = await self.http.post("/api/v1/accounts", json=body, headers=op)
            r.raise_for_status()
            self.tokens.responders[rid] = r.json()["token"]
            links[rid] = r.json()["link"]
        return links

    async def staff(self, people: list[tuple[str, str, str, list[str], float, float]]) -> None:
        """(id, name, language, skills, lat, lon) each: registered by the operators, then on duty on their phone."""
        op = self._auth("operator")
        for rid, name, lang, skills, lat, lon in people:
            body = {"name": name, "language": lang, "skills": skills}
            (await self.http.put(f"/api/v1/responders/{rid}", json=body, headers=op)).raise_for_status()
            duty = {"on_duty": True, "lat": lat, "lon": lon}
            (await self.http.put("/api/v1/me/duty", json=duty, headers=self._auth(rid))).raise_for_status()

    async def off_shift(self, people: list[tuple[str, str, str, list[str], float, float]], timezone: str) -> None:
        """The operators mark the night patrol's shift as over: each responder with the ``patrol`` skill gets a shift
        that leaves out the next ten minutes of the service's wall clock, so dispatch finds nobody for an escort."""
        now = datetime.now(ZoneInfo(timezone)).replace(second=0, microsecond=0)
        shift = f"{now + timedelta(minutes=10):%H:%M}-{now:%H:%M}"
        op = self._auth("operator")
        for rid, name, lang, skills, _lat, _lon in people:
            if "patrol" in skills:
                body = {"name": name, "language": lang, "skills": skills, "shift": shift}
                (await self.http.put(f"/api/v1/responders/{rid}", json=body, headers=op)).raise_for_status()

    async def incident_logs(self, device_ids: set[int]) -> dict[str, list[dict[str, Any]]]:
        """Each incident of ``device_ids`` and its log, as dispatch committed it (the operators' view)."""
        op = self._auth("operator")
        listed = (await self.http.get("/api/v1/incidents", headers=op)).json()
        out = {}
        for doc in listed:
            if int(doc["device_id"]) in device_ids:
                view = (await self.http.get(f"/api/v1/incidents/{doc['id']}", headers=op)).json()
                out[str(doc["id"])] = list(view.get("events", []))
        return out

    async def provision(self, devices: list[tuple[int, bytes]]) -> None:
        prov = {"Authorization": f"Bearer {self.tokens.provisioner}"}
        for device_id, root in devices:
            body = {"device_id": device_id, "root_key": root.hex()}
            (await self.http.post("/api/v1/devices", json=body, headers=prov)).raise_for_status()

    async def listen(self, who: list[str]) -> None:
        """Open the live stream of each of ``who`` ("operator" or a responder id); returns once all are open."""
        for w in who:
            self._open[w] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._stream(w)))
        await asyncio.wait_for(asyncio.gather(*(self._open[w].wait() for w in who)), 15)
        # The service subscribes a stream to its bus once the response starts: wait until it counts them all.
        deadline = time.monotonic() + 10
        while (await self.http.get("/healthz")).json().get("stream_subscribers", 0) < len(self._open):
            if time.monotonic() > deadline:
                raise TimeoutError("live streams not subscribed")
            await asyncio.sleep(0.02)

    async def _stream(self, who: str) -> None:
        timeout = httpx.Timeout(10, read=None)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                async with self.http.stream("GET", "/api/v1/stream", headers=self._auth(who), timeout=timeout) as r:
                    r.raise_for_status()
                    self._open[who].set()
                    event = ""
                    async for line in r.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "incident":
                            t = self.clock.ms()
                            self.on_push(who, t, json.loads(line[5:]))
            await asyncio.sleep(0.2)  # the stream ended (service restarting): reconnect, as a phone does

    async def accept(self, incident_id: str, rid: str, eta_min: int = 4) -> bool:
        r = await self.http.post(
            f"/api/v1/incidents/{incident_id}/accept", json={"eta_min": eta_min}, headers=self._auth(rid)
        )
        return r.status_code == 200

    async def resolve(self, incident_id: str, rid: str) -> bool:
        r = await self.http.post(f"/api/v1/incidents/{incident_id}/resolve", json={}, headers=self._auth(rid))
        return r.status_code == 200

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
