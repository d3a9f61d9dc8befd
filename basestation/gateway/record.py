"""The neutral received-frame record every source produces at its boundary."""

from dataclasses import dataclass
from typing import Literal

Radio = Literal["ble", "lora"]


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """One copy of a frame as a radio heard it. Fields a radio does not report stay None."""

    frame: bytes
    radio: Radio
    rx_time: float  # gateway clock, Unix seconds: the one clock all sources share
    rssi: float | None = None
    snr: float | None = None
    freq_mhz: float | None = None
    datr: str | None = None  # LoRa data rate as the forwarder names it, e.g. "SF9BW125"
    tmst: int | None = None  # concentrator counter (µs); a LoRa downlink is timed against it
    forwarder: str | None = None  # EUI of the packet forwarder that heard it (LoRa only)
    chan: int | None = None
    rfch: int | None = None
