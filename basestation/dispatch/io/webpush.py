"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), to responders' phones.

Encryption comes from pywebpush, signing from py_vapid; the POST is ours (httpx, on the event loop), so a slow
push service never blocks the dispatch path.
"""

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from py_vapid import Vapid02 as Vapid
from pywebpush import WebPusher


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class WebPush:
    def __init__(self, private_key_pem: str, subject: str, http: httpx.AsyncClient) -> None:
        self.vapid = Vapid.from_pem(private_key_pem.encode())
        self.subject = subject
        self.http = http

    def public_key(self) -> str:
        """The application server key a browser passes to pushManager.subscribe (base64url, uncompressed point)."""
        import base64

        from cryptography.hazmat.primitives import serialization

        raw = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    async def send(self, sub: Subscription, payload: dict[str, Any], ttl_s: int = 300) -> int:
        """Send one push; returns the push service's HTTP status (201 means accepted for delivery)."""
        body = WebPusher(sub.info()).encode(json.dumps(payload).encode(), "aes128gcm")["body"]
        u = urlparse(sub.endpoint)
        claims = {"sub": self.subject, "aud": f"{u.scheme}://{u.netloc}", "exp": int(time.time()) + 12 * 3600}
        headers = {
            **self.vapid.sign(claims),
            "Content-Encoding": "aes128gcm",
            "TTL": str(ttl_s),
            "Urgency": "high",  # an alarm: push services wake the phone at once
        }
        r = await self.http.post(sub.endpoint, content=body, headers=headers)
        return r.status_code
