"""What of a URL or an error may be logged: a receiver's URL often is a credential (a token in its path or query,
a user and password, a Web Push endpoint), and an error about a URL quotes it, or most of it."""

import logging
from urllib.parse import urlsplit

# A secret is taken to show when any run of this many of its characters does: enough to tell what the error was
# about, too few to make use of.
SHOWN_RUN = 8

# Libraries that log what they were given: httpx each request's whole URL at INFO (httpcore more at DEBUG), and a
# webhook's URL or a push endpoint may be a credential in itself; aiosqlite every statement with its parameters
# at DEBUG: push secrets, sealed keys, people's phone numbers. Their warnings and errors still come through.
CHATTY = ("httpx", "httpcore", "aiosqlite")


def quiet_chatty_libraries() -> None:
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def url(text: str) -> str:
    """Only where it goes, ``scheme://host[:port]``: no user, password, path, query or fragment."""
    try:
        u = urlsplit(text)
        port = u.port
    except ValueError:
        return "<unreadable url>"
    if not u.scheme or not u.hostname:
        return "<unreadable url>"
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    return f"{u.scheme}://{host}" + (f":{port}" if port is not None else "")


def hidden(text: str) -> list[str]:
    """The parts of a URL that ``url`` leaves out, or all of it if it does not parse."""
    try:
        u = urlsplit(text)
        u.port  # noqa: B018 -- raises for a port that is not a number, which then shows in errors
    except ValueError:
        return [text]
    return [p for p in (u.username, u.password, u.path, u.query, u.fragment) if p]


def shows(text: str, secret: str) -> bool:
    """Whether ``text`` holds ``secret`` or any SHOWN_RUN characters of it in a row."""
    if len(secret) <= SHOWN_RUN:
        return bool(secret) and secret in text
    return any(secret[i : i + SHOWN_RUN] in text for i in range(len(secret) - SHOWN_RUN + 1))


def error(e: BaseException, *secrets: str) -> str:
    """The error's kind, and its message when that shows none of ``secrets``."""
    message = str(e)
    if not message or any(shows(message, s) for s in secrets):
        return type(e).__name__
    return f"{type(e).__name__}: {message}"
