"""GET /api/v1/devices/{device_id}/card.pdf: the wearer's card of a registered key ring, for operators to print.

It takes the API's refusals and path types from api.py, which includes this router when it makes the app.
"""

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response, status

from basestation.dispatch import card, card_pdf
from basestation.dispatch.api.auth import Operator
from basestation.dispatch.api.base import AUTH, DeviceId, dispatcher, refusals

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get(
    "/devices/{device_id}/card.pdf",
    response_class=Response,
    responses={
        **AUTH,
        **refusals(404),
        200: {"content": {"application/pdf": {}}, "description": "the card, one A4 page in Dutch and English"},
    },
)
async def device_card(device_id: DeviceId, request: Request, _: Operator) -> Response:
    """The ring's card: its press patterns and what the ring's answers mean, the 112 notice, the patrol's number
    (`patrol_phone`) and a QR code to `public_url`/walk. Marked SAMPLE while either setting is the placeholder."""
    d = dispatcher(request)
    dev = await d.store.device(device_id)
    if dev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    s = d.settings
    content = card.content(device_id, dev["label"], s.patrol_phone, s.public_url, s.cancel_window_s)
    # Laying out the page takes a tenth of a second of pure Python: in a thread, the event loop keeps handling
    # uplinks meanwhile (it gets the GIL back at every switch interval).
    pdf = await asyncio.to_thread(card_pdf.render, content)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="nightwatch-card-{device_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )
