"""What each role sees of an incident. A responder sees what they need to help, no device identity."""

from collections.abc import Callable
from typing import Any

from basestation.dispatch.api.auth import Principal

RESPONDER_FIELDS = ("id", "kind", "state", "forced", "opened_ms", "press_ms", "updated_ms", "location", "arrived_ms")
# A phone intake's: where and what, for everyone it is offered to.
CALL_FIELDS = ("source", "address", "notes", "destination")
# Who called, and how to reach them: only for the responder who accepted (and operators).
CALLER_FIELDS = ("callback_number", "caller_name")


def readers(doc: dict[str, Any]) -> tuple[str, ...]:
    """The responders who may see an incident: everyone it was offered to, and whoever accepted it."""
    return tuple(dict.fromkeys((*doc.get("offered_to", ()), *doc.get("accepted_by", ()))))


def visible_to(who: Principal, doc: dict[str, Any]) -> bool:
    if who.role == "operator":
        return True
    rid = who.responder_id
    return rid is not None and (rid in doc.get("offered_to", ()) or rid in doc.get("accepted_by", ()))


def incident_view(who: Principal, doc: dict[str, Any], name: Callable[[str], str]) -> dict[str, Any]:
    """``name`` gives a responder's name by id (the id itself for one no longer known)."""
    if who.role == "operator":
        return doc
    view = {k: doc.get(k) for k in RESPONDER_FIELDS}
    view["accepted_by"] = [name(r) for r in doc.get("accepted_by", ())]
    view["you_accepted"] = who.responder_id in doc.get("accepted_by", ())
    if "callback_number" in doc:
        view.update({k: doc.get(k) for k in CALL_FIELDS})
        if view["you_accepted"]:
            view.update({k: doc.get(k) for k in CALLER_FIELDS})
    return view
