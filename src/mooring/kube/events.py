"""Post Kubernetes Events about an object, where `kubectl describe` looks for them.

Side effects: creates (or counts again) core/v1 Events. A failure to post is logged, never
raised: an Event is a courtesy to people, not part of reconciling.

Where: an Event lives in its object's namespace; one about a cluster-scoped object (a
Tenant, the PlatformConfig) lives in "default" with an involvedObject that has *no*
namespace, as client-go's recorder writes it. `kubectl describe tenant X` lists Events
in every namespace with the field selector involvedObject.namespace="" (and the object's
name, kind and uid), so an Event whose involvedObject names "default" is never shown.

The same Event again (same object, type, reason and message) is counted on the existing
one (count, lastTimestamp) instead of piling up, as client-go's correlator does.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from mooring.kube.client import Conflict, Kube, KubeError

log = logging.getLogger(__name__)
# Where client-go's recorder (and so kubectl) puts Events about cluster-scoped objects.
CLUSTER_SCOPED_EVENTS_NAMESPACE = "default"
MAX_MESSAGE = 1024


def event_namespace(about: Mapping[str, Any]) -> str:
    """The namespace an Event about `about` is created in."""
    return str(about["metadata"].get("namespace") or CLUSTER_SCOPED_EVENTS_NAMESPACE)


def involved_object(about: Mapping[str, Any]) -> dict[str, Any]:
    """The Event's involvedObject: no namespace at all for a cluster-scoped object."""
    meta = about["metadata"]
    reference = {
        "apiVersion": about.get("apiVersion"),
        "kind": about.get("kind"),
        "name": meta["name"],
        "uid": meta.get("uid"),
    }
    if meta.get("namespace"):
        reference["namespace"] = meta["namespace"]
    return {k: v for k, v in reference.items() if v}


def _event_name(about: Mapping[str, Any], type_: str, reason: str, message: str) -> str:
    meta = about["metadata"]
    key = "\0".join(
        str(part) for part in (about.get("kind"), meta.get("uid"), meta["name"], type_, reason)
    )
    digest = hashlib.sha256(f"{key}\0{message}".encode()).hexdigest()[:16]
    return f"{meta['name']}.{digest}"


async def post_event(
    kube: Kube,
    about: Mapping[str, Any],
    type_: str,
    reason: str,
    message: str,
    component: str = "mooring",
) -> None:
    meta = about["metadata"]
    namespace = event_namespace(about)
    message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
    name = _event_name(about, type_, reason, message)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved_object(about),
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
    }
    try:
        try:
            await kube.create(event)
        except Conflict:  # the same Event again: count it
            current = await kube.get("v1", "Event", name, namespace)
            await kube.patch(
                "v1",
                "Event",
                name,
                {"count": int(current.get("count") or 1) + 1, "lastTimestamp": now},
                namespace=namespace,
            )
    except KubeError as error:
        log.warning("could not post event %s about %s: %s", reason, meta["name"], error)
