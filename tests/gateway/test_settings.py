from pathlib import Path

import pytest
from pydantic import ValidationError

from basestation.gateway.settings import Endpoint, GatewaySettings


def test_environment_fills_what_the_command_line_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTWATCH_GATEWAY_ID", "from-env")
    monkeypatch.setenv("NIGHTWATCH_GATEWAY_MQTT", "mqtts://broker.example:8884")
    monkeypatch.setenv("NIGHTWATCH_GATEWAY_PASSWORD", "s3cret")
    monkeypatch.setenv("NIGHTWATCH_GATEWAY_SPOOL", "/tmp/x.db")
    s = GatewaySettings(id="from-cli")
    assert s.id == "from-cli"
    assert (s.mqtt_host, s.mqtt_port, s.mqtt_tls) == ("broker.example", 8884, True)
    assert s.password is not None and s.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.spool == Path("/tmp/x.db")


def test_defaults_and_parsed_values() -> None:
    s = GatewaySettings(id="gw-1", semtech_udp="0.0.0.0:1700", position="52.16,4.49")
    assert (s.mqtt_port, s.mqtt_tls, s.ble_company_id) == (1883, False, 0xFFFF)
    assert s.udp_endpoint is not None and (s.udp_endpoint.host, s.udp_endpoint.port) == ("0.0.0.0", 1700)
    assert s.lat_lon == (52.16, 4.49)
    v6 = Endpoint.parse("[::1]:1700")
    assert (v6.host, v6.port) == ("::1", 1700)


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "a/b"},
        {"id": "a+"},
        {"id": ""},
        {"mqtt": "http://broker"},
        {"mqtt": "mqtt://broker:99999"},
        {"mqtt": "mqtt://user:secret@broker"},
        {"semtech_udp": "1700"},
        {"semtech_udp": "host:123456"},
        {"position": "52.1"},
        {"position": "95,4"},
        {"tls_cert": "/c.pem"},
        {"dedupe_window_s": -1},
    ],
)
def test_refused_settings(bad: dict[str, object]) -> None:
    values: dict[str, object] = {"id": "gw-1", **bad}
    with pytest.raises(ValidationError):
        GatewaySettings(**values)  # type: ignore[arg-type]
