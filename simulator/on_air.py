"""One LoRa transmission on air, as the exact rings, the attacker and the air model pass it between them."""

from dataclasses import dataclass

ATTACKER_RING = 1 << 40  # the attacker's id in the shadowing hash


@dataclass(slots=True)
class Tx:
    """One LoRa transmission on air."""

    start: float
    end: float
    channel: int
    x: float
    y: float
    ring: int  # index, or ATTACKER_RING
    indoor_db: float
    frame: bytes
    freq_hz: int
    tx_dbm: float
    origin: str  # ring | replay
    sf: int = 9
