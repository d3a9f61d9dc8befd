"""`nightwatch card` and `nightwatch provision --card`: a key ring's wearer's card as a PDF file.

The patrol's number, the public URL and the cancel window come from the dispatch service's own settings
(NIGHTWATCH_DISPATCH_PATROL_PHONE, NIGHTWATCH_DISPATCH_PUBLIC_URL, ...), so a card printed here says what the
board's "print card" says.
"""

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from basestation.dispatch import card, card_pdf
from basestation.dispatch.settings import DispatchSettings


def _label(value: str | None) -> str | None:
    # The registry's column holds this many: the record must not be refused once its key exists.
    if value is not None and len(value) > card.LABEL_MAX:
        raise typer.BadParameter(f"at most {card.LABEL_MAX} characters")
    return value


LabelOption = Annotated[
    str | None,
    typer.Option(
        "--label", callback=_label, help=f"Printed on the card, e.g. a name (<= {card.LABEL_MAX} characters)."
    ),
]


def make_card(device_id: int, label: str | None) -> tuple[card.CardContent, bytes]:
    """Ring ``device_id``'s card and its PDF, made before anything is written."""
    try:
        settings = DispatchSettings()
        content = card.content(device_id, label, settings.patrol_phone, settings.public_url, settings.cancel_window_s)
        return content, card_pdf.render(content)
    except ValidationError as e:
        raise typer.BadParameter(f"the NIGHTWATCH_DISPATCH_* settings: {e}") from None
    except card.CardError as e:
        raise typer.BadParameter(str(e), param_hint="--label") from None


def write_card(out: Path, content: card.CardContent, pdf: bytes) -> None:
    """Write the card to ``out``; warn when it is marked SAMPLE."""
    out.write_bytes(pdf)
    if content.sample:
        typer.echo(
            f"warning: {out} is marked SAMPLE: set NIGHTWATCH_DISPATCH_PATROL_PHONE and NIGHTWATCH_DISPATCH_PUBLIC_URL"
            " before printing cards to hand out",
            err=True,
        )


def card_command(
    device_id: Annotated[int, typer.Option("--device-id", min=0, max=0xFFFFFFFF, help="The ring's id.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")] = Path("card.pdf"),
    label: LabelOption = None,
) -> None:
    """Write the wearer's card of a key ring already provisioned (one A4 page, Dutch and English)."""
    write_card(out, *make_card(device_id, label))
