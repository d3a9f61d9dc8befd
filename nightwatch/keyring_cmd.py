"""`nightwatch keyring run` (one key ring on fake hardware), `nightwatch provision` (a new key ring) and
`nightwatch card` (its wearer's card)."""

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from basestation.dispatch import ring_label
from firmware.config import CONFIG_PATH, Config
from firmware.host.interpreter import MissingInterpreterError, micropython_binary
from firmware.host.timeline import TimelineError, load
from nightwatch import provisioning
from nightwatch.card_cmd import LabelOption, card_command, make_card, write_card
from protocol.keys import parse_root_key

ROOT = Path(__file__).resolve().parent.parent

keyring_app = typer.Typer(no_args_is_help=True, help="The key ring firmware on a host.")


def _micropython() -> str:
    try:
        return micropython_binary()
    except MissingInterpreterError as e:
        raise typer.BadParameter(str(e), param_hint="--runtime") from None


@keyring_app.command("run")
def run(
    key: Annotated[str, typer.Option("--key", help="Device root key, 32 hex digits.")],
    device_id: Annotated[int, typer.Option("--device-id", min=0, max=0xFFFFFFFF)],
    timeline: Annotated[
        str, typer.Option("--timeline", help="A timeline file, or inline EVENT@MS items separated by commas.")
    ],
    counter_start: Annotated[int, typer.Option("--counter-start", min=1, max=0xFFFFFFFF)] = 1,
    settings: Annotated[str | None, typer.Option("--settings", help="JSON object of firmware settings.")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="micropython (default) or cpython.")] = "micropython",
) -> None:
    """Run the firmware on fake hardware and a virtual clock; print one JSON line per device action."""
    try:
        root_key = parse_root_key(key)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--key") from None
    try:
        parsed = json.loads(settings) if settings else None
        Config(device_id, root_key, counter_start, parsed)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--settings") from None
    try:
        is_file = Path(timeline).is_file()
    except OSError:  # an inline timeline longer than a file name may be
        is_file = False
    try:
        events = load(str(Path(timeline).resolve()) if is_file else timeline)  # a typo is a usage error here
    except TimelineError as e:
        raise typer.BadParameter(str(e), param_hint="--timeline") from None
    if is_file:
        _run(str(Path(timeline).resolve()), events, device_id, root_key, counter_start, settings, parsed, runtime)
        return
    # MicroPython gets a file either way: its open() of a name several KB long aborts the interpreter.
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "timeline.txt"
        spec.write_text(timeline)
        _run(str(spec), events, device_id, root_key, counter_start, settings, parsed, runtime)


def _run(
    spec: str,
    events: Any,
    device_id: int,
    root_key: bytes,
    counter_start: int,
    settings: str | None,
    parsed: dict[str, Any] | None,
    runtime: str,
) -> None:
    if runtime == "cpython":
        from firmware.host.runner import Run

        summary = Run(Config(device_id, root_key, counter_start, parsed), events).run()
        print(json.dumps(summary))
        return
    if runtime != "micropython":
        raise typer.BadParameter("micropython or cpython", param_hint="--runtime")
    cmd = [_micropython(), "-m", "firmware.host.runner", "--key", "-", "--device-id", str(device_id)]
    cmd += ["--timeline", spec, "--counter-start", str(counter_start)]
    if settings:
        cmd += ["--settings", settings]
    env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen")
    # The key goes through stdin, so it never appears in a process list.
    with subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(root_key.hex() + "\n")
        p.stdin.close()
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
    raise typer.Exit(p.returncode)


def provision(
    device_id: Annotated[int, typer.Option("--device-id", min=0, max=0xFFFFFFFF, help="The id dispatch knows.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the device config file.")] = Path(
        "nightwatch.json"
    ),
    counter_start: Annotated[int, typer.Option("--counter-start", min=1, max=0xFFFFFFFF)] = 1,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
    card: Annotated[Path | None, typer.Option("--card", help="Also write the wearer's card, a PDF, here.")] = None,
    label: LabelOption = None,
    register_at: Annotated[
        str | None,
        typer.Option("--register", metavar="URL", help="Register the ring at the dispatch service at URL."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=provisioning.TOKEN_ENV,
            show_default=False,
            help=f"A provisioning token for --register; better from ${provisioning.TOKEN_ENV}, out of shell history.",
        ),
    ] = None,
    flash_port: Annotated[
        str | None,
        typer.Option("--flash", metavar="PORT", help="Copy the config file onto the ring at this serial port."),
    ] = None,
    label_out: Annotated[
        Path | None,
        typer.Option("--label-out", help="Also write the ring's 50 x 25 mm label (id and QR code), a PDF, here."),
    ] = None,
) -> None:
    """Make a new key ring identity: write its config file, print the record for the dispatch service.

    The root key appears only in the file (mode 0600) and in the printed record. The label goes into the record
    and onto the card. With --register the record goes to dispatch and is printed without its key; with --flash
    the config file goes onto the ring (mpremote) and the ring is reset.
    """
    if out.exists() and not force:
        raise typer.BadParameter(f"{out} exists; --force replaces it (and orphans the old key)", param_hint="--out")
    # Everything that can be refused is refused before the key exists: a key made for nothing is one to destroy.
    if register_at is not None:
        try:
            provisioning.devices_url(register_at)
        except provisioning.RegisterError as e:
            raise typer.BadParameter(str(e), param_hint="--register") from None
        if not token:
            raise typer.BadParameter(
                f"a provisioning token is needed: --token or {provisioning.TOKEN_ENV}", param_hint="--token"
            )
    mpremote = None
    if flash_port is not None:
        try:
            mpremote = provisioning.mpremote_binary()
        except provisioning.FlashError as e:
            raise typer.BadParameter(str(e), param_hint="--flash") from None
    made = make_card(device_id, label) if card is not None else None
    label_pdf = ring_label.render(device_id) if label_out is not None else None
    record = provisioning.Record(device_id, secrets.token_bytes(16), counter_start, label)
    files = provisioning.device_files(record)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(files[CONFIG_PATH])
    os.chmod(out, 0o600)
    printed = record.body()
    if register_at is not None and token:
        try:
            provisioning.register(register_at, token, record)
        except provisioning.RegisterError as e:
            _fail(f"{e}. The new key is only in {out}; nothing was flashed.")
        # Dispatch and the file hold the key now: it need not be on anyone's screen.
        del printed["root_key"]
        printed["registered"] = provisioning.devices_url(register_at)
    if flash_port is not None:
        try:
            provisioning.flash(flash_port, files, mpremote)
        except provisioning.FlashError as e:
            done = "is registered" if register_at is not None else "is not registered"
            _fail(
                f"{e}. Ring {device_id} {done}; its config is in {out}: copy it with"
                f" `mpremote connect {flash_port} fs cp {out} :{CONFIG_PATH}`"
            )
        printed["flashed"] = flash_port
    if card is not None and made is not None:
        write_card(card, *made)
    if label_out is not None and label_pdf is not None:
        label_out.write_bytes(label_pdf)
    print(json.dumps(printed))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(keyring_app, name="keyring")
    app.command(name="provision")(provision)
    app.command(name="card")(card_command)
