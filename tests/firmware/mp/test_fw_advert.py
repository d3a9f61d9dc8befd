"""The BLE advert layout: 31 bytes, flags, then our company id and the 24-byte frame."""

from firmware import advert


def test_layout_and_round_trip():
    buf = advert.new_buffer(0xFFFF)
    frame = bytes(range(24))
    adv = advert.fill(buf, frame)
    assert len(adv) == 31
    assert bytes(adv[:7]) == bytes((0x02, 0x01, 0x06, 0x1B, 0xFF, 0xFF, 0xFF))
    assert advert.parse(adv) == (0xFFFF, frame)
    buf2 = advert.new_buffer(0x0A1B)
    assert advert.parse(advert.fill(buf2, frame)) == (0x0A1B, frame)


def test_refill_reuses_the_buffer():
    buf = advert.new_buffer(0x1234)
    a = advert.fill(buf, bytes(24))
    b = advert.fill(buf, b"\x01" * 24)
    assert a is b and advert.parse(b) == (0x1234, b"\x01" * 24)


def test_rejects_wrong_frame_size():
    try:
        advert.fill(advert.new_buffer(1), bytes(23))
    except ValueError:
        return
    raise AssertionError("accepted 23 bytes")
