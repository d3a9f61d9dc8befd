"""The gateway's one typed settings object: command line first, then NIGHTWATCH_GATEWAY_* variables."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TEST_COMPANY_ID = 0xFFFF  # reserved by the Bluetooth SIG for tests; a deployment sets its own


class Endpoint:
    """host and port parsed from ``HOST:PORT`` or ``[V6]:PORT``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", text.strip())
        if m is None:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        host = m.group(1) or m.group(3)
        port = int(m.group(2) or m.group(4))
        if not 0 <= port <= 65535:
            raise ValueError("port out of range")
        return cls(host, port)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """One broker the gateway publishes to: ``primary`` (``mqtt``) or ``mirror`` (``mqtt_mirror``)."""

    name: str
    host: str
    port: int
    tls: bool


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIGHTWATCH_GATEWAY_", extra="ignore")

    # Part of every topic name: no MQTT wildcards or separators in it.
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt: str = "mqtt://127.0.0.1:1883"
    # A second, independent broker that gets every frame too, from its own spool (docs/gateway.md, "Mirror
    # broker"). Credentials and TLS settings are the same for both.
    mqtt_mirror: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    mqtt_inflight: int = Field(default=64, ge=1, le=1000)

    ble: bool = False
    ble_company_id: int = Field(default=TEST_COMPANY_ID, ge=0, le=0xFFFF)
    ble_adapter: str | None = None
    ble_passive: bool = True

    semtech_udp: str | None = None
    # Where key rings listen for ACKs (firmware/config.py rx_freq_hz, rx_sf).
    downlink_freq_mhz: float = Field(default=869.525, gt=0)
    downlink_datr: str = Field(default="SF9BW125", pattern=r"^SF\d{1,2}BW\d{3}$")
    downlink_power_dbm: int = Field(default=14, ge=0, le=30)

    position: str | None = None
    spool: Path = Path("/var/lib/nightwatch/gateway/spool.sqlite3")
    spool_max_frames: int = Field(default=100_000, ge=1)
    spool_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    dedupe_window_s: float = Field(default=5.0, ge=0, le=300)
    stats_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("mqtt", "mqtt_mirror")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("MQTT URL must look like mqtt://host:port or mqtts://host:port")
        _ = parts.port  # raises ValueError on a bad port
        if parts.username or parts.password:
            # A URL ends up in process lists and logs; credentials go in USERNAME and PASSWORD.
            raise ValueError("no credentials in the MQTT URL; use the username and password settings")
        return value

    @field_validator("semtech_udp")
    @classmethod
    def _check_udp(cls, value: str | None) -> str | None:
        if value is not None:
            Endpoint.parse(value)
        return value

    @field_validator("position")
    @classmethod
    def _check_position(cls, value: str | None) -> str | None:
        if value is not None:
            parse_position(value)
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> "GatewaySettings":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @model_validator(mode="after")
    def _check_mirror(self) -> "GatewaySettings":
        if self.mqtt_mirror is not None:
            primary, mirror = self.brokers
            if (primary.host, primary.port) == (mirror.host, mirror.port):
                # One broker twice is no mirror: its restart would still stop both paths.
                raise ValueError("mqtt_mirror must be another broker than mqtt")
        return self

    @property
    def brokers(self) -> list[BrokerAddress]:
        """The primary broker, then the mirror if there is one."""
        urls = [("primary", self.mqtt)] + ([] if self.mqtt_mirror is None else [("mirror", self.mqtt_mirror)])
        return [self._address(name, url) for name, url in urls]

    def _address(self, name: str, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        assert parts.hostname is not None
        tls = parts.scheme == "mqtts" or self.tls_ca is not None
        return BrokerAddress(name, parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883), tls)

    @property
    def mirror_spool(self) -> Path:
        """The mirror broker's own spool, beside the primary's: ``spool.sqlite3`` gives ``spool.mirror.sqlite3``."""
        return self.spool.with_name(f"{self.spool.stem}.mirror{self.spool.suffix}")

    @property
    def mqtt_host(self) -> str:
        return self.brokers[0].host

    @property
    def mqtt_tls(self) -> bool:
        return self.brokers[0].tls

    @property
    def mqtt_port(self) -> int:
        return self.brokers[0].port

    @property
    def udp_endpoint(self) -> Endpoint | None:
        return None if self.semtech_udp is None else Endpoint.parse(self.semtech_udp)

    @property
    def lat_lon(self) -> tuple[float, float] | None:
        return None if self.position is None else parse_position(self.position)


def parse_position(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ValueError(f"expected LAT,LON in degrees, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("latitude or longitude out of range")
    return lat, lon
