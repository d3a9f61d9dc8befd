"""The "every press reaches a person" section of both modes' Markdown reports, from simulator/reach.py's numbers."""

from typing import Any

from simulator.reach import SHOWN

ACT_LABELS = {
    "sos": "SOS",
    "false_alarm": "SOS, cancelled by the wearer (false alarm)",
    "late_cancel": "SOS, cancelled after the cancel window",
    "sos_then_duress": "SOS, then a duress",
    "duress": "duress word",
    "again_while_open": "SOS again, while help comes",
    "again_after_close": "SOS again, after the alarm was resolved",
    "escort": "escort, patrol on shift",
    "escort_out_of_hours": "escort, no patrol on shift",
}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def markdown(r: dict[str, Any]) -> list[str]:
    timeout = r["offer_timeout_s"]
    lines = [
        "## Every press reaches a person",
        "",
        f"A press reached a person when, within {timeout:.0f} s (the offer timeout) of its first copy reaching "
        "dispatch, the incident holding it was offered to a responder, accepted, or escalated to the operators; "
        "presses the wearer cancelled within the cancel window are not judged, nor presses no copy of ever reached "
        "dispatch (never heard). Judged from dispatch's own incident log.",
        "",
        f"**{r['reached']} of {r['judged']} presses reached a person ({_pct(r['share'])})**; "
        f"{r['cancelled_in_window']} cancelled within the window, {r['never_heard']} never heard, "
        f"{r['run_ended']} too late in the run to judge. How: {_how(r['how'])}.",
        "",
        "| Act | presses | never heard | cancelled | reached | share | "
        + " | ".join(f"shown {s}" for s in (*SHOWN, "nothing"))
        + " |",
        "|---|---|---|---|---|---|" + "---|" * (len(SHOWN) + 1),
    ]
    for act, row in r["by_act"].items():
        shown = " | ".join(str(row["shown"][s]) for s in (*SHOWN, "nothing"))
        lines.append(
            f"| {ACT_LABELS.get(act, act)} | {row['presses']} | {row['never_heard']} | {row['cancelled_in_window']} "
            f"| {row['reached']} of {row['judged']} | {_pct(row['share'])} | {shown} |"
        )
    ooh = r["escorts_out_of_hours"]
    lines += [
        "",
        f"Escorts asked for while no patrol was on shift: {ooh['heard_unavailable']} of {ooh['heard_by_dispatch']} "
        f'heard by dispatch were told "nobody can come" on the ring ({_pct(ooh["share"])}).',
    ]
    if "planned" in r:
        lines += ["", f"Planned presses by act: {_how(r['planned'])}."]
    head = ["| ring | act | counter | pressed (s) | incident | why |", "|---|---|---|---|---|---|"]
    for title, key in (("Not reached", "not_reached"), ("Never heard", "never_heard_presses")):
        if r[key]:
            lines += ["", f"{title}:", "", *head]
            lines += [_listed(x) for x in r[key]]
    other = r.get("recognised_otherwise", [])
    if other:
        lines += ["", "Gestures the ring read otherwise than meant (the firmware decides what a word means):", ""]
        lines += [f"- ring {x['ring']} ({x['act']}): meant {x['meant']}, read as {x['recognised']}" for x in other]
    return [*lines, ""]


def _how(d: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in d.items()) or "-"


def _listed(x: dict[str, Any]) -> str:
    return f"| {x['ring']} | {x['act']} | {x['counter']} | {x['pressed_s']} | {x['incident'] or '-'} | {x['why']} |"
