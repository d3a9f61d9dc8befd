"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that take untrusted bytes, for a bounded time.

    python scripts/fuzz/run.py TARGET SECONDS [WORKDIR]

Targets: ``frame`` (protocol.uplink and protocol.ack decoders, also with a valid MIC over arbitrary contents, as a
stolen key could send), ``envelope`` (the dispatch service's MQTT envelope parser), ``semtech`` (the gateway's
Semtech UDP parser). Each input may make a parser raise only its own error type; anything else, a hang (libFuzzer's
``-timeout``) or a crash fails the run with a non-zero exit status and a reproducer in WORKDIR. ``selftest`` is a
deliberately broken target that must fail: proof that a failure would be seen.

Seeds are valid inputs made here, so the fuzzer starts from what gateways really send.
"""

import contextlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("frame", "envelope", "semtech", "selftest")
HANG_S = 5  # one input taking longer than this is a hang


def _frame() -> tuple[Callable[[bytes], None], list[bytes]]:
    from protocol import ack, uplink
    from protocol.constants import DIR_UP, EVENT_SOS, UPLINK_MIC_OFFSET, UPLINK_MIC_SIZE
    from protocol.errors import FrameError
    from protocol.keys import DeviceKeys

    keys = DeviceKeys(bytes(range(16)))

    def one(data: bytes) -> None:
        counter = int.from_bytes(data[:4].ljust(4, b"\0"), "big") or 1
        frame = data[4:]
        for decode in (uplink.decode, ack.decode):
            with contextlib.suppress(FrameError):
                decode(keys, frame, counter)
        # The same contents under a MIC that holds: what a stolen key can make the service decrypt and check.
        head = frame[:UPLINK_MIC_OFFSET].ljust(UPLINK_MIC_OFFSET, b"\0")
        sealed = head + keys.mic(DIR_UP, counter, 0, head, UPLINK_MIC_SIZE)
        with contextlib.suppress(FrameError):
            uplink.decode(keys, sealed, counter)

    good = uplink.encode(keys, uplink.Uplink(7, 42, EVENT_SOS, 80))
    return one, [(7).to_bytes(4, "big") + good]


def _envelope() -> tuple[Callable[[bytes], None], list[bytes]]:
    from basestation.dispatch.envelope import EnvelopeError, parse

    topics = ["nightwatch/v1/up/gw-1", "nightwatch/v1/up/", "nightwatch/v1/up/gw 1", "nightwatch/v1/down/gw-1"]

    def one(data: bytes) -> None:
        topic = topics[data[0] % len(topics)] if data else topics[0]
        with contextlib.suppress(EnvelopeError):
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
        one, seeds = {"frame": _frame, "envelope": _envelope, "semtech": _semtech, "selftest": _selftest}[name]()
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
