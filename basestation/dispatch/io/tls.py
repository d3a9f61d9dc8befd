"""TLS for the dispatch service's two sides: the MQTT client to the broker, and the HTTPS server of the API.

The broker's certificate is verified against ``mqtt_tls_ca`` when set (a private CA, as deploy/mosquitto/ ships),
else against the system's trust store; a client certificate is sent when the broker asks for one. The API's own
certificate and key go to uvicorn as files (settings ``https_cert`` and ``https_key``).
"""

import ssl
from typing import Any

from basestation.dispatch.settings import DispatchSettings


def mqtt_context(settings: DispatchSettings) -> ssl.SSLContext | bool:
    """What gmqtt's ``connect(ssl=...)`` takes: a verifying context for mqtts://, False for plain mqtt://."""
    if not settings.mqtt_tls:
        return False
    ctx = ssl.create_default_context(cafile=settings.mqtt_tls_ca)
    if settings.mqtt_tls_cert is not None and settings.mqtt_tls_key is not None:
        ctx.load_cert_chain(settings.mqtt_tls_cert, settings.mqtt_tls_key)
    return ctx


def uvicorn_options(settings: DispatchSettings) -> dict[str, Any]:
    """uvicorn.Config's TLS arguments: none for plain HTTP."""
    if settings.https_cert is None or settings.https_key is None:
        return {}
    return {"ssl_certfile": str(settings.https_cert), "ssl_keyfile": str(settings.https_key)}
