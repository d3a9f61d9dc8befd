import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.gateway import semtech
from basestation.gateway.semtech import PullData, PushData, SemtechError, TxAck, parse
from harness.forwarder import EUI
from harness.gateway import frames, rxpk
from tests.fuzz import examples

FRAME = frames(1)[0]
B64 = base64.b64encode(FRAME).decode()
HDR_PUSH = bytes.fromhex("02abcd00") + bytes.fromhex(EUI)


def test_push_data_byte_for_byte() -> None:
    # Bytes as PROTOCOL.TXT 3.2 lays them out: version 2, token, 0x00, EUI, JSON.
    body = json.dumps({"rxpk": [rxpk(FRAME, tmst=3512348611)]}).encode()
    pkt = parse(HDR_PUSH + body)
    assert isinstance(pkt, PushData)
    assert pkt.token == 0xABCD and pkt.eui == EUI and pkt.bad_rxpk == []
    (rx,) = pkt.rxpk
    assert rx.data == FRAME
    assert (rx.tmst, rx.freq_mhz, rx.datr, rx.rssi, rx.lsnr, rx.stat) == (
        3512348611, 868.5, "SF9BW125", -97.0, 7.5, 1,
    )  # fmt: skip
    assert rx.time == "2026-11-22T02:00:00.000000Z"
    rec = semtech.to_record(rx, pkt.eui, 123.0)
    assert (rec.radio, rec.forwarder, rec.tmst, rec.snr, rec.rx_time) == ("lora", EUI, 3512348611, 7.5, 123.0)


def test_acks_byte_for_byte() -> None:
    assert semtech.push_ack(0xABCD) == bytes.fromhex("02abcd01")
    assert semtech.pull_ack(0x0102) == bytes.fromhex("02010204")
    resp = semtech.pull_resp(7, {"imme": True})
    assert resp[:4] == bytes.fromhex("02000703") and json.loads(resp[4:]) == {"txpk": {"imme": True}}


def test_pull_data_and_tx_ack() -> None:
    assert parse(bytes.fromhex("02123402") + bytes.fromhex(EUI)) == PullData(0x1234, EUI)
    ack = parse(bytes.fromhex("02123405") + bytes.fromhex(EUI) + b'{"txpk_ack":{"error":"TOO_LATE"}}')
    assert ack == TxAck(0x1234, EUI, "TOO_LATE")
    # Forwarders before v2 answer nothing or an empty body: success.
    assert parse(bytes.fromhex("02123405") + bytes.fromhex(EUI)) == TxAck(0x1234, EUI, "NONE")
    assert parse(bytes.fromhex("02123405") + bytes.fromhex(EUI) + b"\0") == TxAck(0x1234, EUI, "NONE")


def test_push_data_with_stat_only_and_several_rxpk() -> None:
    assert parse(HDR_PUSH + b'{"stat":{"rxnb":2}}') == PushData(0xABCD, EUI, [], [])
    two = frames(2)
    pkt = parse(HDR_PUSH + json.dumps({"rxpk": [rxpk(two[0]), rxpk(two[1], stat=-1)]}).encode())
    assert isinstance(pkt, PushData)
    assert [r.data for r in pkt.rxpk] == two and [r.stat for r in pkt.rxpk] == [1, -1]


def test_unpadded_base64_and_fsk_datr_accepted() -> None:
    padded = base64.b64encode(FRAME[:23]).decode()
    assert padded.endswith("=")
    pkt = parse(HDR_PUSH + json.dumps({"rxpk": [{"data": padded.rstrip("="), "datr": 50000}]}).encode())
    assert isinstance(pkt, PushData) and pkt.rxpk[0].data == FRAME[:23] and pkt.rxpk[0].datr == "50000"
    assert pkt.rxpk[0].tmst is None and pkt.rxpk[0].rssi is None


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "short"),
        (b"\x02\x00", "short"),
        (b"\x01\x00\x00\x00" + bytes(8) + b"{}", "version"),
        (b"\x02\x00\x00\x09", "identifier"),
        (b"\x02\x00\x00\x01", "identifier"),  # PUSH_ACK goes server to forwarder, never to us
        (b"\x02\x00\x00\x00\x01\x02", "short"),
        (HDR_PUSH, "json"),
        (HDR_PUSH + b"not json", "json"),
        (HDR_PUSH + b"[1,2]", "json"),
        (HDR_PUSH + b"\xff\xfe\xfa", "json"),
        (HDR_PUSH + b'{"rxpk": {"data": "x"}}', "json"),
        (HDR_PUSH + b"[" * 100_000, "json"),
        (bytes.fromhex("02000005") + bytes.fromhex(EUI) + b'{"txpk_ack":[]}', "json"),
        (bytes.fromhex("02000005") + bytes.fromhex(EUI) + b'{"txpk_ack":{"error":5}}', "json"),
    ],
)
def test_bad_datagrams(datagram: bytes, reason: str) -> None:
    with pytest.raises(SemtechError) as err:
        parse(datagram)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("text", "rxpk"),
        ({}, "field"),
        ({"data": 5}, "field"),
        ({"data": "!!!!"}, "field"),
        ({"data": B64, "size": 23}, "field"),
        ({"data": B64, "tmst": -1}, "field"),
        ({"data": B64, "tmst": 2**32}, "field"),
        ({"data": B64, "tmst": 1.5}, "field"),
        ({"data": B64, "freq": "868"}, "field"),
        ({"data": B64, "rssi": True}, "field"),
        ({"data": B64, "stat": 2}, "field"),
        ({"data": B64, "datr": ["SF7"]}, "field"),
        ({"data": B64, "datr": "x" * 33}, "field"),
        ({"data": B64, "time": 5}, "field"),
        ({"data": B64, "chan": 256}, "field"),
    ],
)
def test_bad_rxpk_is_counted_and_good_ones_kept(item: object, reason: str) -> None:
    pkt = parse(HDR_PUSH + json.dumps({"rxpk": [item, rxpk(FRAME)]}).encode())
    assert isinstance(pkt, PushData)
    assert pkt.bad_rxpk == [reason]
    assert [r.data for r in pkt.rxpk] == [FRAME]


def test_non_finite_numbers_refused() -> None:
    pkt = parse(HDR_PUSH + b'{"rxpk":[{"data":"' + B64.encode() + b'","rssi":NaN,"freq":1e999}]}')
    assert isinstance(pkt, PushData) and pkt.bad_rxpk == ["field"]


@settings(max_examples=examples(500), deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_raise_only_semtech_error(data: bytes) -> None:
    with contextlib.suppress(SemtechError):
        parse(data)


@settings(max_examples=examples(500), deadline=None)
@given(
    st.sampled_from([0, 2, 5]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=20,
    ),
)
def test_fuzz_valid_header_arbitrary_json(ident: int, doc: object) -> None:
    # Well-formed JSON of any shape after a valid header, also under the keys the parser looks for.
    for body in (doc, {"rxpk": doc}, {"rxpk": [doc]}, {"txpk_ack": doc}):
        datagram = bytes((2, 0, 1, ident)) + bytes.fromhex(EUI) + json.dumps(body).encode()
        with contextlib.suppress(SemtechError):
            parse(datagram)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 0xFFFF))
def test_roundtrip_push_data(payload: bytes, token: int) -> None:
    pkt = parse(semtech.push_data(token, EUI, [rxpk(payload)]))
    assert isinstance(pkt, PushData) and pkt.token == token and pkt.rxpk[0].data == payload
