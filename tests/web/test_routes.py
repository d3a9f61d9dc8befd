"""The web app's HTTP side without a browser: pages in the right language, login and the stream's cookie, and
partials guarded by the same roles as the API."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException
from starlette.requests import Request

from basestation.dispatch.api.auth import STREAM_COOKIE, TokenTable, stream_principal
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from tests.dispatch.conftest import bearer, serve

OPERATOR = "operator-token-0123456789"
ANNA = "responder-token-0123456789"
PROVISION = "provision-token-0123456789"

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


def _run(tmp_path: Path, scenario: Scenario) -> None:
    settings = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tokens={OPERATOR: "operator", ANNA: "responder:anna", PROVISION: "provisioning"},
    )

    async def main(_: Dispatcher, http: httpx.AsyncClient) -> None:
        await http.put("/api/v1/responders/anna", json={"name": "Anna"}, headers=bearer(OPERATOR))
        await scenario(http)

    serve(settings, main)


def test_pages_speak_the_browsers_language_and_the_switch_sticks(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        r = await http.get("/ui/", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert r.status_code == 200 and '<html lang="en"' in r.text and "Sign in" in r.text
        r = await http.get("/ui/", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="nl"' in r.text and "Inloggen" in r.text
        r = await http.get("/ui/lang/en", params={"next": "/ui/operator"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/operator"
        r = await http.get("/ui/", headers={"Accept-Language": "nl-NL"})
        assert '<html lang="en"' in r.text  # the cookie wins over the browser
        r = await http.get("/ui/lang/en", params={"next": "/walk"})
        assert r.headers["location"] == "/walk"
        for evil in ("https://example.org/", "//example.org/ui/", "/ui//example.org", "/walkies", "/ui/\\evil"):
            r = await http.get("/ui/lang/nl", params={"next": evil})
            assert r.headers["location"] == "/ui/"
        assert (await http.get("/ui/lang/de")).status_code == 404
        assert (await http.get("/")).headers["location"] == "/ui/"
        r = await http.get("/ui/manifest.webmanifest")
        assert r.json()["start_url"] == "/ui/responder" and r.json()["display"] == "standalone"
        r = await http.get("/ui/sw.js")
        assert r.status_code == 200 and "showNotification" in r.text

    _run(tmp_path, scenario)


def test_login_sets_the_stream_cookie_and_roles_guard_the_partials(tmp_path: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.post("/ui/login")).status_code == 401
        assert (await http.post("/ui/login", headers=bearer(PROVISION))).status_code == 403
        r = await http.post("/ui/login", headers=bearer(ANNA))
        assert r.json() == {"role": "responder", "responder_id": "anna", "name": "Anna", "home": "/ui/responder"}
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/v1/stream" in cookie
        # The cookie is for the stream only: an action with it and no header is refused.
        http.cookies.set(STREAM_COOKIE, ANNA)
        assert (await http.post("/api/v1/incidents/1-1/decline")).status_code == 401
        assert (await http.get("/ui/partials/responder")).status_code == 401
        r = await http.get("/ui/partials/responder", headers=bearer(ANNA))
        assert r.status_code == 200 and 'data-duty="on"' in r.text
        assert (await http.get("/ui/partials/board", headers=bearer(ANNA))).status_code == 403
        assert (await http.get("/ui/partials/responder", headers=bearer(OPERATOR))).status_code == 403
        for part in ("board", "notices", "registries", "health"):
            assert (await http.get(f"/ui/partials/{part}", headers=bearer(OPERATOR))).status_code == 200, part

    _run(tmp_path, scenario)


def _request(headers: dict[str, str]) -> Request:
    class State:
        tokens = TokenTable({OPERATOR: "operator", ANNA: "responder:anna", PROVISION: "provisioning"})

    class App:
        state = State()

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/api/v1/stream", "headers": raw, "app": App()})


def test_the_stream_takes_the_header_or_the_cookie() -> None:
    from fastapi.security import HTTPAuthorizationCredentials

    assert stream_principal(_request({"Cookie": f"{STREAM_COOKIE}={ANNA}"}), None).responder_id == "anna"
    cred = HTTPAuthorizationCredentials(scheme="Bearer", credentials=OPERATOR)
    assert stream_principal(_request({"Cookie": f"{STREAM_COOKIE}={ANNA}"}), cred).role == "operator"
    with pytest.raises(HTTPException) as e:
        stream_principal(_request({"Cookie": f"{STREAM_COOKIE}=wrong-token-0123456789"}), None)
    assert e.value.status_code == 401
    with pytest.raises(HTTPException) as e:
        stream_principal(_request({"Cookie": f"{STREAM_COOKIE}={PROVISION}"}), None)
    assert e.value.status_code == 403
    with pytest.raises(HTTPException) as e:
        stream_principal(_request({}), None)
    assert e.value.status_code == 401
