"""The telephony and SMS hook's signature (docs/hooks.md), pure: signing and verifying as a table of headers that
pass or are refused with a reason, the worked example in the docs, and properties: what is signed verifies, any
byte changed fails, and whatever the header holds only a signature error comes out."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from basestation.dispatch.core import hook_signature as sig
from basestation.dispatch.settings import DispatchSettings

SECRET = "hook-secret-2026-new-0123456789"
OLD_SECRET = "hook-secret-2025-old-9876543210"
WRONG = "not-the-hook-secret-0123456789"
NOW = 1_796_601_600  # 2026-12-07 00:00 UTC
BODY = b'{"source":"sms","from":"+31612345678","id":"SM1"}'

# -- the signature -------------------------------------------------------------------------------------------------


def _mac(secret: str, t: int, body: bytes) -> str:
    return sig.sign(secret, body, t).split("v1=")[1]


# (case, configured secrets, body verified, header given) -> None when it passes, else a word of the reason.
CASES: list[tuple[str, list[str], bytes, str | None, str | None]] = [
    ("good", [SECRET], BODY, sig.sign(SECRET, BODY, NOW), None),
    ("wrong secret", [SECRET], BODY, sig.sign(WRONG, BODY, NOW), "no signature matches"),
    ("rotated: the old secret still configured", [SECRET, OLD_SECRET], BODY, sig.sign(OLD_SECRET, BODY, NOW), None),
    ("rotated: the old secret removed", [SECRET], BODY, sig.sign(OLD_SECRET, BODY, NOW), "no signature matches"),
    ("tampered body", [SECRET], BODY.replace(b"SM1", b"SM2"), sig.sign(SECRET, BODY, NOW), "no signature matches"),
    ("a byte added", [SECRET], BODY + b" ", sig.sign(SECRET, BODY, NOW), "no signature matches"),
    ("old timestamp", [SECRET], BODY, sig.sign(SECRET, BODY, NOW - 301), "expired"),
    ("at the edge of the window", [SECRET], BODY, sig.sign(SECRET, BODY, NOW - 300), None),
    ("future timestamp", [SECRET], BODY, sig.sign(SECRET, BODY, NOW + 301), "future"),
    ("a clock a little ahead", [SECRET], BODY, sig.sign(SECRET, BODY, NOW + 300), None),
    ("another t than signed", [SECRET], BODY, f"t={NOW + 1},v1={_mac(SECRET, NOW, BODY)}", "no signature matches"),
    ("missing header", [SECRET], BODY, None, "no Nightwatch-Signature"),
    ("empty header", [SECRET], BODY, " ", "no Nightwatch-Signature"),
    ("not key=value", [SECRET], BODY, "sha256 abcdef", "malformed"),
    ("no t", [SECRET], BODY, f"v1={_mac(SECRET, NOW, BODY)}", "no t="),
    ("no v1", [SECRET], BODY, f"t={NOW}", "no v1="),
    ("t twice", [SECRET], BODY, f"t={NOW},t={NOW},v1={_mac(SECRET, NOW, BODY)}", "more than once"),
    ("t not digits", [SECRET], BODY, f"t=soon,v1={_mac(SECRET, NOW, BODY)}", "decimal"),
    ("t with a leading zero", [SECRET], BODY, f"t=0{NOW},v1={_mac(SECRET, NOW, BODY)}", "decimal"),
    ("t negative", [SECRET], BODY, f"t=-1,v1={_mac(SECRET, NOW, BODY)}", "decimal"),
    ("v1 too short", [SECRET], BODY, f"t={NOW},v1=abc123", "64 lower-case hex"),
    ("v1 upper case", [SECRET], BODY, f"t={NOW},v1={_mac(SECRET, NOW, BODY).upper()}", "64 lower-case hex"),
    ("several v1, one good", [SECRET], BODY, f"{sig.sign(WRONG, BODY, NOW)},v1={_mac(SECRET, NOW, BODY)}", None),
    (
        "several v1, none good",
        [SECRET],
        BODY,
        f"{sig.sign(WRONG, BODY, NOW)},v1={_mac(OLD_SECRET, NOW, BODY)}",
        "no signature matches",
    ),
    ("spaces and an unknown scheme", [SECRET], BODY, f"t={NOW}, v0=whatever, v1={_mac(SECRET, NOW, BODY)}", None),
    ("too many v1", [SECRET], BODY, f"t={NOW}" + f",v1={_mac(SECRET, NOW, BODY)}" * 9, "more than 8"),
    ("too long", [SECRET], BODY, f"t={NOW},v1={_mac(SECRET, NOW, BODY)}," + "x=y," * 600, "longer than"),
    ("no secret configured", [], BODY, sig.sign(SECRET, BODY, NOW), "no signature matches"),
]


@pytest.mark.parametrize(("case", "secrets", "body", "header", "refused"), CASES, ids=[c[0] for c in CASES])
def test_the_signature_passes_or_is_refused_with_a_reason(
    case: str, secrets: list[str], body: bytes, header: str | None, refused: str | None
) -> None:
    if refused is None:
        assert sig.verify(secrets, body, header, now=NOW) == int(header.split(",")[0][2:])  # type: ignore[union-attr]
        return
    with pytest.raises(sig.SignatureError, match=refused):
        sig.verify(secrets, body, header, now=NOW)


def test_the_worked_example_in_the_docs() -> None:
    body = b'{"source":"sms","from":"+31612345678","text":"Loop iemand met me mee?","id":"SM0001"}'
    header = sig.sign("example-secret-0123456789", body, 1796608800)
    assert header == f"t=1796608800,v1={EXAMPLE_MAC}"
    doc = (Path(__file__).parents[2] / "docs" / "hooks.md").read_text()
    assert header in doc and body.decode() in doc


EXAMPLE_MAC = "45575cdd2d5125ebddc251fe9019f00d7e37d991a8541bef411ad9101e0b1a7b"


@given(st.binary(min_size=16, max_size=64), st.binary(max_size=2000), st.integers(0, 2**36))
def test_what_is_signed_verifies(secret: bytes, body: bytes, t: int) -> None:
    assert sig.verify([secret], body, sig.sign(secret, body, t), now=t) == t


@given(st.binary(min_size=16, max_size=64), st.binary(min_size=1, max_size=2000), st.data())
def test_any_single_byte_changed_fails(secret: bytes, body: bytes, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:i] + bytes([body[i] ^ flip]) + body[i + 1 :]
    with pytest.raises(sig.SignatureError):
        sig.verify([secret], changed, sig.sign(secret, body, NOW), now=NOW)


_ITEM = st.tuples(
    st.sampled_from(["t", "v1", "v0", "", " t", "T", "v1 "]),
    st.sampled_from(["=", "", "==", " = "]),
    st.one_of(
        st.text(max_size=80),
        st.integers(-(2**70), 2**70).map(str),
        st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68),
        st.just(_mac(SECRET, NOW, BODY)),
        st.just(str(NOW)),
    ),
).map("".join)
HEADERS = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.lists(_ITEM, max_size=12).map(",".join),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@given(HEADERS)
def test_whatever_the_header_holds_only_a_signature_error_comes_out(header: str | None) -> None:
    try:
        t = sig.verify([SECRET, OLD_SECRET], BODY, header, now=NOW)
    except sig.SignatureError as e:
        assert str(e)
    else:
        assert t == NOW  # only a header holding the true signature gets here


def test_a_short_secret_is_refused_at_start_up_without_showing_it() -> None:
    with pytest.raises(ValidationError, match=r"hook_secrets\[1\].*at least 16 characters") as e:
        DispatchSettings(hook_secrets=[SECRET, "short-secret"])
    assert "short-secret" not in str(e.value)
    assert DispatchSettings().hook_secrets == []
