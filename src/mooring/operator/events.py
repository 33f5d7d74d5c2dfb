"""kopf's warnings about an object become Events on it, where `kubectl describe` looks.

Side effects: a logging handler on kopf's per-object logger that posts Events (through
kube.events.post_event) in tasks on the operator's event loop.

kopf can post these itself, but it gives an Event about a cluster-scoped object (a Tenant)
an involvedObject in namespace "default", and `kubectl describe tenant` asks for
involvedObject.namespace="" and never shows it. So kopf's own posting is off
(operator/settings.py), Mooring's handlers post their Events with post_event, and this
bridge carries what kopf itself has to say (a handler that failed and will be retried).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mooring.kube.client import Kube
from mooring.kube.events import post_event
from mooring.operator.logs import quiet_for_events

KOPF_OBJECT_LOGGER = "kopf.objects"


class EventBridge(logging.Handler):
    """Posts WARNING and ERROR records about an object (kopf's `k8s_ref`) as Events."""

    def __init__(self, kube: Kube, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self._kube = kube
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        ref = getattr(record, "k8s_ref", None)
        if not isinstance(ref, dict) or not ref.get("name") or getattr(record, "k8s_skip", False):
            return
        if quiet_for_events(record):
            return  # an Event per retry would add load when the server has least room
        about: dict[str, Any] = {
            "apiVersion": ref.get("apiVersion"),
            "kind": ref.get("kind"),
            "metadata": {
                "name": ref["name"],
                "namespace": ref.get("namespace"),
                "uid": ref.get("uid"),
            },
        }
        reason = "HandlerError" if record.levelno >= logging.ERROR else "HandlerWarning"
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break the operator
            return
        # Log records can come from other threads (kopf's sync handlers).
        self._loop.call_soon_threadsafe(self._post, about, reason, message)

    def _post(self, about: dict[str, Any], reason: str, message: str) -> None:
        task = self._loop.create_task(post_event(self._kube, about, "Warning", reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_async(self) -> None:
        logging.getLogger(KOPF_OBJECT_LOGGER).removeHandler(self)
        await asyncio.sleep(0)  # posts scheduled from emit() start first
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def install(kube: Kube) -> EventBridge:
    """Attach a bridge to kopf's per-object logger; `close_async` detaches it."""
    bridge = EventBridge(kube, asyncio.get_running_loop())
    logging.getLogger(KOPF_OBJECT_LOGGER).addHandler(bridge)
    return bridge
