"""Pages, htmx partials and static files of the web app, under /ui (the API stays under /api/v1).

Pages are shells with no data in them; every partial needs the same bearer token as the API (htmx sends it from
the browser's storage), and shows exactly what the API would show that role. The live stream is the API's own
GET /api/v1/stream, which the browser reads with the cookie that POST /ui/login sets.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from basestation.dispatch import i18n
from basestation.dispatch.api.auth import STREAM_COOKIE, Anyone, Operator, Principal, require
from basestation.dispatch.api.base import dispatcher
from basestation.dispatch.core.referrals import catalogue as referral_catalogue
from basestation.dispatch.io import roster_store
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.web import aftercare_routes, screens, walk_routes
from basestation.dispatch.web.render import WEB, now_ms, page_language, render

log = logging.getLogger("nightwatch.dispatch.web")

NODE_MODULES = WEB / "node_modules"  # filled by `npm ci` from package-lock.json; never committed
VENDOR = {
    "htmx": NODE_MODULES / "htmx.org" / "dist",
    "htmx-ext-sse": NODE_MODULES / "htmx-ext-sse" / "dist",
    "leaflet": NODE_MODULES / "leaflet" / "dist",
}
COOKIE_DAYS = 30
CLOSED_ON_BOARD_MS = 3_600_000  # closed incidents stay on the operator's board for an hour

router = APIRouter(prefix="/ui", include_in_schema=False)
Responding = Annotated[Principal, Depends(require("responder"))]


def _names(d: Dispatcher) -> dict[str, str]:
    # Removed responders too: the incidents they came to still say who came.
    return {**d.state.former, **{r.id: r.name for r in d.state.responders.values()}}


# -- pages ------------------------------------------------------------------------------------------------------


@router.get("/")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", page="login")


@router.get("/responder")
async def responder_page(request: Request) -> Response:
    return render(request, "responder.html", page="responder", tile_url=dispatcher(request).settings.map_tile_url)


@router.get("/operator")
async def operator_page(request: Request) -> Response:
    return render(request, "operator.html", page="operator", tile_url=dispatcher(request).settings.map_tile_url)


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: str = "/ui/") -> Response:
    """A plain link switches the language (no script needed); the choice outlives the browser's preference."""
    if lang not in i18n.LANGUAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such language")
    # Never an open redirect: only our own pages, the public ones (/walk) included.
    ours = (next == "/walk" or next.startswith(("/ui/", "/walk/", "/walk?"))) and "//" not in next and "\\" not in next
    target = next if ours else "/ui/"
    resp = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    resp.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return resp


@router.post("/login")
async def login(request: Request, who: Anyone) -> Response:
    """Checks the bearer token and sets it as the stream's cookie: HttpOnly, SameSite=Strict, sent only to
    GET /api/v1/stream (the one endpoint that reads it)."""
    d = dispatcher(request)
    name = None
    if who.responder_id is not None:
        r = d.state.responders.get(who.responder_id)
        name = r.name if r else who.responder_id
    home = "/ui/operator" if who.role == "operator" else "/ui/responder"
    resp = JSONResponse({"role": who.role, "responder_id": who.responder_id, "name": name, "home": home})
    auth = request.headers.get("authorization", "")
    resp.set_cookie(
        STREAM_COOKIE,
        auth.partition(" ")[2],
        max_age=COOKIE_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/api/v1/stream",
    )
    return resp


@router.post("/logout")
async def logout() -> Response:
    resp = Response(status_code=204)
    resp.delete_cookie(STREAM_COOKIE, path="/api/v1/stream")
    return resp


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    lang = page_language(request)
    doc = {
        "name": "Nightwatch",
        "short_name": "Nightwatch",
        "description": i18n.text(lang, "nav.responder"),
        "lang": lang,
        "start_url": "/ui/responder",
        "scope": "/ui/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#0b0f14",
        "theme_color": "#0b0f14",
        "icons": [{"src": "/ui/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
    }
    return JSONResponse(doc, media_type="application/manifest+json")


@router.get("/sw.js")
async def service_worker() -> Response:
    # Served from /ui/ rather than /ui/static/ so that its scope covers the pages.
    return FileResponse(WEB / "static" / "sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})


# -- partials (htmx) --------------------------------------------------------------------------------------------


@router.get("/partials/responder")
async def responder_partial(request: Request, who: Responding) -> Response:
    d = dispatcher(request)
    rid = who.responder_id or ""
    me = d.state.responders.get(rid)
    pos = screens.Position(me.lat, me.lon) if me and me.lat is not None and me.lon is not None else None
    docs = sorted((i.to_dict() for i in d.state.incidents.values()), key=lambda x: x["opened_ms"], reverse=True)
    screen = screens.responder_screen(docs, rid, _names(d), pos, now_ms())
    lang = page_language(request)
    referrals = [{"id": r["id"], "label": r[lang]} for r in referral_catalogue()]
    return render(
        request,
        "partials/responder.html",
        screen=screen,
        me=me,
        position=pos,
        referrals=referrals,
        duration=screens.duration,
        distance=screens.distance,
    )


async def _board_docs(d: Dispatcher) -> list[dict[str, Any]]:
    now = now_ms()
    live = {i.id: i.to_dict() for i in d.state.incidents.values()}
    stored = [doc for doc in await d.store.incidents(limit=50) if doc["id"] not in live]
    docs = [
        x
        for x in [*live.values(), *stored]
        if x["state"] not in ("resolved", "cancelled") or now - int(x["updated_ms"]) < CLOSED_ON_BOARD_MS
    ]
    # Active first (the newest on top), then what closed lately.
    docs.sort(key=lambda x: (x["state"] in ("resolved", "cancelled"), -int(x["opened_ms"])))
    return docs


@router.get("/partials/board")
async def board_partial(request: Request, _: Operator) -> Response:
    d = dispatcher(request)
    docs = await _board_docs(d)
    events = {doc["id"]: await d.store.incident_events(doc["id"]) for doc in docs[:30]}
    names = _names(d)

    def people(ids: list[str]) -> str:
        return ", ".join(names.get(i, i) for i in ids)

    return render(
        request,
        "partials/board.html",
        incidents=docs[:30],
        events=events,
        names=names,
        people=people,
        responders=sorted(d.state.responders.values(), key=lambda r: r.name),
        referrals=[{"id": r["id"], "label": r[page_language(request)]} for r in referral_catalogue()],
        event_text=screens.event_text,
        duration=screens.duration,
        kind_of=screens.kind_of,
    )


@router.get("/partials/notices")
async def notices_partial(request: Request, _: Operator) -> Response:
    notices = await dispatcher(request).store.notices(limit=30)
    return render(request, "partials/notices.html", notices=notices, notice_text=screens.notice_text)


@router.get("/partials/registries")
async def registries_partial(request: Request, _: Operator) -> Response:
    d = dispatcher(request)
    return render(
        request,
        "partials/registries.html",
        devices=sorted(d.state.devices.items()),
        labels=await roster_store.labels(d.store),
        gateways=sorted(d.state.gateways.values(), key=lambda g: g.id),
        responders=sorted(d.state.responders.values(), key=lambda r: r.name),
        duration=screens.duration,
    )


@router.get("/partials/health")
async def health_partial(request: Request, _: Operator) -> Response:
    d = dispatcher(request)
    meter: screens.Throughput = request.app.state.web_throughput
    figures = screens.health_figures(d.health(), meter, now_ms())
    return render(request, "partials/health.html", h=figures)


def install(app: FastAPI) -> None:
    """Add the web app to the service: pages and partials under /ui, our static files and the npm packages."""
    app.state.web_throughput = screens.Throughput()
    app.include_router(router)
    app.include_router(walk_routes.router)
    aftercare_routes.install(app)
    app.mount("/ui/static", StaticFiles(directory=WEB / "static"), name="ui-static")
    for name, folder in VENDOR.items():
        if not folder.is_dir():
            log.warning("web app: %s is missing; run `npm ci` in %s", folder, WEB)
        app.mount(f"/ui/vendor/{name}", StaticFiles(directory=folder, check_dir=False), name=f"ui-vendor-{name}")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/ui/")
