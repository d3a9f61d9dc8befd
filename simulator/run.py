"""One virtual-time run from a scenario to its report: the function the CLI and the tests call.

The report is the one both clocks write (simulator/chain.py, summary.py, report.py, plots.py);
simulator/realtime/run.py is the real-time run.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.engine import Engine
from simulator.engine_api import Progress
from simulator.scenario import Scenario
from simulator.summary import virtual
from simulator.world import build


@dataclass
class Result:
    engine: Engine
    summary: dict[str, Any]
    files: list[Path]


def run(
    scenario: Scenario,
    out: Path | None = None,
    progress: Progress | None = None,
    plots: bool = True,
    fidelity: int = 0,
) -> Result:
    """``fidelity``: replay that many alarm rings under the MicroPython interpreter and compare their frames."""
    engine = Engine(build(scenario), progress)
    engine.run()
    summary = virtual(engine)
    if fidelity:
        from simulator.fidelity import check

        checks = check(engine, fidelity)
        summary["fidelity"] = {
            "runtime": "micropython",
            "rings": len(checks),
            "frames": sum(c.frames for c in checks),
            "identical": sum(1 for c in checks if c.ok),
            "differences": [f"ring {c.ring}: {c.first_difference}" for c in checks if not c.ok],
        }
    files: list[Path] = []
    if out is not None:
        from simulator import plots as plotting
        from simulator import report

        out.mkdir(parents=True, exist_ok=True)
        pngs = plotting.virtual_plots(engine, summary, out) if plots else []
        files = [*pngs, *report.write(summary, pngs, out)]
    return Result(engine, summary, files)
