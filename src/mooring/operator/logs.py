"""The operator's log lines: each names the object it is about, and waits that are part of
normal work (the API server refusing or stalling for a while, a retry kopf will make) are
warnings without a traceback, not errors.

Side effects: `install()` adds a filter to the root logger's handlers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# How a handler's TemporaryError says the API server was busy (`waiting_message`); other
# temporary failures (objects refused, a database not ready) are for the team to see.
API_WAIT = "waiting for the API server"
_HANDLER_WAIT = re.compile(r"failed temporarily: ")
_API_WAIT = re.compile(r"failed temporarily: " + API_WAIT)
# kopf's own lines for waits it recovers from by itself (a request it gives up on is
# handled again later: kopf's throttling, then the resync).
_KOPF_WAITS = (
    re.compile(r"^Request attempt #\d+(/\d+)? failed; will retry"),
    re.compile(
        r"^Request attempt #\d+(/\d+)? failed; escalating: .* -> "
        r"(TimeoutError|ServerTimeoutError|ConnectionTimeoutError|ClientConnectorError|"
        r"ServerDisconnectedError|ClientOSError|APITooManyRequestsError|APIServerError)\("
    ),
    _HANDLER_WAIT,
    re.compile(r"^Throttling for \S+ seconds due to an unexpected error: "),
)
# Exceptions that only say the API server was slow, refusing or away for a moment.
_TRANSIENT_NAMES = frozenset(
    {
        "TimeoutError",
        "ServerTimeoutError",
        "ConnectionTimeoutError",
        "SocketTimeoutError",
        "ClientConnectorError",
        "ClientConnectionError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "APITooManyRequestsError",
        "APIServerError",
        "APISessionClosed",
        "ConnectionResetError",
        "ConnectionRefusedError",
    }
)


def object_name(ref: Any) -> str:
    """`Tenant team5606` or `Database team-dev/orders`, from kopf's reference of an object."""
    if not isinstance(ref, dict):
        return ""
    namespace = ref.get("namespace")
    name = ref.get("name") or "?"
    return f"{ref.get('kind') or 'object'} {namespace + '/' if namespace else ''}{name}"


def _transient(exc_info: Any) -> bool:
    if not exc_info or not isinstance(exc_info, tuple) or exc_info[1] is None:
        return False
    error: BaseException | None = exc_info[1]
    while error is not None:
        if type(error).__name__ in _TRANSIENT_NAMES:
            return True
        error = error.__cause__ or error.__context__
    return False


def waiting_message(error: object, status: int) -> str | None:
    """The TemporaryError text for an API error that only says the server was busy, refusing
    or away (no answer, 429, 503, 504); None for any other error."""
    if status == 0 or status in (429, 503, 504):
        return f"{API_WAIT}: {error}"
    return None


def expected_wait(record: logging.LogRecord) -> bool:
    """A kopf line about a wait it recovers from by itself (the API server slow, refusing
    or away for a moment): worth a warning, not an error, nor an Event on the object."""
    if not record.name.startswith("kopf"):
        return False
    message = record.getMessage()
    if not any(p.search(message) for p in _KOPF_WAITS):
        return False
    return record.exc_info is None or _transient(record.exc_info)


def quiet_for_events(record: logging.LogRecord) -> bool:
    """An expected wait that is no Event either: a handler's temporary failure is one only
    when it waits for the API server (an Event per retry would add load when the server has
    least room); objects refused or a database not ready are the team's to see."""
    if not expected_wait(record):
        return False
    message = record.getMessage()
    return not _HANDLER_WAIT.search(message) or bool(_API_WAIT.search(message))


class OperatorLines(logging.Filter):
    """Names the object in kopf's per-object lines; turns expected waits into warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        name = object_name(getattr(record, "k8s_ref", None))
        if name and not message.startswith(name):
            message = f"{name}: {message}"
        if record.levelno == logging.ERROR and expected_wait(record):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = message, None
        return True


def install() -> None:
    """Add the filter to every handler of the root logger (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OperatorLines) for f in handler.filters):
            handler.addFilter(OperatorLines())
