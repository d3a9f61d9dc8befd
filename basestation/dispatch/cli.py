"""`nightwatch dispatch`: run the dispatch service (HTTP API, live stream and MQTT uplinks) in one process."""

import logging
import sys
from typing import Annotated

import typer
import uvloop
from pydantic import ValidationError

from basestation.dispatch.io.keystore import KeyStoreError
from basestation.dispatch.settings import DispatchSettings
from nightwatch import native
from nightwatch.logs import configure as configure_logs


def dispatch(
    mqtt: Annotated[str | None, typer.Option("--mqtt", help="Broker URL, mqtt://host:port.")] = None,
    database: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL; SQLite file by default.")] = None,
    http: Annotated[str | None, typer.Option("--http", help="HOST:PORT for the API and dashboards.")] = None,
    shared_group: Annotated[str | None, typer.Option("--shared-group", help="MQTT v5 shared subscription.")] = None,
    mqtt_protocol: Annotated[int | None, typer.Option("--mqtt-protocol", help="5, or 4 for MQTT 3.1.1.")] = None,
    token: Annotated[list[str] | None, typer.Option("--token", help="TOKEN=ROLE, repeatable.")] = None,
    https_cert: Annotated[str | None, typer.Option("--https-cert", help="PEM certificate: serve HTTPS.")] = None,
    https_key: Annotated[str | None, typer.Option("--https-key", help="PEM private key for --https-cert.")] = None,
    mqtt_tls_ca: Annotated[str | None, typer.Option("--mqtt-tls-ca", help="CA bundle for an mqtts:// broker.")] = None,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="MQTT client id; by default nightwatch-dispatch-<host>-<HTTP port>."),
    ] = None,
    sealing_key_file: Annotated[
        str | None,
        typer.Option("--sealing-key-file", help="The key that seals device keys; made (mode 0600) if missing."),
    ] = None,
    insecure_unsealed_keys: Annotated[
        bool,
        typer.Option("--insecure-unsealed-keys", help="Store device keys unsealed: anyone with the database has them."),
    ] = False,
) -> None:
    """Run the dispatch service. Settings also come from NIGHTWATCH_DISPATCH_* variables."""
    overrides: dict[str, object] = {}
    if mqtt:
        overrides["mqtt_url"] = mqtt
    if database:
        overrides["database_url"] = database
    if http:
        host, _, port = http.rpartition(":")
        overrides["http_host"], overrides["http_port"] = host or "127.0.0.1", int(port)
    if shared_group:
        overrides["shared_group"] = shared_group
    if mqtt_protocol:
        overrides["mqtt_protocol"] = mqtt_protocol
    if token:
        overrides["tokens"] = dict(t.split("=", 1) for t in token)
    for name, value in (
        ("https_cert", https_cert),
        ("https_key", https_key),
        ("mqtt_tls_ca", mqtt_tls_ca),
        ("mqtt_client_id", client_id),
        ("key_sealing_key_file", sealing_key_file),
    ):
        if value:
            overrides[name] = value
    if insecure_unsealed_keys:
        overrides["insecure_unsealed_keys"] = True
    configure_logs(level="INFO")
    try:
        settings = DispatchSettings(**overrides)  # type: ignore[arg-type]
        # Read or made now, so that a key file that cannot be used stops the start with one line, not a traceback.
        settings.sealing_key()
    except (ValidationError, KeyStoreError) as e:
        # Settings refuse values without repeating them (hide_input_in_errors), key files without their content.
        typer.echo(f"nightwatch dispatch: cannot start: {e}", err=True)
        raise typer.Exit(2) from None
    # uvloop: the event loop's own transports and callbacks in C, about a quarter of the CPU an uplink costs
    # on the stock loop (bench/dispatch_bench.py).
    uvloop.run(serve(settings))


# The event loop shares the GIL with the writer's thread, which holds it while it builds a group commit's rows.
# With the default 5 ms switch interval every handoff back to a busy loop can cost 5 ms, several times per commit.
# Measured (bench/dispatch_bench.py, same machine, back to back): stream p99 at 1k uplinks/s 6.6 ms at 0.5 ms
# against 27 ms at 5 ms; at 0.2 ms 1.4-2.1 ms against 2.0-2.6 ms at 0.5 ms (six runs each of 2,000 alarms), with
# the flood's throughput unchanged.
SWITCH_INTERVAL_S = 0.0002


async def serve(settings: DispatchSettings) -> None:
    import uvicorn

    sys.setswitchinterval(SWITCH_INTERVAL_S)

    from basestation.dispatch.api.app import create_app
    from basestation.dispatch.api.server import Server
    from basestation.dispatch.io.mqtt_link import MqttLink
    from basestation.dispatch.io.tls import uvicorn_options
    from basestation.dispatch.service import Dispatcher

    log = logging.getLogger("nightwatch.dispatch")
    stale = native.stale()
    if stale:
        log.warning("compiled modules that run code their source no longer holds: %s; run `make native`", stale)
    log.info("hot path: %d of %d modules compiled (nightwatch/native.py)", len(native.loaded()), len(native.MODULES))
    dispatcher = Dispatcher(settings)
    app = create_app(dispatcher, [MqttLink(broker, dispatcher) for broker in settings.brokers()])
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port, log_level="warning", **uvicorn_options(settings)
    )
    await Server(config, dispatcher.bus).serve()
