"""Structured logs: one JSON object per line (structlog), for every service, from stdlib logging calls too.

Secrets never reach a log line by construction: keys and tokens are not passed to loggers anywhere (tests grep
a full run's logs for them); this module adds a last guard that masks values of keys named like secrets.
"""

import logging
import sys
from typing import Any

import structlog

_SECRET_WORDS = ("key", "token", "secret", "password")


def _mask_secrets(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for k in list(event):
        if any(w in k.lower() for w in _SECRET_WORDS):
            event[k] = "***"
    return event


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
