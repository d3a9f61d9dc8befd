"""axe-core in the browser tests: injected into the page under test from the web app's node_modules (a dev
dependency in package.json; the service never serves it), run with every rule at its default, and its violations
put into words a failing assertion can show."""

from typing import Any

from playwright.sync_api import Page

from basestation.dispatch.web.routes import NODE_MODULES

AXE = NODE_MODULES / "axe-core" / "axe.min.js"


def violations(page: Page, exclude: list[str] | None = None, disable: dict[str, str] | None = None) -> list[Any]:
    """axe's violations on the page as it is now. ``exclude`` are selectors left out of the check; ``disable`` turns
    off rules by id, each with the reason it cannot apply (the reason is there to be read, axe does not use it)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if disable:
        options["rules"] = {rule: {"enabled": False} for rule in disable}
    context: dict[str, Any] = {"include": [["html"]], "exclude": [[s] for s in exclude or []]}
    result: dict[str, Any] = page.evaluate("([context, options]) => axe.run(context, options)", [context, options])
    found: list[Any] = result["violations"]
    return found


def report(found: list[Any]) -> str:
    """One line per failing element: the rule, its impact, the element and axe's summary of what to fix."""
    lines = []
    for v in found:
        for node in v["nodes"]:
            summary = " ".join(str(node.get("failureSummary", "")).split())
            lines.append(f"{v['id']} ({v['impact']}): {node['target']} {node['html'][:160]} -- {summary[:300]}")
    return "\n".join(lines)


def check(page: Page, where: str, **kwargs: Any) -> None:
    found = violations(page, **kwargs)
    assert not found, f"axe on {where}:\n{report(found)}"
