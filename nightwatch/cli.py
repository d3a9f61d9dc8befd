"""The `nightwatch` command. Each part of the system adds its subcommand here."""

from typing import Annotated

import typer

from basestation.dispatch.cli import dispatch
from basestation.gateway.cli import gateway
from nightwatch.frame_cmd import frame_app
from nightwatch.keyring_cmd import register as register_keyring
from simulator.cli import sim_app

# No local variables in a crash's traceback: the dispatch command's hold its tokens and keys.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Nightwatch: personal alarm key rings.",
)
app.add_typer(frame_app, name="frame")
app.command(name="dispatch")(dispatch)
register_keyring(app)
app.command(name="gateway")(gateway)
app.add_typer(sim_app, name="sim")


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    protocol_tour: Annotated[bool, typer.Option("--protocol-tour", help="Only walk through the frames.")] = False,
) -> None:
    """Run the whole chain on one machine with embedded defaults; Ctrl-C stops it."""
    if protocol_tour:
        from nightwatch.demo.protocol_tour import run as tour

        tour()
        return
    from nightwatch.demo import run

    run(duration)
