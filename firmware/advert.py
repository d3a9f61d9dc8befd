"""The BLE advert that carries an uplink: a legacy advertisement of 31 bytes (Core spec v5.4, vol 3 part C
section 11, and the Core Specification Supplement part A: Flags 1.3, Manufacturer Specific Data 1.4).

    02 01 06            Flags: LE General Discoverable, BR/EDR not supported
    1B FF cc cc         Manufacturer Specific Data, 27 bytes: company id (little-endian), then
    <24-byte frame>     the uplink exactly as it goes over LoRa (protocol/ SPEC 3)

Filled into one preallocated buffer, so a retry allocates nothing here.
"""

from firmware.const import const

ADV_SIZE = const(31)
_FRAME_OFFSET = const(7)
_FRAME_SIZE = const(24)


def new_buffer(company_id: int) -> bytearray:
    buf = bytearray(ADV_SIZE)
    buf[0] = 0x02
    buf[1] = 0x01
    buf[2] = 0x06
    buf[3] = 1 + 2 + _FRAME_SIZE
    buf[4] = 0xFF
    buf[5] = company_id & 0xFF
    buf[6] = company_id >> 8
    return buf


def fill(buf: bytearray, frame) -> bytearray:
    if len(frame) != _FRAME_SIZE:
        raise ValueError("an uplink is 24 bytes")
    buf[_FRAME_OFFSET:ADV_SIZE] = frame
    return buf


def parse(adv):  # -> (company_id, frame) or None
    """The inverse, for tests and host tools: the manufacturer data in an advert, if it is ours."""
    i = 0
    while i + 1 < len(adv):
        n = adv[i]
        if n == 0:
            break
        if adv[i + 1] == 0xFF and n >= 3:
            cid = adv[i + 2] | (adv[i + 3] << 8)
            return cid, bytes(adv[i + 4 : i + 1 + n])
        i += 1 + n
    return None
