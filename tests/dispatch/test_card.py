"""The wearer's card: what it says is what the firmware does (its press words and feedback patterns), the PDF is one
page whose text holds every part in Dutch and English and whose QR code reads back as the walk-me-home URL; the
board's route gives it to operators only, and `nightwatch provision --card` writes it."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

from basestation.dispatch import card, card_pdf
from basestation.dispatch.api.app import create_app
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import PATROL_PHONE_PLACEHOLDER, PUBLIC_URL_PLACEHOLDER, DispatchSettings
from firmware import feedback, press
from firmware.config import DEFAULTS
from harness.dispatch import served
from nightwatch.cli import app as cli
from tests.dispatch.conftest import bearer

PHONE = "+31 71 012 3456"  # no subscriber's: Dutch numbers do not start with 0 after the area code
PUBLIC = "https://nightwatch.leiden.example"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WALK = PUBLIC + "/walk"


@dataclass(frozen=True)
class Read:
    pages: int
    text: str  # every run of white space made one space: lines wrap where the layout needs
    qr: list[str]


def read(pdf: bytes) -> Read:
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0]
        text = " ".join(page.get_textpage().get_text_range().split())
        image = page.render(scale=2).to_pil()  # 144 dpi: a 30 mm code is ~170 px
        codes = [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
        return Read(len(doc), text, codes)
    finally:
        doc.close()


def _card(label: str | None = "Anna's ring", phone: str = PHONE, public: str = PUBLIC) -> card.CardContent:
    return card.content(42, label, phone, public, 120)


# -- what it says ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "feel_en", "feel_nl", "colour"),
    [  # docs/keyring.md, "Feedback patterns"
        ("arming", "1 tick", "1 tik", None),
        ("sending", "1 long pulse", "1 lange trilling", "red"),
        ("escort_sending", "1 long pulse", "1 lange trilling", "blue"),
        ("not_reached", "3 short pulses", "3 korte trillingen", "red"),
        ("received", "2 long pulses", "2 lange trillingen", "green"),
        ("help", "3 long pulses", "3 lange trillingen", "green"),
        ("unavailable", "5 short pulses", "5 korte trillingen", "red"),
        ("closed", "1 very long pulse", "1 heel lange trilling", "green"),
        ("cancelled", "1 short pulse", "1 korte trilling", "amber"),
        ("low_battery", "3 ticks + 3 beeps", "3 tikken + 3 piepjes", "amber"),
        ("test_ok", "2 long pulses", "2 lange trillingen", "green"),
        ("test_failed", "3 short pulses", "3 korte trillingen", "red"),
    ],
)
def test_each_answer_is_described_as_the_firmware_plays_it(
    pattern: str, feel_en: str, feel_nl: str, colour: str | None
) -> None:
    row = next(r for r in card.feedback_rows() if r.pattern == pattern)
    assert (row.feel.en, row.feel.nl, row.colour) == (feel_en, feel_nl, colour)


def test_every_pattern_the_ring_plays_its_wearer_is_on_the_card() -> None:
    # The locator is the help pattern with a chirp, off by default; idle is nothing at all.
    expected = set(feedback.PATTERN_NAMES) - {"idle", "help_locator"}
    assert {r.pattern for r in card.feedback_rows()} == expected
    meanings = {r.pattern: r.means for r in card.feedback_rows()}
    assert "112" in meanings["unavailable"].nl and "112" in meanings["unavailable"].en


def test_the_press_patterns_are_the_firmwares_words() -> None:
    rows = {r.action.en: r for r in card.presses(120)}
    assert [(a, r.how.en, r.how.nl) for a, r in rows.items()] == [
        ("SOS", "hold for 2 s", "houd 2 s ingedrukt"),
        ("Walk me home", "3 short presses", "3x kort"),
        ("Cancel", "3 short presses", "3x kort"),
        ("Cancel under duress", "2 short, then 1 long (long = 0.6-2 s)", "2x kort, dan 1x lang (lang = 0,6-2 s)"),
        ("Test", "5 short presses", "5x kort"),
    ]
    assert "2 minutes" in rows["Cancel"].note.en and "2 minuten" in rows["Cancel"].note.nl


def _gestures(lengths: tuple[int, ...]) -> list[tuple[int, str]]:
    """The firmware's recogniser fed the presses the card pictures, 250 ms apart."""
    timings: dict[str, Any] = DEFAULTS
    rec = press.PressRecogniser(press.PressConfig(*(timings[k] for k in press_keys)))
    edges, t = [], 100
    for ms in lengths:
        edges += [(t, True), (t + ms, False)]
        t += ms + 250
    out = []
    for now in range(0, t + 2000, 5):
        # Polled before the edges of the same instant: a hold of exactly hold_ms is a hold.
        while (g := rec.poll(now)) != press.NONE:
            out.append((g, rec.word))
        while edges and edges[0][0] <= now:
            rec.feed(edges[0][1], edges.pop(0)[0])
    return out


press_keys = ("debounce_ms", "click_max_ms", "gap_ms", "arm_ms", "hold_ms")


def test_the_presses_pictured_are_recognised_by_the_firmware_as_their_action() -> None:
    words = {
        "Walk me home": DEFAULTS["escort_word"],
        "Cancel": DEFAULTS["cancel_word"],
        "Cancel under duress": DEFAULTS["duress_word"],
        "Test": DEFAULTS["test_word"],
    }
    for row in card.presses(120):
        got = _gestures(row.presses)
        if row.action.en == "SOS":
            assert (press.HOLD, "") in got, got
        else:
            assert [w for g, w in got if g == press.WORD] == [words[row.action.en]], row.action.en


def test_other_firmware_settings_give_another_card() -> None:
    rows = card.presses(300, {**DEFAULTS, "hold_ms": 3000, "arm_ms": 1500, "escort_word": "SL"})
    assert rows[0].how.en == "hold for 3 s" and "After 1.5 s" in rows[0].note.en and "Na 1,5 s" in rows[0].note.nl
    assert rows[1].how.en == "1 short, then 1 long (long = 0.6-3 s)"
    assert "5 minutes" in rows[2].note.en


def test_placeholder_settings_make_a_sample() -> None:
    assert not _card().sample
    assert _card(phone=PATROL_PHONE_PLACEHOLDER).sample
    assert _card(public=PUBLIC_URL_PLACEHOLDER + "/").sample
    defaults = DispatchSettings()
    assert (defaults.patrol_phone, defaults.public_url) == (PATROL_PHONE_PLACEHOLDER, PUBLIC_URL_PLACEHOLDER)
    assert "SAMPLE" in read(card_pdf.render(_card(phone=PATROL_PHONE_PLACEHOLDER))).text
    assert "SAMPLE" not in read(card_pdf.render(_card())).text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("public_url", "ftp://nightwatch.example"),
        ("public_url", "nightwatch.example"),
        ("public_url", "https://nightwatch.example/?a=1"),
        ("patrol_phone", "call us"),
        ("patrol_phone", "+31 71 555 0123; DROP"),
    ],
)
def test_settings_refuse_what_cannot_go_on_a_card(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        DispatchSettings(**{name: value})  # type: ignore[arg-type]


def test_the_public_url_loses_its_trailing_slash() -> None:
    s = DispatchSettings(public_url=PUBLIC + "/")
    assert s.public_url == PUBLIC and card.walk_url(s.public_url) == WALK


# -- the PDF --------------------------------------------------------------------------------------------------


def test_the_pdf_is_one_page_with_every_part_in_both_languages_and_a_qr_code_to_the_walk_page() -> None:
    """Its picture goes to docs/screenshots/wearer-card.png."""
    content = _card()
    pdf = card_pdf.render(content)
    got = read(pdf)
    assert got.pages == 1
    expected = [card.NOTICE_112.nl, card.NOTICE_112.en, PHONE, "Key ring 42", "Anna's ring", WALK]
    for lang in card.LANGS:
        for p in content.presses:
            expected += [f"{p.action[lang]}: {p.how[lang]}", p.note[lang]]
        for f in content.feedback:
            expected += [f"{f.feel[lang]}; {f.light[lang]}", f.means[lang]]
        expected += [card.PATROL[lang], card.WALK[lang], card.KEEP_HOME[lang]]
    missing = [s for s in expected if s not in got.text]
    assert missing == []
    assert got.qr == [WALK]
    doc = pdfium.PdfDocument(pdf)
    try:
        picture = doc[0].render(scale=1.5).to_pil().quantize(256, Image.Quantize.FASTOCTREE)  # a third of the bytes
        picture.save(SCREENSHOTS / "wearer-card.png", optimize=True)
    finally:
        doc.close()


def test_the_longest_label_fits_on_the_one_page_of_a_sample_and_markup_in_it_is_text() -> None:
    label = "<b>&amp; " + "W" * (card.LABEL_MAX - 9)
    got = read(card_pdf.render(_card(label=label, phone=PATROL_PHONE_PLACEHOLDER)))
    assert got.pages == 1
    assert label.replace(" ", "") in got.text.replace(" ", "")  # a word this long is broken across lines
    with pytest.raises(card.CardError):
        _card(label="x" * (card.LABEL_MAX + 1))


def test_the_same_card_gives_the_same_bytes() -> None:
    assert card_pdf.render(_card()) == card_pdf.render(_card())


# -- from the board ---------------------------------------------------------------------------------------------

OPERATOR = "card-operator-token-0000"
RESPONDER = "card-responder-token-000"
PROVISION = "card-provision-token-000"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("card") / "d.db"
    tokens = {OPERATOR: "operator", RESPONDER: "responder:anna", PROVISION: "provisioning"}
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{db}", tokens=tokens, patrol_phone=PHONE, public_url=PUBLIC + "/"
    )
    with served(create_app(Dispatcher(settings))) as (base, _loop), httpx.Client(base_url=base, timeout=10) as http:
        ring = {"device_id": 7, "root_key": "00" * 16, "label": "Ring of Ben"}
        assert http.post("/api/v1/devices", json=ring, headers=bearer(PROVISION)).status_code == 201
        yield http


def test_an_operator_gets_the_rings_card(board: httpx.Client) -> None:
    r = board.get("/api/v1/devices/7/card.pdf", headers=bearer(OPERATOR))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert 'filename="nightwatch-card-7.pdf"' in r.headers["content-disposition"]
    got = read(r.content)
    assert got.pages == 1 and got.qr == [WALK]
    assert all(s in got.text for s in ("Key ring 7", "Ring of Ben", PHONE, card.NOTICE_112.en, card.NOTICE_112.nl))
    assert "SAMPLE" not in got.text


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/api/v1/devices/7/card.pdf", RESPONDER, 403),
        ("/api/v1/devices/7/card.pdf", PROVISION, 403),
        ("/api/v1/devices/7/card.pdf", None, 401),
        ("/api/v1/devices/8/card.pdf", OPERATOR, 404),
        ("/api/v1/devices/4294967296/card.pdf", OPERATOR, 422),
    ],
)
def test_the_card_is_refused(board: httpx.Client, path: str, token: str | None, status: int) -> None:
    r = board.get(path, headers=bearer(token) if token else {})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")


def test_the_route_is_in_the_openapi_document(board: httpx.Client) -> None:
    op = board.get("/openapi.json").json()["paths"]["/api/v1/devices/{device_id}/card.pdf"]["get"]
    assert "application/pdf" in op["responses"]["200"]["content"]
    assert {"401", "403", "404"} <= set(op["responses"])


# -- from the command line ----------------------------------------------------------------------------------------


def test_provision_writes_the_card_and_puts_the_label_in_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIGHTWATCH_DISPATCH_PATROL_PHONE", PHONE)
    monkeypatch.setenv("NIGHTWATCH_DISPATCH_PUBLIC_URL", PUBLIC)
    pdf = tmp_path / "card.pdf"
    args = ["provision", "--device-id", "9", "--out", str(tmp_path / "nw.json"), "--card", str(pdf)]
    r = CliRunner().invoke(cli, [*args, "--label", "Chloé"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.output.strip().splitlines()[-1])
    assert record["device_id"] == 9 and record["label"] == "Chloé"
    got = read(pdf.read_bytes())
    assert got.pages == 1 and "Key ring 9" in got.text and "Chloé" in got.text and got.qr == [WALK]


def test_a_card_with_placeholders_is_written_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NIGHTWATCH_DISPATCH_PATROL_PHONE", raising=False)
    monkeypatch.delenv("NIGHTWATCH_DISPATCH_PUBLIC_URL", raising=False)
    pdf = tmp_path / "card.pdf"
    r = CliRunner().invoke(cli, ["card", "--device-id", "9", "--out", str(pdf)])
    assert r.exit_code == 0, r.output
    assert "SAMPLE" in r.output and "NIGHTWATCH_DISPATCH_PATROL_PHONE" in r.output
    assert "SAMPLE" in read(pdf.read_bytes()).text


def test_a_label_too_long_is_refused_before_any_key_is_made(tmp_path: Path) -> None:
    out = tmp_path / "nw.json"
    args = ["provision", "--device-id", "9", "--out", str(out), "--label", "x" * (card.LABEL_MAX + 1)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and not out.exists()
