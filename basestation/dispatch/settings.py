"""The dispatch service's one typed settings object, from the environment (NIGHTWATCH_DISPATCH_*) or arguments."""

import logging
import os
import re
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from basestation.dispatch.io.keystore import key_file

log = logging.getLogger("nightwatch.dispatch")

# 000 after Leiden's area code is no subscriber's number; .invalid is a name that never resolves (RFC 6761).
PATROL_PHONE_PLACEHOLDER = "+31 71 000 0000"
PUBLIC_URL_PLACEHOLDER = "https://nightwatch.invalid"
# Beside the SQLite database by default, else in the working directory; not named after the database, so that
# copying ``nightwatch-dispatch.db*`` for a backup does not put the key beside the keys it seals.
SEALING_KEY_FILE = "nightwatch-sealing.key"
CLIENT_ID_PREFIX = "nightwatch-dispatch"


class DispatchSettings(BaseSettings):
    # A refused value is not repeated in the error: start-up errors end up in logs, and secrets are among them.
    model_config = SettingsConfigDict(env_prefix="NIGHTWATCH_DISPATCH_", extra="forbid", hide_input_in_errors=True)

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # A second, independent broker that every gateway also publishes to (its mqtt_mirror): the service subscribes
    # to both, and the pipeline takes the second copy of each frame for what it is (docs/deploy.md). Same
    # credentials, TLS and client id; downlinks go out through both.
    mqtt_mirror_url: str | None = None
    # The user deploy/mosquitto/nightwatch.acl lets read every gateway's uplinks and nobody else.
    mqtt_username: str | None = "nightwatch-dispatch"
    mqtt_password: str | None = Field(None, repr=False)
    # mqtts:// verifies the broker against this CA bundle (else the system's); client certificate and key optional.
    mqtt_tls_ca: Path | None = None
    mqtt_tls_cert: Path | None = None
    mqtt_tls_key: Path | None = None
    # amqtt (the embedded demo broker) speaks only 3.1.1. Acknowledgements wait for the commit in both versions;
    # replicas need 5 for the shared subscription.
    mqtt_protocol: Literal[4, 5] = 5
    # Empty: nightwatch-dispatch-<host name>-<HTTP port> (default_client_id), distinct for every replica, since
    # replicas on one machine cannot share a port, and the same across restarts: the session, and the uplinks it
    # holds while the service is down, are the client id's.
    mqtt_client_id: str = ""
    # Liveness (docs/mqtt.md, "The dispatch service's link"): a PINGREQ every half keepalive, and a connection
    # from which nothing has come for factor x keepalive is taken for dead and made again. A broker's Server Keep
    # Alive replaces the keepalive. A black-holing middlebox keeps both kernels content: only this notices.
    mqtt_keepalive_s: int = Field(30, ge=1, le=65535)
    mqtt_keepalive_factor: float = Field(1.5, ge=1.0, le=4.0)
    # TCP connect, TLS handshake and CONNACK together; the subscription's SUBACK gets as long again.
    mqtt_connect_timeout_s: float = Field(10.0, gt=0, le=300)
    # Reconnecting: the first delay after a healthy connection, doubled at each failure up to the cap, each
    # drawn between half and all of it so that replicas and restarts spread out.
    mqtt_reconnect_initial_s: float = Field(0.1, gt=0, le=60)
    mqtt_reconnect_max_s: float = Field(5.0, gt=0, le=600)
    # Replicas on one PostgreSQL coordinate through it (cluster.py); None means: when the database is PostgreSQL.
    cluster: bool | None = None
    shared_group: str | None = None  # e.g. "dispatch": replicas split uplinks through $share/dispatch/...
    database_url: str = "sqlite+aiosqlite:///nightwatch-dispatch.db"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    # Both set: the API, the web app and the stream are served over HTTPS only (docs/tls.md).
    https_cert: Path | None = None
    https_key: Path | None = None
    # token -> "operator[:<name>]" | "responder:<id>" | "provisioning", each optionally ";expires=<ISO 8601 time>"
    # (auth.py); an operator's name is what the audit trail shows, of a hand-over to 112 say
    tokens: dict[str, str] = Field(default_factory=dict, repr=False)
    # Seals device root keys in the database (AES-256-GCM); 64 hex digits. Without it, the key in
    # ``key_sealing_key_file`` (made on first start, mode 0600; default: nightwatch-sealing.key beside the SQLite
    # database, else in the working directory). Only ``insecure_unsealed_keys`` stores keys as given.
    key_sealing_key: SecretStr | None = None
    key_sealing_key_file: Path | None = None
    insecure_unsealed_keys: bool = False

    # Signed webhooks: every incident change to each of ``webhooks``; escalations also to the monitoring centre.
    webhooks: list[dict[str, str]] = Field(default_factory=list, repr=False)  # [{"url": ..., "secret": ...}]
    escalation_webhook: dict[str, str] | None = Field(None, repr=False)
    # The telephony and SMS hook (hook_api.py, docs/hooks.md): requests signed with any of these are taken. More
    # than one while a secret is rotated; none: the hook is off and answers 404.
    hook_secrets: list[SecretStr] = Field(default_factory=list)
    # Web Push: the VAPID private key (PEM) and the contact the push services may reach.
    vapid_private_key: str | None = Field(None, repr=False)
    vapid_subject: str = "mailto:operators@nightwatch.invalid"

    # Map tiles for the web app, e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png" or a self-hosted server.
    # None: no tiles, the map draws the shipped outline of Leiden's centre and works with no internet at all.
    map_tile_url: str | None = None

    # Public contact details printed on every wearer's card (card.py). The defaults are placeholders to be
    # replaced before cards go out: a card printed with either is marked SAMPLE, so it is never handed out by
    # mistake. public_url is where people reach the service from outside; its /walk page is the QR code's target.
    patrol_phone: str = Field(PATROL_PHONE_PLACEHOLDER, pattern=r"^\+?[0-9][0-9 ()-]{2,30}$")
    public_url: str = PUBLIC_URL_PLACEHOLDER
    # The public walk-me-home page (walk.py, docs/walk.md): open during these hours on ``timezone``'s wall clock
    # (the patrol's; "" for always) unless an operator opens or closes it. Requests per number and per network
    # address in an hour; a national number (one leading 0) is read with this country code.
    walk_hours: str = Field("01:00-05:00", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
    walk_per_phone_hour: int = Field(3, ge=1, le=100)
    walk_per_address_hour: int = Field(10, ge=1, le=1000)
    phone_country_code: str = Field("31", pattern=r"^[1-9][0-9]{0,2}$")

    cancel_window_s: float = Field(120.0, gt=0)
    offer_timeout_s: float = Field(30.0, gt=0)
    broadcast_after_s: float = Field(90.0, gt=0)
    broadcast_radius_m: float = Field(2000.0, gt=0)
    escalate_after_s: float = Field(180.0, gt=0)
    # Responders' shifts ("01:00-05:00") are read on this zone's wall clock, summer time included (IANA name).
    timezone: str = "Europe/Amsterdam"
    tick_s: float = Field(1.0, gt=0)
    # Deadlines (offer timeouts, broadcast, escalation) are met by a pass that runs when the earliest falls due,
    # at least this long after the pass before: deadlines falling within it are met together (clock.py,
    # DeadlineClock.set; actions.deadline_slices).
    deadline_gap_ms: float = Field(10.0, ge=0, le=1000)
    recovery_every_s: float = Field(5.0, gt=0)
    retention_days: float = Field(30.0, gt=0)
    purge_every_s: float = Field(3600.0, gt=0)
    # The SQLite commit thread's niceness (Linux): 0 is the event loop's own priority. See write_thread.py.
    writer_nice: int = Field(5, ge=0, le=19)
    # How long an idle writer waits for more records before it commits. See writer.py.
    commit_delay_ms: float = Field(1.0, ge=0, le=50)

    # The sealing key once read or made: the file is read once, however often the key is asked for.
    _sealing_memo: tuple[Path | None, bytes] | None = PrivateAttr(None)

    @field_validator("mqtt_url", "mqtt_mirror_url")
    @classmethod
    def _mqtt_url(cls, v: str | None) -> str | None:
        u = urlparse(v or "mqtt://host")
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise ValueError("an MQTT URL must look like mqtt://host:port or mqtts://host:port")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment:
            raise ValueError("public_url must look like https://host[/path], with no query or fragment")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (KeyError, ValueError, OSError):  # not found, not a key, a directory of zones
            raise ValueError(
                f"timezone: no time zone {v!r}; give an IANA name such as Europe/Amsterdam"
                " (on a system without /usr/share/zoneinfo, install the tzdata package)"
            ) from None
        return v

    @field_validator("tokens", mode="before")
    @classmethod
    def _grants_are_text(cls, v: object) -> object:
        # Checked before pydantic would, whose error names a dict's key, and a token is the key.
        if isinstance(v, dict) and not all(isinstance(k, str) and isinstance(g, str) for k, g in v.items()):
            raise ValueError("tokens: each token and its grant are strings, token -> grant")
        return v

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        for i, hook in enumerate(v):
            _check_hook(hook, f"webhooks[{i}]")
        return v

    @field_validator("escalation_webhook")
    @classmethod
    def _escalation(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is not None:
            _check_hook(v, "escalation_webhook")
        return v

    @field_validator("hook_secrets")
    @classmethod
    def _hook_secrets(cls, v: list[SecretStr]) -> list[SecretStr]:
        for i, secret in enumerate(v):
            # The position, never the secret (see hide_input_in_errors).
            if len(secret.get_secret_value()) < 16:
                raise ValueError(f"hook_secrets[{i}]: a hook secret needs at least 16 characters")
        return v

    @field_validator("key_sealing_key")
    @classmethod
    def _sealing(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", v.get_secret_value()):
            raise ValueError("key_sealing_key must be 64 hex digits")
        return v

    @model_validator(mode="after")
    def _credentials_out_of_urls(self) -> "DispatchSettings":
        # mqtt://user:password@host works, but the URL is shown (/healthz, the board's gateway links): the
        # credentials move to their own settings and the URL keeps only where the broker is.
        for name in ("mqtt_url", "mqtt_mirror_url"):
            url = getattr(self, name)
            u = urlparse(url) if url else None
            if u is None or "@" not in u.netloc:
                continue
            user, _, password = u.netloc.rpartition("@")[0].partition(":")
            if user:
                self.mqtt_username = unquote(user)
            if password:
                self.mqtt_password = unquote(password)
            setattr(self, name, u._replace(netloc=u.netloc.rpartition("@")[2]).geturl())
        return self

    @model_validator(mode="after")
    def _client_id(self) -> "DispatchSettings":
        if not self.mqtt_client_id:
            self.mqtt_client_id = default_client_id(self.http_port)
        return self

    @model_validator(mode="after")
    def _unsealed(self) -> "DispatchSettings":
        if self.insecure_unsealed_keys and self.key_sealing_key is not None:
            raise ValueError("insecure_unsealed_keys contradicts key_sealing_key")
        return self

    @model_validator(mode="after")
    def _pairs(self) -> "DispatchSettings":
        if (self.https_cert is None) != (self.https_key is None):
            raise ValueError("https_cert and https_key go together")
        if (self.mqtt_tls_cert is None) != (self.mqtt_tls_key is None):
            raise ValueError("mqtt_tls_cert and mqtt_tls_key go together")
        if self.mqtt_reconnect_max_s < self.mqtt_reconnect_initial_s:
            raise ValueError("mqtt_reconnect_max_s must not be below mqtt_reconnect_initial_s")
        if self.mqtt_mirror_url is not None and urlparse(self.mqtt_mirror_url).scheme != urlparse(self.mqtt_url).scheme:
            raise ValueError("mqtt_url and mqtt_mirror_url take the same scheme: one TLS setting serves both")
        if self.mqtt_tls_ca is not None and not self.mqtt_tls:
            # A CA file with mqtt:// would suggest a verified link that is in fact plain text.
            raise ValueError("mqtt_tls_ca needs an mqtts:// mqtt_url")
        return self

    def brokers(self) -> list["DispatchSettings"]:
        """One settings object per broker to subscribe to: this one, and the mirror's when there is one."""
        if self.mqtt_mirror_url is None:
            return [self]
        return [self, self.model_copy(update={"mqtt_url": self.mqtt_mirror_url, "mqtt_mirror_url": None})]

    def sealing_key(self) -> bytes | None:
        """The key that seals device keys: the setting, else the key file's (made on first use), None only when
        ``insecure_unsealed_keys``. Raises KeyStoreError for a file that cannot be used."""
        if self.key_sealing_key is not None:
            return bytes.fromhex(self.key_sealing_key.get_secret_value())
        if self.insecure_unsealed_keys:
            return None
        path = self.sealing_key_path()
        # Keyed by the file: a copy of these settings (model_copy) pointed at another file reads that one.
        if self._sealing_memo is None or self._sealing_memo[0] != path:
            if path is None:
                # A database in memory ends with the process, and its keys with it: a key of the moment seals
                # them, and no file is left behind.
                self._sealing_memo = (None, os.urandom(32))
            else:
                key, made = key_file(path)
                self._sealing_memo = (path, key)
                if made:
                    log.warning(
                        "made the sealing key %s (mode 0600): back it up apart from the database; without it no"
                        " ring's key opens",
                        path,
                    )
        return self._sealing_memo[1]

    def sealing_key_path(self) -> Path | None:
        """Where the sealing key is kept; None for a SQLite database in memory, whose keys need no file."""
        if self.key_sealing_key_file is not None:
            return self.key_sealing_key_file
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
                return None
            return Path(url.database).parent / SEALING_KEY_FILE
        return Path(SEALING_KEY_FILE)

    @property
    def mqtt_host(self) -> str:
        return urlparse(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        u = urlparse(self.mqtt_url)
        return u.port or (8883 if u.scheme == "mqtts" else 1883)

    @property
    def mqtt_tls(self) -> bool:
        return urlparse(self.mqtt_url).scheme == "mqtts"


def default_client_id(http_port: int) -> str:
    """nightwatch-dispatch-<host>-<HTTP port>: the host name's first label, in the characters every broker takes."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:40].strip("-") or "host"
    return f"{CLIENT_ID_PREFIX}-{host}-{http_port}"


def _check_hook(hook: dict[str, str], where: str) -> None:
    # Which webhook and what is wrong, never the URL: a receiver's URL often carries its own token.
    url = hook.get("url", "")
    try:
        u = urlparse(url)
        u.port  # noqa: B018 -- parsing the port is what raises for one that is not a number
        ok = u.scheme in ("http", "https") and bool(u.hostname) and not any(c.isspace() for c in url)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{where}: the url must be an http(s) URL with a host (and a numeric port, if any)")
    if len(hook.get("secret", "")) < 16:
        raise ValueError(f"{where}: a webhook needs a secret of at least 16 characters")
