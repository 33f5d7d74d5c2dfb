"""Post Kubernetes Events about Mooring's objects (core/v1 Events, as kubectl shows them).

Side effects: one API request per Event. Works anywhere (kopf's own kopf.event only
inside its handlers). An Event that cannot be posted (its namespace is being deleted) is
dropped: Events are for people, and must never fail the work they describe.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from mooring.kube.client import Kube, KubeError

log = logging.getLogger("mooring.events")
COMPONENT = "mooring"


async def post(kube: Kube, about: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    meta = about["metadata"]
    namespace = meta.get("namespace") or "default"
    now = datetime.datetime.now(datetime.UTC)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
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
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": reason,
        "count": 1,
    }
    try:
        await kube.create(event)
    except KubeError as error:
        log.info("event %s about %s not posted: %s", reason, meta["name"], error)
