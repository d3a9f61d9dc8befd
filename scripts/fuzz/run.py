"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that take untrusted bytes, for a bounded time.

    python scripts/fuzz/run.py TARGET SECONDS [WORKDIR]

Targets: ``frame`` (protocol.uplink and protocol.ack decoders, also with a valid MIC over arbitrary contents, as a
stolen key could send), ``envelope`` (the dispatch service's MQTT envelope parser), ``semtech`` (the gateway's
Semtech UDP parser), ``mqtt`` (the dispatch service's MQTT stream reader and packet parsers, fed what a hostile broker
could send). Each input may make a parser raise only its own error type; anything else, a hang (libFuzzer's
``-timeout``) or a crash fails the run with a non-zero exit status and a reproducer in WORKDIR. ``selftest`` is a
deliberately broken target that must fail: proof that a failure would be seen.

Seeds are valid inputs made here, so the fuzzer starts from what gateways really send.
"""

import contextlib
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("frame", "envelope", "semtech", "mqtt", "selftest")
HANG_S = 5  # one input taking longer than this is a hang


def _frame() -> tuple[Callable[[bytes], None], list[bytes]]:
    from protocol import ack, uplink
    from protocol.constants import DIR_UP, EVENT_SOS, UPLINK_MIC_OFFSET, UPLINK_MIC_SIZE
    from protocol.errors import FrameError
    from protocol.keys import DeviceKeys

    keys = DeviceKeys(bytes(range(16)))
    # The compiled decoders are what the service runs; their sources steer the search (``_with_source``).
    uplinks = _with_source(uplink, "protocol.uplink")
    decoders = [m.decode for m in (*uplinks, *_with_source(ack, "protocol.ack"))]

    def one(data: bytes) -> None:
        counter = int.from_bytes(data[:4].ljust(4, b"\0"), "big") or 1
        frame = data[4:]
        for decode in decoders:
            with contextlib.suppress(FrameError):
                decode(keys, frame, counter)
        # The same contents under a MIC that holds: what a stolen key can make the service decrypt and check.
        head = frame[:UPLINK_MIC_OFFSET].ljust(UPLINK_MIC_OFFSET, b"\0")
        sealed = head + keys.mic(DIR_UP, counter, 0, head, UPLINK_MIC_SIZE)
        for module in uplinks:
            with contextlib.suppress(FrameError):
                module.decode(keys, sealed, counter)

    good = uplink.encode(keys, uplink.Uplink(7, 42, EVENT_SOS, 80))
    return one, [(7).to_bytes(4, "big") + good]


def _envelope() -> tuple[Callable[[bytes], None], list[bytes]]:
    from basestation.dispatch.core import envelope

    topics = ["nightwatch/v1/up/gw-1", "nightwatch/v1/up/", "nightwatch/v1/up/gw 1", "nightwatch/v1/down/gw-1"]
    # Each copy of the module has its own EnvelopeError.
    parsers = [(m.parse, m.EnvelopeError) for m in _with_source(envelope, "basestation.dispatch.core.envelope")]

    def one(data: bytes) -> None:
        topic = topics[data[0] % len(topics)] if data else topics[0]
        for parse, error in parsers:
            with contextlib.suppress(error):
                parse(topic, data[1:])

    doc = {"v": 1, "gateway_id": "gw-1", "rx_time_ms": 1, "radio": "lora", "frame": "10" * 24, "rssi": -90.5}
    doc |= {"snr": 7.5, "freq_mhz": 868.1, "datr": "SF9BW125", "tmst": 5, "forwarder": "0016c001ff10a235"}
    return one, [b"\0" + json.dumps(doc).encode()]


def _semtech() -> tuple[Callable[[bytes], None], list[bytes]]:
    from basestation.gateway import semtech

    def one(data: bytes) -> None:
        try:
            pkt = semtech.parse(data)
        except semtech.SemtechError:
            return
        if isinstance(pkt, semtech.PushData):
            for rx in pkt.rxpk:
                semtech.to_record(rx, pkt.eui, 0.0)  # a parsed packet must always become a record

    eui = "0016c001ff10a235"
    seeds = [
        semtech.push_data(1, eui, [semtech.rxpk_entry(bytes(24))]),
        semtech.pull_data(2, eui),
        semtech.tx_ack(3, eui, "COLLISION_PACKET"),
    ]
    return one, seeds


def _instrumented_source(name: str) -> ModuleType:
    """A module loaded from its ``.py`` under another name, instrumented. Compiled by mypyc (nightwatch/native.py),
    a module gives libFuzzer no coverage, and the search is blind: it never keeps an input as interesting."""
    import atheris

    path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"{name}_source", path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    exec(atheris.patch_code(compile(path.read_bytes(), str(path), "exec"), True), module.__dict__)
    return module


def _with_source(module: ModuleType, name: str) -> list[ModuleType]:
    """The module, and its instrumented source when the module is compiled (else it is instrumented itself)."""
    if str(module.__file__).endswith(".so"):
        return [_instrumented_source(name), module]
    return [module]


def _mqtt() -> tuple[Callable[[bytes], None], list[bytes]]:
    """Input: a byte choosing the Reader's size limit, a byte counting the cuts (at most 7), the cuts (chunk sizes),
    then the stream from the broker. Each packet read is parsed as the link does, as MQTT 5 and as 3.1.1."""
    from basestation.dispatch.io import mqtt_wire

    # The compiled module is what the service runs; its source steers the search. Both must read the same.
    wires = [_instrumented_source("basestation.dispatch.io.mqtt_wire")]
    if str(mqtt_wire.__file__).endswith(".so"):
        wires.append(mqtt_wire)
    # The link's MAX_INBOUND (1 MiB; imported, the link would bring SQLAlchemy into every run), a limit small
    # inputs reach, and none.
    limits = (1 << 20, 16, 300, mqtt_wire.MAX_REMAINING + 5)

    def one(data: bytes) -> None:
        if len(data) < 2:
            return
        limit, cuts = limits[data[0] & 3], data[2 : 2 + (data[1] & 7)]
        stream = data[2 + len(cuts) :]
        outcomes = []
        for wire in wires:
            whole = _mqtt_read(wire, limit, b"", stream)
            cut = _mqtt_read(wire, limit, cuts, stream)
            # Where TCP splits the stream changes nothing; only the packets before an error may come out of a cut
            # stream, in the calls before the one that raised.
            if whole and isinstance(whole[-1], wire.MqttProtocolError):
                assert cut and str(cut[-1]) == str(whole[-1]), (cut, whole[-1])
            else:
                assert cut == whole, (cut, whole)
            outcomes.append([str(x) if isinstance(x, Exception) else x for x in cut])
        assert all(o == outcomes[0] for o in outcomes), outcomes  # compiled and interpreted agree

    return one, _mqtt_seeds()


def _mqtt_read(wire: Any, limit: int, cuts: bytes, stream: bytes) -> list[object]:
    """What the link would see: each packet with how it parses as MQTT 5 and as 3.1.1, and the error that ends
    the stream, if one does (the link then drops the connection and its reader)."""
    reader, out, at = wire.Reader(limit), list[object](), 0
    chunks = []
    for size in cuts:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    try:
        for chunk in chunks:
            for kind, flags, body in reader.feed(chunk):
                assert 1 + len(wire.varint(len(body))) + len(body) <= limit, (len(body), limit)
                out.append((kind, flags, body, _mqtt_parse(wire, kind, flags, body, wire.V5)))
                out.append(_mqtt_parse(wire, kind, flags, body, wire.V311))
    except wire.MqttProtocolError as e:
        out.append(e)
    return out


def _mqtt_parse(wire: Any, kind: int, flags: int, body: bytes, version: int) -> object:
    """One packet parsed as Inbound._packet (mqtt_inbound.py) parses it; a protocol error is an answer, anything
    else escapes."""
    try:
        if kind == wire.PUBLISH:
            p = wire.parse_publish(flags, body, version)
            assert p.qos in (0, 1) and (p.packet_id == 0) == (p.qos == 0), p
            assert body.endswith(p.payload) and isinstance(p.topic, str), p
            return ("publish", p.topic, p.payload, p.qos, p.packet_id, p.dup)
        if kind == wire.PUBACK:
            return ("puback", *wire.parse_puback(body, version))
        if kind == wire.CONNACK:
            c = wire.parse_connack(body, version)
            assert c.receive_maximum > 0 and c.maximum_packet_size > 0, c
            fields = (c.session_present, c.reason, c.receive_maximum, c.reason_string, c.server_keepalive)
            return ("connack", *fields, c.maximum_packet_size)
        if kind == wire.SUBACK:
            pid, codes = wire.parse_packet_id(body), wire.suback_codes(body, version)
            assert body.endswith(codes), (body, codes)
            return ("suback", pid, codes)
        if kind == wire.DISCONNECT:
            return ("disconnect", wire.disconnect_reason(body))
        return ("pingresp",) if kind == wire.PINGRESP else ("refused", kind)
    except wire.MqttProtocolError as e:
        return ("error", str(e))


def _mqtt_seeds() -> list[bytes]:
    """Valid packets as brokers send them, each as a stream under the link's own limit, then all in one stream cut
    into pieces."""
    from basestation.dispatch.io import mqtt_wire as wire

    def packet(first: int, body: bytes) -> bytes:
        return bytes([first]) + wire.varint(len(body)) + body

    def props(*items: bytes) -> bytes:
        block = b"".join(items)
        return wire.varint(len(block)) + block

    def string(s: bytes) -> bytes:
        return len(s).to_bytes(2, "big") + s

    user = b"\x26" + string(b"k") + string(b"v")
    envelope = b'{"v":1,"gateway_id":"gw-1","rx_time_ms":1,"radio":"lora","frame":"' + b"10" * 24 + b'"}'
    up = string(b"nightwatch/v1/up/gw-1")
    packets = [
        # CONNACK (MQTT 5) with the properties Mosquitto sends and a few the link skips.
        packet(
            0x20,
            b"\x01\x00"
            + props(
                b"\x21\x00\x14",
                b"\x13\x00\x3c",
                b"\x27\x00\x10\x00\x00",
                b"\x22\x00\x0a",
                b"\x25\x01",
                b"\x1f" + string(b"welcome"),
                b"\x12" + string(b"assigned"),
                user,
            ),
        ),
        packet(0x20, b"\x00\x00"),  # 3.1.1
        packet(0x90, b"\x00\x01" + props() + b"\x01\x01"),  # SUBACK (5), both filters at QoS 1
        packet(0x90, b"\x00\x02" + props(b"\x1f" + string(b"no"), user) + b"\x01\x87"),
        packet(0x90, b"\x00\x01\x01\x80"),  # 3.1.1
        wire.puback(7),
        packet(0x40, b"\x00\x08\x10"),  # PUBACK with a reason code: no matching subscribers
        packet(0x40, b"\x00\x09\x97" + props(b"\x1f" + string(b"quota"), user)),
        wire.publish("nightwatch/v1/up/gw-1", envelope, version=wire.V5, qos=0),
        wire.publish("nightwatch/v1/up/gw-1", envelope, version=wire.V311, qos=1, packet_id=3, dup=True),
        packet(
            0x32,
            up
            + b"\x00\x05"
            + props(
                b"\x01\x01",
                b"\x02\x00\x00\x00\x3c",
                b"\x03" + string(b"application/json"),
                b"\x08" + string(b"nightwatch/v1/down/gw-1"),
                b"\x09" + string(b"\x00\x01"),
                b"\x0b\x85\x01",
                user,
            )
            + envelope,
        ),
        packet(0x30, string(b"nightwatch/v1/gw/gw-1/status") + props() + b'{"state":"online"}'),
        b"\xd0\x00",  # PINGRESP
        packet(0xE0, b"\x8b" + props(b"\x1f" + string(b"shutting down"), b"\x1c" + string(b"elsewhere"))),
        wire.DISCONNECT_PACKET,
    ]
    stream = b"".join(packets)
    return [b"\x00\x00" + p for p in packets] + [b"\x00\x00" + stream, b"\x00\x03\x01\x05\x40" + stream]


def _selftest() -> tuple[Callable[[bytes], None], list[bytes]]:
    def one(data: bytes) -> None:
        if data[:1] == b"!":
            raise KeyError("a parser that leaks a foreign error")

    return one, [b"?"]


def main(argv: list[str]) -> None:
    name, seconds = argv[1], int(argv[2])
    work = Path(argv[3]) if len(argv) > 3 else Path(tempfile.mkdtemp(prefix=f"nightwatch-fuzz-{name}-"))
    sys.path.insert(0, str(ROOT))
    import atheris

    with atheris.instrument_imports(include=["protocol", "basestation"]):
        one, seeds = {
            "frame": _frame,
            "envelope": _envelope,
            "semtech": _semtech,
            "mqtt": _mqtt,
            "selftest": _selftest,
        }[name]()
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [argv[0], f"-max_total_time={seconds}", f"-timeout={HANG_S}", f"-artifact_prefix={work}/", str(corpus)]
    print(f"fuzzing {name} for {seconds} s; corpus and any reproducer in {work}", flush=True)
    atheris.Setup(args, one)
    atheris.Fuzz()  # exits the process: 0 when the time ran out with no failure


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in TARGETS:
        sys.exit(__doc__)
    main(sys.argv)
