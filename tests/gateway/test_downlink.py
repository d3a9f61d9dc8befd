import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.gateway.downlink import DownlinkError, RadioDefaults, Routes, build_txpk, parse_downlink
from basestation.gateway.record import ReceivedFrame
from harness.gateway import frames

UPLINK = frames(1)[0]
ACK = "11" + "00" * 15


def heard(eui: str, snr: float | None, rssi: float, tmst: int = 10) -> ReceivedFrame:
    return ReceivedFrame(
        UPLINK, "lora", 1.0, rssi=rssi, snr=snr, freq_mhz=868.1, datr="SF9BW125", tmst=tmst, forwarder=eui
    )


def test_parse_full_request() -> None:
    dl = parse_downlink(
        json.dumps(
            {"id": "a-1", "frame": ACK, "uplink": UPLINK.hex(), "forwarder": "AABBCCDDEEFF0011", "delay_ms": 2000}
        ).encode()
    )
    assert dl.frame == bytes.fromhex(ACK) and dl.uplink == UPLINK
    assert dl.forwarder == "aabbccddeeff0011" and dl.delay_ms == 2000 and dl.ipol is True
    assert parse_downlink(json.dumps({"id": "b", "frame": ACK}).encode()).delay_ms is None


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"nope", "json"),
        (b"[]", "json"),
        ({"frame": ACK}, "id"),
        ({"id": "x" * 65, "frame": ACK}, "id"),
        ({"id": "a", "frame": ACK, "radio": "ble"}, "radio"),
        ({"id": "a", "frame": "10" + "00" * 15}, "frame"),  # an uplink version byte, not an ACK
        ({"id": "a", "frame": ACK[:-2]}, "frame"),
        ({"id": "a", "frame": "zz" * 16}, "frame"),
        ({"id": "a", "frame": ACK, "uplink": "00"}, "uplink"),
        ({"id": "a", "frame": ACK, "forwarder": "xyz"}, "forwarder"),
        ({"id": "a", "frame": ACK, "delay_ms": -1}, "delay_ms"),
        ({"id": "a", "frame": ACK, "delay_ms": True}, "delay_ms"),
        ({"id": "a", "frame": ACK, "freq_mhz": "868"}, "freq_mhz"),
        ({"id": "a", "frame": ACK, "datr": "fast"}, "datr"),
        ({"id": "a", "frame": ACK, "power_dbm": 99}, "power_dbm"),
        ({"id": "a", "frame": ACK, "ipol": 1}, "ipol"),
    ],
)
def test_refused_requests(doc: object, reason: str) -> None:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises(DownlinkError) as err:
        parse_downlink(payload)
    assert err.value.reason == reason


def test_routes_keep_the_best_copy_and_are_bounded() -> None:
    routes = Routes(size=2)
    routes.heard(heard("00000000000000a1", -10.0, -120))
    routes.heard(heard("00000000000000b2", 8.0, -90))
    routes.heard(heard("00000000000000c3", 2.0, -60))  # louder but noisier: SNR decides
    best = routes.get(UPLINK)
    assert best is not None and best.forwarder == "00000000000000b2"
    routes.heard(ReceivedFrame(UPLINK, "ble", 1.0, rssi=-40))  # BLE copies are no LoRa route
    assert routes.get(UPLINK) is best
    for f in frames(2, first_counter=50):
        routes.heard(ReceivedFrame(f, "lora", 1.0, tmst=1, forwarder="00000000000000a1"))
    assert routes.get(UPLINK) is None


RADIO = RadioDefaults(869.525, "SF9BW125", 14)


def test_txpk_immediate_on_the_rings_receive_channel_through_the_best_forwarder() -> None:
    dl = parse_downlink(json.dumps({"id": "a", "frame": ACK, "uplink": UPLINK.hex()}).encode())
    eui, txpk = build_txpk(dl, heard("00000000000000a1", 5.0, -100), RADIO)
    assert eui == "00000000000000a1" and txpk["imme"] is True and "tmst" not in txpk
    assert (txpk["freq"], txpk["datr"], txpk["ipol"], txpk["powe"]) == (869.525, "SF9BW125", True, 14)
    assert (txpk["modu"], txpk["size"], txpk["codr"]) == ("LORA", 16, "4/5")


def test_txpk_timed_on_uplink_tmst_wraps() -> None:
    dl = parse_downlink(json.dumps({"id": "a", "frame": ACK, "uplink": UPLINK.hex(), "delay_ms": 1000}).encode())
    eui, txpk = build_txpk(dl, heard("00000000000000a1", 5.0, -100, tmst=0xFFFFFFFF - 10), RADIO)
    assert eui == "00000000000000a1"
    assert txpk["tmst"] == 1_000_000 - 11 and txpk["imme"] is False


def test_txpk_overrides_and_refusals() -> None:
    request = {"id": "a", "frame": ACK, "forwarder": "00000000000000b2", "freq_mhz": 868.1, "datr": "SF7BW125"}
    eui, txpk = build_txpk(parse_downlink(json.dumps(request).encode()), None, RADIO)
    assert (eui, txpk["freq"], txpk["datr"], txpk["imme"]) == ("00000000000000b2", 868.1, "SF7BW125", True)
    with pytest.raises(DownlinkError, match="no_route"):
        build_txpk(parse_downlink(json.dumps({"id": "a", "frame": ACK}).encode()), None, RADIO)
    # A timed send through another forwarder than the one that heard the uplink has no tmst to go by.
    timed = {"id": "a", "frame": ACK, "uplink": UPLINK.hex(), "forwarder": "00000000000000b2", "delay_ms": 5}
    with pytest.raises(DownlinkError, match="no_tmst"):
        build_txpk(parse_downlink(json.dumps(timed).encode()), heard("00000000000000a1", 5.0, -100), RADIO)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | st.dictionaries(
        st.sampled_from(
            ["id", "frame", "uplink", "forwarder", "delay_ms", "freq_mhz", "datr", "power_dbm", "ipol", "radio"]
        ),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    ).map(lambda d: json.dumps(d).encode())
)
def test_fuzz_downlink_requests_raise_only_downlink_error(payload: bytes) -> None:
    with contextlib.suppress(DownlinkError):
        dl = parse_downlink(payload)
        build_txpk(dl, None, RADIO)
