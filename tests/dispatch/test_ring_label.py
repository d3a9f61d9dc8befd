"""A ring label's QR payload, ``nightwatch:ring:<id>:<Luhn check digit>``: it reads back as the id it was made
for, and a misread or mistyped id does not pass as another ring."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basestation.dispatch import ring_label
from protocol.constants import DEVICE_ID_MAX


@pytest.mark.parametrize(
    ("device_id", "check"),
    [
        (7992739871, None),  # the textbook Luhn example, out of a ring id's range
        (0, 0),
        (7, 5),
        (18, 2),
        (4242, 4),
        (31337, 9),
        (DEVICE_ID_MAX, 2),
    ],
)
def test_check_digits(device_id: int, check: int | None) -> None:
    if check is None:
        with pytest.raises(ring_label.LabelError):
            ring_label.check_digit(device_id)
        return
    assert ring_label.check_digit(device_id) == check
    assert ring_label.payload(device_id) == f"nightwatch:ring:{device_id}:{check}"


def luhn_valid(number: str) -> bool:
    """The textbook test of a number that ends in its check digit, written apart from the code under test."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_the_luhn_rule_is_the_textbook_one() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


@given(st.integers(0, DEVICE_ID_MAX))
def test_the_payload_round_trips(device_id: int) -> None:
    text = ring_label.payload(device_id)
    assert luhn_valid(f"{device_id}{ring_label.check_digit(device_id)}")
    assert ring_label.parse(text) == device_id
    assert ring_label.parse(text + "\n") == device_id  # as a scanner that ends with Enter types it


@given(st.integers(10, DEVICE_ID_MAX), st.data())
def test_one_mistyped_digit_fails_the_check(device_id: int, data: st.DataObject) -> None:
    digits = str(device_id)
    at = data.draw(st.integers(0 if len(digits) > 1 else 1, len(digits) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != digits[at] and (at or d != "0")]))
    typed = digits[:at] + wrong + digits[at + 1 :]
    check = ring_label.check_digit(device_id)
    if int(typed) > DEVICE_ID_MAX:
        return  # refused as out of range, which the next test covers
    with pytest.raises(ring_label.LabelError, match="check digit"):
        ring_label.parse(f"nightwatch:ring:{typed}:{check}")


@pytest.mark.parametrize(
    "text",
    [
        "nightwatch:ring:4242:5",  # the check digit of another id
        "nightwatch:ring:2442:4",  # two digits swapped
        "nightwatch:ring:04242:4",  # the same id, written another way: one id, one payload
        "nightwatch:ring:4294967296:0",  # past the largest id
        "nightwatch:ring:4242",
        "nightwatch:ring:4242:44",
        "nightwatch:ring:-1:0",
        "NIGHTWATCH:RING:4242:4",
        "nightwatch:card:4242:4",
        "https://nightwatch.example/walk",
        "",
    ],
)
def test_what_is_not_a_ring_label_is_refused(text: str) -> None:
    with pytest.raises(ring_label.LabelError):
        ring_label.parse(text)


def test_the_same_id_gives_the_same_label() -> None:
    assert ring_label.render(4242) == ring_label.render(4242) != ring_label.render(4243)
