"""bleak scanner backends for the gateway's real BleSource without an operating system's Bluetooth stack; bleak
accepts an injected one (``BleakScanner(backend=...)``), which constructs its backend itself and so is handed a
class, bound here to what feeds it.

- FakeBleAdapter has no radio behind it: the real-time air model of the simulator and the demo decides which
  scanner hears an advert and when, and calls :meth:`FakeBleAdapter.hear`.
- bumble_backend reads the advertising reports a bumble host receives from its controller. With a bumble virtual
  controller on a ``LocalLink`` this is a full virtual BLE path: a second bumble device advertises real AD bytes
  through a real link layer and HCI. bumble can also drive a real controller (USB or HCI socket), bypassing BlueZ.

From there on it is the gateway's own code: bleak's AdvertisementData (the same type BlueZ produces), the
company-id filter, the relay's dedupe, spool and MQTT.
"""

from typing import TYPE_CHECKING, Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from basestation.gateway.ble import manufacturer_data
from basestation.gateway.settings import TEST_COMPANY_ID

if TYPE_CHECKING:  # bumble is imported by whoever builds the device; the simulator and the demo need none of it
    from bumble.device import Advertisement, Device


class _Scanner(BaseBleakScanner):
    """What both backends share: bleak's constructor, and a report turned into the AdvertisementData BlueZ gives."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.active = scanning_mode != "passive"

    def report(self, address: str, manufacturer: dict[int, bytes], rssi: int, details: Any = None) -> None:
        data = AdvertisementData(
            local_name=None,
            manufacturer_data=manufacturer,
            service_data={},
            service_uuids=[],
            tx_power=None,
            rssi=rssi,
            platform_data=() if details is None else (details,),
        )
        found = self.create_or_update_device(address, address, None, details, data)
        self.call_detection_callbacks(found, data)


class FakeBleAdapter:
    def __init__(self, company_id: int = TEST_COMPANY_ID) -> None:
        self.company_id = company_id
        self.scanners: list[Any] = []  # the backends scanning now
        self.adverts = 0

    def hear(self, payload: bytes, rssi: float, address: str) -> bool:
        """One advert received with this payload in its manufacturer data; False when nobody scans."""
        self.adverts += 1
        for scanner in list(self.scanners):
            scanner.report(address, {self.company_id: payload}, round(rssi))
        return bool(self.scanners)

    def backend(self) -> type[BaseBleakScanner]:
        adapter = self

        class FakeBleakScanner(_Scanner):
            async def start(self) -> None:
                self.seen_devices = {}
                adapter.scanners.append(self)

            async def stop(self) -> None:
                if self in adapter.scanners:
                    adapter.scanners.remove(self)

        return FakeBleakScanner


def bumble_backend(device: "Device") -> type[BaseBleakScanner]:
    """A backend class bound to ``device`` (powered on by the caller), for ``BleakScanner(backend=...)``,
    which constructs its backend itself and so cannot be handed an instance."""

    class BumbleScanner(_Scanner):
        async def start(self) -> None:
            self.seen_devices = {}
            device.on("advertisement", self._advertisement)
            await device.start_scanning(active=self.active, filter_duplicates=False)

        async def stop(self) -> None:
            await device.stop_scanning()
            device.remove_listener("advertisement", self._advertisement)

        def _advertisement(self, adv: "Advertisement") -> None:
            self.report(str(adv.address), manufacturer_data(adv.data_bytes), adv.rssi, adv)

    return BumbleScanner
