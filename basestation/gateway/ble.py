"""The BLE source: a bleak scanner filtered on our company id; each matching advert becomes a ReceivedFrame.

The scanner backend is injected the way bleak allows (``BleakScanner(backend=...)``): BlueZ on a Pi, the
a bumble device in tests (harness/ble.py). On BlueZ, passive scanning needs an advertisement-monitor pattern
(``or_patterns``) and bluetoothd's experimental features; docs/gateway.md lists the settings.
"""

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from basestation.gateway.record import ReceivedFrame

log = logging.getLogger(__name__)

AD_MANUFACTURER_SPECIFIC = 0xFF


def manufacturer_data(ad: bytes) -> dict[int, bytes]:
    """Company id -> data of the manufacturer-specific AD structures in raw advertising data
    (Core Spec Vol 3 Part C 11: a run of length | type | value). A truncated tail is ignored."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(ad):
        length = ad[i]
        if length == 0 or i + 1 + length > len(ad):
            break
        if ad[i + 1] == AD_MANUFACTURER_SPECIFIC and length >= 3:
            out[int.from_bytes(ad[i + 2 : i + 4], "little")] = bytes(ad[i + 4 : i + 1 + length])
        i += 1 + length
    return out


class BleSource:
    """Scan continuously; an async context manager around one BleakScanner."""

    def __init__(
        self,
        on_frame: Callable[[ReceivedFrame], None],
        company_id: int,
        passive: bool = True,
        adapter: str | None = None,
        backend: type[BaseBleakScanner] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.company_id = company_id
        self._on_frame = on_frame
        self._clock = clock
        bluez: BlueZScannerArgs = {}
        if adapter is not None:
            bluez["adapter"] = adapter
        if passive:
            # BlueZ scans passively only through an advertisement monitor, which needs a pattern:
            # match our company id at the start of the manufacturer-specific data.
            pattern = OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, company_id.to_bytes(2, "little"))
            bluez["or_patterns"] = [pattern]
        else:
            # Report every advert, not only changes: the relay counts copies to protect alarm bursts.
            bluez["filters"] = {"DuplicateData": True}
        kwargs: dict[str, Any] = {"bluez": bluez}
        if backend is not None:
            kwargs["backend"] = backend
        self.scanner = BleakScanner(self._detected, scanning_mode="passive" if passive else "active", **kwargs)

    def _detected(self, device: BLEDevice, adv: AdvertisementData) -> None:
        data = adv.manufacturer_data.get(self.company_id)
        if data is None:
            return  # someone else's advert
        self._on_frame(ReceivedFrame(frame=bytes(data), radio="ble", rx_time=self._clock(), rssi=adv.rssi))

    async def __aenter__(self) -> "BleSource":
        await self.scanner.start()
        log.info("BLE scanning for company id 0x%04X", self.company_id)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.scanner.stop()
