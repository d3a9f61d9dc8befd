"""The gateway over TLS (mqtts://, a private CA) to a real Mosquitto listener."""

import datetime
import ipaddress
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from basestation.gateway import topics
from harness.forwarder import Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.mosquitto import MosquittoBroker, mosquitto_binary
from harness.ports import free_port
from harness.recorder import Recorder


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_gateway_publishes_over_tls(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("needs mosquitto")
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("nightwatch test CA", ca_key, "nightwatch test CA", ca_key, ca=True)
    srv = _cert("broker", srv_key, "nightwatch test CA", ca_key, ca=False)
    ca_pem = _pem(tmp_path / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    srv_pem = _pem(tmp_path / "srv.crt", srv.public_bytes(serialization.Encoding.PEM))
    key_pem = _pem(
        tmp_path / "srv.key",
        srv_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    tls_port = free_port()
    extra = f"listener {tls_port} 127.0.0.1\ncafile {ca_pem}\ncertfile {srv_pem}\nkeyfile {key_pem}\n"
    udp = free_port(kind=2)
    (frame,) = frames(1)
    settings = settings_for(tmp_path, tls_port, udp, mqtt=f"mqtts://127.0.0.1:{tls_port}", tls_ca=ca_pem)
    assert settings.mqtt_tls
    # The recorder listens on the plain listener of the same broker.
    with (
        MosquittoBroker(tmp_path / "broker", binary, extra_conf=extra) as broker,
        Recorder(broker, [topics.uplink("gw-test")]) as rec,
        GatewayThread(settings) as gw,
    ):
        fwd = Forwarder(udp)
        fwd.wait_ready()
        fwd.push([rxpk(frame)])
        assert rec.wait_for(lambda r: len(r.payloads(topics.uplink("gw-test"))) == 1, 10)
        assert json.loads(rec.payloads(topics.uplink("gw-test"))[0])["frame"] == frame.hex()
        assert gw.relay is not None and gw.relay.sink is not None and gw.relay.sink.nodelay is True
        fwd.close()


def test_gateway_refuses_a_broker_its_ca_did_not_sign(tmp_path: Path) -> None:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("needs mosquitto")
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    srv = _cert("broker", key, "broker", key, ca=False)  # self-signed
    foreign_ca = _cert("someone else", other, "someone else", other, ca=True)
    srv_pem = _pem(tmp_path / "srv.crt", srv.public_bytes(serialization.Encoding.PEM))
    key_pem = _pem(
        tmp_path / "srv.key",
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    ca_pem = _pem(tmp_path / "ca.crt", foreign_ca.public_bytes(serialization.Encoding.PEM))
    tls_port = free_port()
    extra = f"listener {tls_port} 127.0.0.1\ncertfile {srv_pem}\nkeyfile {key_pem}\n"
    udp = free_port(kind=2)
    settings = settings_for(tmp_path, tls_port, udp, mqtt=f"mqtts://127.0.0.1:{tls_port}", tls_ca=ca_pem)
    with MosquittoBroker(tmp_path / "broker", binary, extra_conf=extra), GatewayThread(settings) as gw:
        fwd = Forwarder(udp)
        fwd.wait_ready()
        fwd.push([rxpk(frames(1)[0])])
        fwd.pull()
        # The handshake fails, so the frame stays spooled rather than going to an unverified broker.
        assert gw.wait_until(lambda r: r.sink is not None and r.sink.connect_failures >= 1, 10)
        assert gw.relay is not None and gw.relay.sink is not None
        assert not gw.relay.sink.connected.is_set()
        assert gw.call(lambda: gw.relay.spool.depth if gw.relay else -1) == 1
        fwd.close()
