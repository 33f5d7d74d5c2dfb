"""A correction to kopf, installed before it runs: a finalizer patch whose answer came too
late no longer leaves its object unhandled.

What goes wrong (kopf 1.45): kopf adds its finalizer with a JSON patch that first tests
`metadata.resourceVersion`. When the API server applies that patch but its answer does not
arrive in time (a stalled or overloaded server, a busy event loop), kopf retries the same
patch; the test now fails (the first attempt changed the version), so kopf keeps the
finalizer change as a "remaining patch" for the next event. That event (the finalizer
having landed) comes, and kopf skips the handlers because a patch is pending; but the
pending patch changes nothing any more, so no request is made, no further event comes, and
the object waits, unhandled, until something else touches it. This is how one Tenant in
10,000 never became Ready (issue 14).

The correction: before kopf processes an event, a remaining patch that would change
nothing in the object as it now is, is dropped; the handlers then run in that same cycle.
A remaining patch that still changes something is left to kopf, which applies it and gets
the event that follows.

Side effects: replaces `kopf._core.reactor.processing.process_resource_event` in this
process. If kopf's internals differ (another version), nothing is replaced and a warning
says so; the periodic resync (operator/resync.py) still finds whatever is left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
_MARK = "_mooring_drops_noop_leftovers"


def install() -> bool:
    """Install the correction (once per process); False if kopf's internals differ."""
    try:
        from kopf._core.reactor import processing  # kopf internals, on purpose
    except ImportError:
        log.warning("kopf's internals changed: the leftover-patch correction is not installed")
        return False
    original = getattr(processing, "process_resource_event", None)
    if original is None:
        log.warning("kopf's internals changed: the leftover-patch correction is not installed")
        return False
    if getattr(original, _MARK, False):
        return True
    fixed = _dropping_noop_leftovers(original)
    setattr(fixed, _MARK, True)
    processing.process_resource_event = fixed  # type: ignore[assignment]
    return True


def _dropping_noop_leftovers(
    original: Callable[..., Awaitable[str | None]],
) -> Callable[..., Awaitable[str | None]]:
    async def process_resource_event(**kwargs: Any) -> str | None:
        raw_event = kwargs["raw_event"]
        raw_body = raw_event["object"]
        memory = await kwargs["memories"].recall(
            raw_body,
            noticed_by_listing=raw_event.get("type") is None,
            memobase=kwargs.get("memobase"),
        )
        leftover = getattr(memory, "remaining_patch", None)
        if leftover and noop_leftover(leftover, raw_body):
            meta = raw_body.get("metadata") or {}
            log.info(
                "%s %s%s: kopf's pending finalizer patch is already in place; handling goes on",
                raw_body.get("kind", "object"),
                f"{meta['namespace']}/" if meta.get("namespace") else "",
                meta.get("name", "?"),
            )
            memory.remaining_patch = None
        return await original(**kwargs)

    return process_resource_event


def noop_leftover(leftover: Any, body: dict[str, Any]) -> bool:
    """Pure: does kopf's remaining patch consist of transformations that change nothing in
    `body` (its finalizer is there already)? A merge part, if any, counts as a change."""
    if dict(leftover):
        return False
    ops: list[Any] = leftover.as_json_patch(body)
    return not ops
