"""The public walk-me-home page, /walk: no account, no token. The address printed on every wearer's card
(card.WALK_PATH) and the one to give out on posters. Its script (static/walk.js) talks to /api/v1/walk."""

from fastapi import APIRouter, Request, Response

from basestation.dispatch.api import walk as walk_api
from basestation.dispatch.api.auth import Operator
from basestation.dispatch.api.base import dispatcher
from basestation.dispatch.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/walk")
async def walk_page(request: Request) -> Response:
    d = dispatcher(request)
    s = d.settings
    return render(
        request,
        "walk.html",
        page="walk",
        tile_url=s.map_tile_url,
        patrol_phone=s.patrol_phone,
        hours=s.walk_hours,
    )


@router.get("/ui/partials/walk")
async def walk_desk(request: Request, _: Operator) -> Response:
    """The operators' side of the page: open or closed and why, the switch, the numbers blocked."""
    d = dispatcher(request)
    ws = walk_api.walk_store(request)
    return render(request, "partials/walk_desk.html", hours=await walk_api.hours(d, ws), blocked=await ws.blocks())
