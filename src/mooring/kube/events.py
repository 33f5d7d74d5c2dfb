"""Post Kubernetes Events about an object (for code that runs outside a kopf handler).

Side effects: creates core/v1 Events. A failure to post is logged, never raised: an Event
is a courtesy to people, not part of reconciling.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from mooring.kube.client import Kube, KubeError

log = logging.getLogger(__name__)


async def post_event(
    kube: Kube,
    about: Mapping[str, Any],
    type_: str,
    reason: str,
    message: str,
    component: str = "mooring",
) -> None:
    meta = about["metadata"]
    # Events about cluster-scoped objects live in "default", as kubectl describe expects.
    namespace = meta.get("namespace") or "default"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": about.get("apiVersion"),
            "kind": about.get("kind"),
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
    }
    try:
        await kube.create(event)
    except KubeError as error:
        log.warning("could not post event %s about %s: %s", reason, meta["name"], error)
