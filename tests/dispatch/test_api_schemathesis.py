"""Schemathesis against the API's own OpenAPI document, over real HTTP (uvicorn) to the real app on SQLite: every
operation with generated valid and invalid input, sent as each role and with no token. No answer may be a server
error, and every answer must match what the document declares (status, content type, headers, body schema).

`make test` runs a few dozen examples per operation and role; `make soak` a hundred times more."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from basestation.dispatch.api.app import create_app
from basestation.dispatch.service import Dispatcher
from basestation.dispatch.settings import DispatchSettings
from harness.dispatch import served
from tests.dispatch.world import GATEWAYS, T0, World, envelope, topic
from tests.fuzz import examples

TOKENS = {
    "operator": "schemathesis-operator-token",
    "responder:anna": "schemathesis-anna-token-0001",
    "responder:ben": "schemathesis-ben-token-00001",
    "provisioning": "schemathesis-provision-token",
}
ROLES = [None, *TOKENS]  # None: no token at all
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


class Api:
    def __init__(self, base: str, app: Any) -> None:
        self.base = base
        self.app = app

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("schemathesis") / "d.db"
    settings_ = DispatchSettings(
        database_url=f"sqlite+aiosqlite:///{db}", tokens={t: grant for grant, t in TOKENS.items()}
    )
    dispatcher = Dispatcher(settings_)
    app = create_app(dispatcher)
    with served(app) as (base, loop):
        _populate(Api(base, app), dispatcher, loop)
        yield Api(base, app)


def _populate(api: Api, d: Dispatcher, loop: asyncio.AbstractEventLoop) -> None:
    """Something for every operation to find: gateways, two responders on duty, a key ring with an open alarm."""
    op = api.headers("operator")
    for gw, (lat, lon) in GATEWAYS.items():
        httpx.put(f"{api.base}/api/v1/gateways/{gw}", json={"lat": lat, "lon": lon}, headers=op).raise_for_status()
    for name, (lat, lon) in (("anna", (52.1589, 4.4894)), ("ben", (52.1664, 4.4817))):
        httpx.put(f"{api.base}/api/v1/responders/{name}", json={"name": name}, headers=op).raise_for_status()
        duty = {"on_duty": True, "lat": lat, "lon": lon}
        httpx.put(f"{api.base}/api/v1/me/duty", json=duty, headers=api.headers(f"responder:{name}")).raise_for_status()
    w = World()
    w.ring(7)
    r = httpx.post(f"{api.base}/api/v1/devices", json={"device_id": 7, "root_key": w.roots[7].hex()}, headers=op)
    r.raise_for_status()
    frame, _ = w.frame(7, 1)  # EVENT_SOS
    gw = "gw-breestraat"
    asyncio.run_coroutine_threadsafe(d.on_uplink(topic(gw), envelope(frame, gw, T0)), loop).result(10)


def _document() -> dict[str, Any]:
    # The document depends on the code only; the app made here is never started. (schemathesis's lazy loading
    # from a fixture does not run under pytest 9, so the schema is loaded when the module is.)
    doc: dict[str, Any] = create_app(Dispatcher(DispatchSettings(database_url="sqlite+aiosqlite://"))).openapi()
    return doc


# The live stream never ends by design; its roles are tested in test_api_roles.py.
schema = schemathesis.openapi.from_dict(_document()).exclude(path="/api/v1/stream")


@schema.parametrize()
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented_for_every_role(case: Case[Any], api: Api) -> None:
    generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    had_token = len(generated) != len(case.headers or {})
    for role in ROLES:
        headers = {**generated, **api.headers(role)}
        # A negative case may be negative only by its missing token; the call that adds a real one no longer is.
        faithful = had_token == (role is not None)
        checks = CHECKS if faithful else [c for c in CHECKS if c is not negative_data_rejection]
        response = case.call(base_url=api.base, headers=headers)
        case.validate_response(response, checks=checks, headers=headers)


def test_the_served_document_is_the_one_fuzzed(api: Api) -> None:
    assert httpx.get(f"{api.base}/openapi.json").json() == _document()


def test_the_document_declares_every_refusal() -> None:
    """Each operation that takes a token documents 401 and 403, so a client generated from it handles them."""
    doc = _document()
    missing = [
        (method, path, code)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security")
        for code in ("401", "403")
        if code not in op["responses"]
    ]
    assert missing == []
