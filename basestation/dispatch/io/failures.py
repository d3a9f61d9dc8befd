"""Which failures to handle a message are worth a redelivery: the line between waiting and setting aside.

A message whose handling failed is not acknowledged, so the broker sends it again. That is right when the cause
passes (the database restarting, a lock held, a disk full for a while) and wrong when it does not: the same bytes
meet the same code or the same constraint again, for ever, and every message behind them waits (MQTT delivers in
order). Those go to the dead-letter table instead (docs/dispatch.md, "Messages set aside").

Transient: the operating system's and the network's errors, time-outs, cancellation, and the database's
operational errors (connection lost, locked, read-only, out of space). Permanent: a value the database refuses
(integrity, data, a statement it cannot run) and any error of our own code, which the same input meets again.
A database error of no known kind counts as transient: waiting loses nothing, setting aside might.
"""

import asyncio
import sqlite3

from sqlalchemy import exc as sa_exc

_TRANSIENT = (OSError, TimeoutError, asyncio.CancelledError, MemoryError, sqlite3.OperationalError)
_REFUSED = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
    sqlite3.NotSupportedError,
    sa_exc.IntegrityError,
    sa_exc.DataError,
    sa_exc.ProgrammingError,
    sa_exc.NotSupportedError,
)
_DATABASE = (sqlite3.Error, sa_exc.SQLAlchemyError)


class PermanentError(Exception):
    """Handling this message can never succeed; raised by code that knows so."""


def permanent(error: BaseException) -> bool:
    """Whether handling the same message again would fail the same way."""
    if isinstance(error, PermanentError | sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError):
        return True
    if isinstance(error, _TRANSIENT):
        return False
    if isinstance(error, _REFUSED):
        return True
    if isinstance(error, _DATABASE):
        return False
    return isinstance(error, Exception)


def describe(error: BaseException) -> str:
    """One line for operators: the error's type and message, without a traceback."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
