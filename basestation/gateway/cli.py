"""``nightwatch gateway``: options on the command line override NIGHTWATCH_GATEWAY_* variables."""

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from basestation.gateway.relay import run
from basestation.gateway.settings import GatewaySettings


def gateway(
    gateway_id: Annotated[str | None, typer.Option("--id", help="Gateway id, part of every topic.")] = None,
    mqtt: Annotated[str | None, typer.Option("--mqtt", help="Broker URL, mqtt://host:port or mqtts://.")] = None,
    mqtt_mirror: Annotated[
        str | None, typer.Option("--mqtt-mirror", help="A second broker that gets every frame too, from its own spool.")
    ] = None,
    ble: Annotated[bool | None, typer.Option("--ble/--no-ble", help="Scan BLE adverts.")] = None,
    semtech_udp: Annotated[
        str | None, typer.Option("--semtech-udp", help="HOST:PORT for Semtech UDP packet forwarders.")
    ] = None,
    position: Annotated[str | None, typer.Option("--position", help="LAT,LON of the gateway.")] = None,
    spool: Annotated[Path | None, typer.Option("--spool", help="SQLite spool file.")] = None,
    username: Annotated[str | None, typer.Option("--username", help="MQTT user name.")] = None,
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="CA bundle to verify the broker.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    """Relay key-ring frames heard over BLE and LoRa to the MQTT broker, spooling on disk while it is away.

    The password and the other settings come from NIGHTWATCH_GATEWAY_* variables (docs/gateway.md)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    given: dict[str, Any] = {
        "id": gateway_id,
        "mqtt": mqtt,
        "mqtt_mirror": mqtt_mirror,
        "ble": ble,
        "semtech_udp": semtech_udp,
        "position": position,
        "spool": spool,
        "username": username,
        "tls_ca": tls_ca,
    }
    try:
        settings = GatewaySettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as err:
        typer.echo(f"invalid gateway settings:\n{err}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(_main(settings))


async def _main(settings: GatewaySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> None:
    typer.run(gateway)
