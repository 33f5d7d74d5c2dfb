"""Corrections to kopf, installed before it runs: a finalizer patch whose answer came too
late no longer leaves its object unhandled, and an object waiting for a worker costs a
fraction of what it did.

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

The backlog (issue 14's memory): kopf gives every object with news a queue of its raw watch
events and a worker, and runs at most `worker_limit` workers; the others wait, each with
its queue. Ten thousand Tenants created at once meant ten thousand queues holding the
objects as parsed dicts with their managedFields (about 6 KiB each as Python objects, and
more with every status write that arrived meanwhile), for as long as the backlog lasted.
The queues now keep each event as compact JSON without managedFields (which no handler
reads), parsed again when its worker takes it.

Side effects: replaces `kopf._core.reactor.processing.process_resource_event` and the
per-object `Stream` of `kopf._core.reactor.queueing` in this process. If kopf's internals
differ (another version), nothing is replaced and a warning says so; the periodic resync
(operator/resync.py) still finds whatever is left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

log = logging.getLogger(__name__)
_MARK = "_mooring_drops_noop_leftovers"


def install() -> bool:
    """Install the corrections (once per process); False if kopf's internals differ."""
    return _install_leftovers() & _install_compact_backlog()


def _install_leftovers() -> bool:
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


class Packed(NamedTuple):
    """A raw watch event waiting in a backlog, as compact JSON."""

    raw: bytes


def pack(event: Any) -> Any:
    """Pure: a raw watch event as it waits (compact JSON, without managedFields); anything
    else (kopf's end-of-stream token) as it is."""
    if not isinstance(event, dict):
        return event
    body = event.get("object")
    meta = body.get("metadata") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(meta, dict) and "managedFields" in meta:
        slim_meta = {k: v for k, v in meta.items() if k != "managedFields"}
        event = {**event, "object": {**body, "metadata": slim_meta}}
    return Packed(json.dumps(event, separators=(",", ":")).encode())


def unpack(item: Any) -> Any:
    """Pure: the event as kopf reads it."""
    return json.loads(item.raw) if isinstance(item, Packed) else item


class _Few(list[Any]):
    """A list for the few items (events, waiting futures) of one object's queue: an empty
    deque costs some 600 bytes, an empty list 56, and asyncio.Queue has four of them."""

    def popleft(self) -> Any:
        return self.pop(0)


def _lighten(event: asyncio.Event) -> None:
    """An Event nobody waits for yet, with a list for its waiters."""
    if not event._waiters:
        event._waiters = _Few()  # type: ignore[assignment]


class CompactBacklog(asyncio.Queue[Any]):
    """kopf's per-object queue of raw watch events, keeping each packed until taken, with
    lists for its few waiters and items (about 1 KiB empty instead of 3)."""

    def __init__(self) -> None:
        super().__init__()
        self._getters = _Few()
        self._putters = _Few()
        _lighten(self._finished)  # type: ignore[attr-defined]

    def _init(self, maxsize: int) -> None:
        self._queue = _Few()

    def _put(self, item: Any) -> None:
        self._queue.append(pack(item))

    def _get(self) -> Any:
        return unpack(self._queue.popleft())


def _install_compact_backlog() -> bool:
    try:
        from kopf._core.reactor import queueing  # kopf internals, on purpose
    except ImportError:
        log.warning("kopf's internals changed: its backlog is kept as kopf keeps it")
        return False
    stream = getattr(queueing, "Stream", None)
    fields = getattr(stream, "_fields", None)
    if stream is None or fields != ("backlog", "pressure"):
        log.warning("kopf's internals changed: its backlog is kept as kopf keeps it")
        return False
    if getattr(stream, _MARK, False):
        return True

    class CompactStream(stream):  # type: ignore[misc,valid-type]
        """kopf's Stream, whose backlog is a CompactBacklog whatever kopf passes."""

        def __new__(cls, backlog: Any, pressure: asyncio.Event) -> Any:
            if type(backlog) is asyncio.Queue:
                backlog = CompactBacklog()
            _lighten(pressure)
            return super().__new__(cls, backlog, pressure)

    setattr(CompactStream, _MARK, True)
    queueing.Stream = CompactStream  # type: ignore[misc]
    return True
