"""A bleak scanner backend on a bumble ``Device``: the advertising reports a bumble host receives from its
controller reach bleak callbacks as ``AdvertisementData``, the same type BlueZ produces.

With a bumble virtual controller on a ``LocalLink`` this is a full virtual BLE path: a second bumble device
advertises real AD bytes through a real link layer and HCI, and the gateway's BleSource sees them exactly as
it would through BlueZ. bumble can also drive a real controller (USB or HCI socket), bypassing BlueZ.
"""

from typing import Any

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.device import Advertisement, Device

from basestation.gateway.ble import manufacturer_data


def bumble_backend(device: Device) -> type[BaseBleakScanner]:
    """A backend class bound to ``device`` (powered on by the caller), for ``BleakScanner(backend=...)``,
    which constructs its backend itself and so cannot be handed an instance."""

    class BumbleScanner(BaseBleakScanner):
        def __init__(
            self,
            detection_callback: AdvertisementDataCallback | None,
            service_uuids: list[str] | None,
            scanning_mode: str = "active",
            **kwargs: Any,
        ) -> None:
            super().__init__(detection_callback, service_uuids)
            self._active = scanning_mode != "passive"

        async def start(self) -> None:
            self.seen_devices = {}
            device.on("advertisement", self._advertisement)
            await device.start_scanning(active=self._active, filter_duplicates=False)

        async def stop(self) -> None:
            await device.stop_scanning()
            device.remove_listener("advertisement", self._advertisement)

        def _advertisement(self, adv: Advertisement) -> None:
            data = AdvertisementData(
                local_name=None,
                manufacturer_data=manufacturer_data(adv.data_bytes),
                service_data={},
                service_uuids=[],
                tx_power=None,
                rssi=adv.rssi,
                platform_data=(adv,),
            )
            address = str(adv.address)
            found = self.create_or_update_device(address, address, None, adv, data)
            self.call_detection_callbacks(found, data)

    return BumbleScanner
