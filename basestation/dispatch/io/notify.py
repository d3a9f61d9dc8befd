"""Pushes that must arrive: Web Push to the responders an incident is offered to, and signed webhooks.

The notifier follows the live stream like any dashboard. Each delivery is a job retried with backoff until it
is acknowledged: a webhook by a 2xx answer; a responder's push by the responder (accepted, declined or marked
seen), or made moot when the incident escalates or ends. Nothing here slows the pipeline: jobs run beside it.
"""

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from basestation.dispatch import redact
from basestation.dispatch.core import handover
from basestation.dispatch.core.messages import incident_text
from basestation.dispatch.io import webhook
from basestation.dispatch.io.webpush import Subscription, WebPush
from basestation.dispatch.service import Dispatcher

log = logging.getLogger("nightwatch.dispatch.notify")
# Here because every service imports this module (through api.py), the CLI's, the demo's and the tests' alike.
# Delivery failures are logged below instead, with the URL cut down to its host.
redact.quiet_chatty_libraries()

BACKOFF_S = (0.0, 2.0, 5.0, 10.0, 20.0, 30.0)
WEBHOOK_GIVE_UP_S = 3600.0
EVENT_HANDOVER = "handover_112"  # the monitoring centre's webhook event for an operator's hand-over to 112


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    secret: bytes


@dataclass(order=True, slots=True)
class Job:
    due: float
    seq: int
    channel: str = field(compare=False)  # "webhook" or "webpush"
    incident_id: str = field(compare=False)
    target: WebhookTarget | Subscription = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    responder_id: str | None = field(default=None, compare=False)
    attempt: int = field(default=0, compare=False)
    first: float = field(default=0.0, compare=False)


class Notifier:
    def __init__(
        self,
        dispatcher: Dispatcher,
        http: httpx.AsyncClient,
        webhooks: list[WebhookTarget] | None = None,
        escalation: WebhookTarget | None = None,
        push: WebPush | None = None,
    ) -> None:
        self.d = dispatcher
        self.http = http
        self.webhooks = webhooks or []
        self.escalation = escalation
        self.push = push
        self.subscriptions: dict[str, list[Subscription]] = {}
        self.seen: set[tuple[str, str]] = set()
        self._offered: set[tuple[str, str]] = set()
        self._duress_told: set[tuple[str, str]] = set()
        self._escalated: set[str] = set()
        self._jobs: list[Job] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self.backoff_s = BACKOFF_S
        self.sent = {"webhook": 0, "webpush": 0}
        self.failed = {"webhook": 0, "webpush": 0}
        self.given_up = 0

    @property
    def pending(self) -> int:
        return len(self._jobs)

    def subscribe(self, responder_id: str, sub: Subscription) -> None:
        subs = self.subscriptions.setdefault(responder_id, [])
        if sub not in subs:
            subs.append(sub)

    async def run(self) -> None:
        await asyncio.gather(self._follow(), self._work())

    # -- what to send --------------------------------------------------------------------------------------

    async def _follow(self) -> None:
        async for msg in self.d.bus.stream():
            if msg.topic == "incident":
                self.on_incident(msg.data)

    def on_incident(self, inc: dict[str, Any]) -> None:
        text = incident_text(inc)
        for target in self.webhooks:
            self._add("webhook", inc["id"], target, {"event": "incident", "data": inc})
        # The monitoring centre takes emergencies (a duress always is one); an escort nobody took is the
        # operators' to sort out.
        emergency = inc["kind"] == "sos" or inc.get("forced", False)
        if self.escalation is not None and emergency and inc["escalation"] >= 2 and inc["id"] not in self._escalated:
            self._escalated.add(inc["id"])
            # With the script an operator would read out, so that the centre can hand over to 112 at once.
            script = self._script(inc)
            data = {**inc, "text": text, "handover": script}
            self._add("webhook", inc["id"], self.escalation, {"event": "escalation", "data": data})
        if self.push is None:
            return
        if inc.get("forced") and inc["state"] not in ("resolved", "cancelled"):
            self._duress(inc, text)
        if inc["state"] not in ("open", "offered", "escalated"):
            return
        self._push_once(inc, inc["offered_to"], self._offered, _alert("offer", inc, inc["forced"], text))

    def _script(self, inc: dict[str, Any]) -> dict[str, Any]:
        names = {r.id: r.name for r in self.d.state.responders.values()}
        return handover.build(inc, names, self.d.settings.timezone, time.time_ns() // 1_000_000).to_dict()

    def hand_over(self, incident_id: str, data: dict[str, Any]) -> bool:
        """An operator handed the incident over to 112: the monitoring centre gets the same script and fields, each
        time it is handed over (the incident may have changed since). False when there is no monitoring centre."""
        if self.escalation is None:
            return False
        self._add("webhook", incident_id, self.escalation, {"event": EVENT_HANDOVER, "data": data})
        return True

    def _duress(self, inc: dict[str, Any], text: dict[str, dict[str, str]]) -> None:
        """Everyone offered the alarm or on the way to it learns that the wearer was forced to cancel it: the one
        on the way above all, who must not stand down."""
        declined = set(inc["declined_by"])
        rids = dict.fromkeys((*inc["accepted_by"], *(r for r in inc["offered_to"] if r not in declined)))
        self._push_once(inc, rids, self._duress_told, _alert("duress", inc, True, text))

    def _push_once(
        self, inc: dict[str, Any], rids: Iterable[str], told: set[tuple[str, str]], payload: dict[str, Any]
    ) -> None:
        """``payload`` to every browser of each responder in ``rids`` not yet ``told`` of ``inc`` this way."""
        for rid in rids:
            if (inc["id"], rid) in told:
                continue
            told.add((inc["id"], rid))
            for sub in self.subscriptions.get(rid, []):
                self._add("webpush", inc["id"], sub, payload, rid)

    def _add(
        self, channel: str, incident_id: str, target: Any, payload: dict[str, Any], rid: str | None = None
    ) -> None:
        now = time.monotonic()
        heapq.heappush(self._jobs, Job(now, next(self._seq), channel, incident_id, target, payload, rid, 0, now))
        self._wake.set()

    def moot(self, job: Job) -> bool:
        """A responder's push stops mattering once they answered or the incident escalated or ended."""
        if job.channel != "webpush":
            return False
        inc = self.d.state.incidents.get(job.incident_id)
        rid = job.responder_id or ""
        if rid in self.d.state.former:
            return True  # removed from the patrol meanwhile (registry_api.py): nothing is theirs any more
        if job.payload.get("type") == "duress":
            return inc is None or not inc.active  # retried until delivered while the incident lasts
        return (
            inc is None
            or not inc.active
            or inc.escalation >= 2
            or rid in inc.accepted_by
            or rid in inc.declined_by
            or (job.incident_id, rid) in self.seen
        )

    # -- sending -------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._jobs[0].due - time.monotonic()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            job = heapq.heappop(self._jobs)
            if self.moot(job):
                continue
            # Each delivery runs on its own, so one slow receiver never holds up the others.
            task = asyncio.create_task(self._deliver(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _deliver(self, job: Job) -> None:
        try:
            ok = await (self._hook(job) if job.channel == "webhook" else self._push(job))
        except Exception as e:
            # Whatever the failure, the job is retried, and logged here rather than by asyncio's "exception never
            # retrieved" with its traceback. Its text may quote the URL (httpx's "Invalid port: ..." quotes most
            # of a bad one), hence redact.
            target, secrets = _where(job.target)
            log.warning(
                "%s delivery for %s to %s failed: %s",
                job.channel,
                job.incident_id,
                target,
                redact.error(e, *secrets),
            )
            ok = False
        if ok:
            self.sent[job.channel] += 1
            return
        self.failed[job.channel] += 1
        if job.channel == "webhook" and time.monotonic() - job.first > WEBHOOK_GIVE_UP_S:
            self.given_up += 1
            log.error("webhook to %s gave up on %s after an hour", _where(job.target)[0], job.incident_id)
            return
        job.attempt += 1
        job.due = time.monotonic() + self.backoff_s[min(job.attempt, len(self.backoff_s) - 1)]
        heapq.heappush(self._jobs, job)
        self._wake.set()

    async def _hook(self, job: Job) -> bool:
        assert isinstance(job.target, WebhookTarget)
        body = webhook.body(job.payload["event"], job.payload["data"])
        sig = webhook.sign(job.target.secret, body)
        r = await self.http.post(
            job.target.url,
            content=body,
            headers={"Content-Type": "application/json", webhook.SIGNATURE_HEADER: sig},
        )
        return 200 <= r.status_code < 300

    async def _push(self, job: Job) -> bool:
        assert self.push is not None and isinstance(job.target, Subscription)
        status = await self.push.send(job.target, job.payload)
        if status in (404, 410):
            # The browser dropped this subscription: forget it rather than retry forever.
            subs = self.subscriptions.get(job.responder_id or "", [])
            if job.target in subs:
                subs.remove(job.target)
            return True
        return 200 <= status < 300


def _alert(kind: str, inc: dict[str, Any], forced: bool, text: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A responder's push about ``inc``: ``kind`` is "offer" or "duress"."""
    return {
        "type": kind,
        "incident": inc["id"],
        "kind": inc["kind"],
        "forced": forced,
        "location": inc["location"],
        "press_ms": inc["press_ms"],
        "text": text,
    }


def _where(target: WebhookTarget | Subscription) -> tuple[str, list[str]]:
    """A target as it may be logged, and what of it must not be."""
    if isinstance(target, WebhookTarget):
        return redact.url(target.url), [*redact.hidden(target.url), target.secret.decode(errors="replace")]
    return redact.url(target.endpoint), [*redact.hidden(target.endpoint), target.auth, target.p256dh]
