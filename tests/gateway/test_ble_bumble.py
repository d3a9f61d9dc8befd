"""The BLE path end to end: a bumble key ring advertises real AD bytes over a virtual link layer to a
bumble controller; bleak (with the bumble backend injected) hands them to the gateway, which publishes
to a real Mosquitto."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError
from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from hypothesis import given, settings
from hypothesis import strategies as st

from basestation.gateway import relay as relay_module
from basestation.gateway import topics
from basestation.gateway.ble import manufacturer_data
from basestation.gateway.relay import Relay, run
from harness.ble import bumble_backend
from harness.broker_base import Broker
from harness.forwarder import Forwarder
from harness.gateway import GatewayThread, frames, rxpk, settings_for
from harness.ports import free_port
from harness.recorder import Recorder
from protocol.constants import EVENT_HEARTBEAT

UP = topics.uplink("gw-test")
FLAGS = bytes((0x02, 0x01, 0x06))


def advert(payload: bytes, company_id: int = 0xFFFF) -> bytes:
    """Flags AD, then one manufacturer-specific AD: length, 0xFF, company id (little-endian), payload."""
    return FLAGS + bytes((3 + len(payload), 0xFF)) + company_id.to_bytes(2, "little") + payload


def test_manufacturer_data_parsing() -> None:
    (frame,) = frames(1)
    assert manufacturer_data(advert(frame)) == {0xFFFF: frame}
    assert manufacturer_data(advert(frame, 0x004C)) == {0x004C: frame}
    assert manufacturer_data(advert(frame)[:-1]) == {}  # truncated structure ignored
    assert manufacturer_data(b"\x00" + advert(frame)) == {}  # zero length ends the data
    assert manufacturer_data(b"\x02\xff\x01") == {}  # too short to hold a company id
    assert len(advert(frame)) == 31  # exactly one legacy advert


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=62))
def test_fuzz_manufacturer_data_never_raises(ad: bytes) -> None:
    for company, data in manufacturer_data(ad).items():
        assert 0 <= company <= 0xFFFF and len(data) <= len(ad)


async def _device(link: LocalLink, name: str, address: str) -> Device:
    controller = Controller(name, link=link)
    device = Device(name=name, address=Address(address), host=Host(controller, controller))
    await device.power_on()
    return device


def test_ble_adverts_reach_mqtt_once_per_burst(tmp_path: Path, broker: Broker) -> None:
    sos = frames(1)[0]
    beat = frames(1, event=EVENT_HEARTBEAT, first_counter=9)[0]
    settings = settings_for(tmp_path, broker.port, ble=True, dedupe_window_s=30.0)

    async def scenario(rec: Recorder) -> Relay:
        link = LocalLink()  # type: ignore[no-untyped-call]
        gateway_radio = await _device(link, "gateway", "C0:00:00:00:00:01")
        ring = await _device(link, "ring", "C0:00:00:00:00:02")
        stranger = await _device(link, "stranger", "C0:00:00:00:00:03")
        broken = await _device(link, "broken", "C0:00:00:00:00:04")
        stop = asyncio.Event()
        ready: asyncio.Future[Relay] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run(settings, stop, ble_backend=bumble_backend(gateway_radio), ready=ready.set_result)
        )
        relay = await asyncio.wait_for(ready, 10)
        await stranger.start_advertising(advertising_data=advert(sos, 0x004C), advertising_interval_min=20)
        await broken.start_advertising(advertising_data=advert(sos[:20]), advertising_interval_min=20)
        # An alarm burst: the same advert every 20 ms until the gateway has heard it several times.
        await ring.start_advertising(advertising_data=advert(sos), advertising_interval_min=20)
        got = await asyncio.to_thread(rec.wait_for, lambda r: len(r.payloads(UP)) >= 1, 10)
        assert got
        for _ in range(500):
            if relay.stats.duplicates >= 5 and relay.stats.malformed["ble.length"] >= 1:
                break
            await asyncio.sleep(0.01)  # adverts arrive on the virtual link's timer
        await ring.stop_advertising()
        await ring.start_advertising(advertising_data=advert(beat), advertising_interval_min=20)
        got = await asyncio.to_thread(rec.wait_for, lambda r: len(r.payloads(UP)) >= 2, 10)
        assert got
        await ring.stop_advertising()
        stop.set()
        await asyncio.wait_for(task, 10)
        return relay

    with Recorder(broker, [UP]) as rec:
        relay = asyncio.run(scenario(rec))
        envs = [json.loads(p) for p in rec.payloads(UP)]
    assert [bytes.fromhex(e["frame"]) for e in envs] == [sos, beat]
    assert all(e["radio"] == "ble" and isinstance(e["rssi"], int | float) for e in envs)
    assert relay.stats.duplicates >= 5  # the rest of the burst was heard and suppressed
    assert relay.stats.malformed["ble.length"] >= 1  # our company id, wrong frame size: counted
    assert relay.stats.heard["ble"] == relay.stats.forwarded + relay.stats.duplicates + sum(
        relay.stats.malformed.values()
    )  # the stranger's adverts (another company id) were never counted as ours


class NoAdapterScannerFake(BaseBleakScanner):
    """Fake at the hardware edge: a box whose Bluetooth adapter is missing, so every start fails."""

    starts = 0

    def __init__(self, detection_callback: Any, service_uuids: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        type(self).starts += 1
        raise BleakError("adapter hci0 not found")

    async def stop(self) -> None:
        return None


def test_missing_ble_adapter_is_retried_and_lora_keeps_working(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "BLE_RETRY_S", 0.05)
    udp = free_port(kind=2)
    (frame,) = frames(1)
    settings = settings_for(tmp_path, broker.port, udp, ble=True)
    with Recorder(broker, [UP]) as rec, GatewayThread(settings, ble_backend=NoAdapterScannerFake) as gw:
        assert gw.wait_until(lambda r: r.stats.ble_failures >= 3, 10)
        fwd = Forwarder(udp)
        fwd.wait_ready()
        fwd.push([rxpk(frame)])
        assert rec.wait_for(lambda r: len(r.payloads(UP)) == 1, 10)
        assert gw.call(lambda: gw.relay.snapshot()["ble_scanning"] if gw.relay else None) is False
        fwd.close()
    assert NoAdapterScannerFake.starts >= 3
