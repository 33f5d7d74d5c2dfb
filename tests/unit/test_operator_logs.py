"""The operator's log lines name their object, and expected waits are warnings without a
traceback; real failures stay errors with theirs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mooring.operator.events import EventBridge
from mooring.operator.logs import OperatorLines, waiting_message

TENANT = {"apiVersion": "mooring.dev/v1alpha1", "kind": "Tenant", "name": "team5606"}
DATABASE = {"kind": "Database", "name": "orders", "namespace": "team-dev"}


def record(
    message: str,
    level: int = logging.ERROR,
    name: str = "kopf.objects",
    ref: dict[str, Any] | None = None,
    exc_info: Any = None,
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, None, exc_info)
    if ref is not None:
        made.k8s_ref = ref  # type: ignore[attr-defined]
    return made


def passed(made: logging.LogRecord) -> logging.LogRecord:
    assert OperatorLines().filter(made)
    return made


def failure(error: BaseException) -> Any:
    """exc_info as logging gets it inside an `except` block."""
    return (type(error), error, error.__traceback__)


def test_a_line_about_a_tenant_names_it() -> None:
    line = passed(record("Handler 'reconcile_tenant' succeeded.", logging.INFO, ref=TENANT))
    assert line.getMessage() == "Tenant team5606: Handler 'reconcile_tenant' succeeded."


def test_a_line_about_a_namespaced_object_names_its_namespace() -> None:
    line = passed(record("Creation is processed.", logging.INFO, ref=DATABASE))
    assert line.getMessage().startswith("Database team-dev/orders: ")


def test_a_patch_kopf_will_retry_is_a_warning() -> None:
    line = passed(
        record(
            "Request attempt #1/9 failed; will retry: PATCH https://x/tenants/team5606 -> "
            "TimeoutError()",
            ref=TENANT,
        )
    )
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith("Tenant team5606: Request attempt #1/9 failed")


def test_a_handler_failing_temporarily_is_a_warning() -> None:
    line = passed(record("Handler 'reconcile_tenant' failed temporarily: 429", ref=TENANT))
    assert line.levelno == logging.WARNING


def test_a_short_stall_prints_no_traceback() -> None:
    line = passed(
        record(
            "Throttling for 1 seconds due to an unexpected error: TimeoutError()",
            ref=TENANT,
            exc_info=failure(TimeoutError()),
        )
    )
    assert line.levelno == logging.WARNING
    assert line.exc_info is None


def test_an_unexpected_error_stays_an_error_with_its_traceback() -> None:
    line = passed(
        record(
            "Throttling for 1 seconds due to an unexpected error: KeyError('spec')",
            ref=TENANT,
            exc_info=failure(KeyError("spec")),
        )
    )
    assert line.levelno == logging.ERROR
    assert line.exc_info is not None


def test_a_handler_that_gave_up_stays_an_error() -> None:
    line = passed(record("Handler 'reconcile_tenant' failed permanently: bad spec", ref=TENANT))
    assert line.levelno == logging.ERROR


def test_a_request_kopf_gives_up_under_429s_is_a_warning_but_a_refusal_stays_an_error() -> None:
    refused = passed(
        record(
            "Request attempt #14/14 failed; escalating: PATCH https://x/tenants/team1 -> "
            "APITooManyRequestsError('Too many requests, please try again later.', status=429)",
            ref=TENANT,
        )
    )
    assert refused.levelno == logging.WARNING
    forbidden = passed(
        record(
            "Request attempt #14/14 failed; escalating: PATCH https://x/tenants/team1 -> "
            "APIForbiddenError('tenants is forbidden')",
            ref=TENANT,
        )
    )
    assert forbidden.levelno == logging.ERROR


class _Recorded(EventBridge):
    """The bridge with its posting recorded instead of sent (what is posted, not how)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(None, loop)  # type: ignore[arg-type]
        self.posted: list[tuple[str, str]] = []

    def _post(self, about: dict[str, Any], reason: str, message: str) -> None:
        self.posted.append((reason, message))


async def test_a_wait_kopf_recovers_from_is_no_event_but_a_failure_is() -> None:
    bridge = _Recorded(asyncio.get_running_loop())
    bridge.handle(
        record(
            "Request attempt #1/9 failed; will retry: PATCH https://x/tenants/team5606 -> "
            "TimeoutError()",
            ref=TENANT,
        )
    )
    bridge.handle(record("Handler 'reconcile_tenant' failed with an exception.", ref=TENANT))
    await asyncio.sleep(0)
    assert bridge.posted == [
        ("HandlerError", "Handler 'reconcile_tenant' failed with an exception.")
    ]


async def test_a_handler_waiting_for_the_api_server_is_no_event_but_objects_refused_are() -> None:
    """Both are warnings in the log; only the wait for the API server stays off the Tenant's
    Events (the team sees why its objects were refused in `kubectl describe`)."""
    busy = waiting_message("Tenant team1: 429 Too Many Requests", 429)
    assert busy is not None and waiting_message("Forbidden", 403) is None
    bridge = _Recorded(asyncio.get_running_loop())
    bridge.handle(record(f"Handler 'reconcile_tenant' failed temporarily: {busy}", ref=TENANT))
    refused = "Handler 'reconcile_tenant' failed temporarily: 1 object(s) failed: quota refused"
    bridge.handle(record(refused, ref=TENANT))
    await asyncio.sleep(0)
    assert bridge.posted == [("HandlerError", refused)]
    assert passed(record(refused, ref=TENANT)).levelno == logging.WARNING
