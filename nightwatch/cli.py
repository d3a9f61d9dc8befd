"""The `nightwatch` command. Each part of the system adds its subcommand here."""

import typer

from basestation.dispatch.cli import dispatch
from nightwatch.frame_cmd import frame_app
from nightwatch.keyring_cmd import register as register_keyring

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Nightwatch: personal alarm key rings.")
app.add_typer(frame_app, name="frame")
app.command(name="dispatch")(dispatch)
register_keyring(app)


@app.command()
def demo() -> None:
    """Show what the system does so far, on embedded defaults."""
    from nightwatch.demo import run

    run()
