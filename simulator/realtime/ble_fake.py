"""A fake BLE adapter for the gateway's real BleSource: a bleak scanner backend the air model feeds.

bleak accepts an injected backend (``BleakScanner(backend=...)``, as basestation/gateway/ble_bumble.py does for a
bumble controller); this one has no radio behind it. The real-time air model decides which scanner hears an advert
and when, and calls :meth:`FakeBleAdapter.hear`; from there on it is the gateway's own code: bleak's
AdvertisementData, the company-id filter, the relay's dedupe, spool and MQTT.
"""

from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from basestation.gateway.settings import TEST_COMPANY_ID


class FakeBleAdapter:
    def __init__(self, company_id: int = TEST_COMPANY_ID) -> None:
        self.company_id = company_id
        self.scanners: list[Any] = []  # the backends scanning now
        self.adverts = 0

    def hear(self, payload: bytes, rssi: float, address: str) -> bool:
        """One advert received with this payload in its manufacturer data; False when nobody scans."""
        self.adverts += 1
        for scanner in list(self.scanners):
            scanner.advert(payload, rssi, address)
        return bool(self.scanners)

    def backend(self) -> type[BaseBleakScanner]:
        adapter = self

        class FakeBleakScanner(BaseBleakScanner):
            def __init__(
                self,
                detection_callback: AdvertisementDataCallback | None,
                service_uuids: list[str] | None,
                scanning_mode: str = "active",
                **kwargs: Any,
            ) -> None:
                super().__init__(detection_callback, service_uuids)

            async def start(self) -> None:
                self.seen_devices = {}
                adapter.scanners.append(self)

            async def stop(self) -> None:
                if self in adapter.scanners:
                    adapter.scanners.remove(self)

            def advert(self, payload: bytes, rssi: float, address: str) -> None:
                data = AdvertisementData(
                    local_name=None,
                    manufacturer_data={adapter.company_id: payload},
                    service_data={},
                    service_uuids=[],
                    tx_power=None,
                    rssi=round(rssi),
                    platform_data=(),
                )
                found = self.create_or_update_device(address, address, None, None, data)
                self.call_detection_callbacks(found, data)

        return FakeBleakScanner
