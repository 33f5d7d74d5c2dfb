"""Install Mooring's platform objects and apply a platform repository to a cluster.

Side effects: server-side apply of CRDs, ClusterRoles and RBAC; waits for CRDs to be
Established so the kinds they define can be used at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from mooring.api import policyreport
from mooring.core.plan import ref
from mooring.kube.client import Kube

KubeObject = dict[str, Any]


async def wait_established(kube: Kube, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = await kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"CustomResourceDefinition {name} was not Established in {timeout} s")


async def apply_objects(kube: Kube, objects: Sequence[KubeObject]) -> list[str]:
    """Apply in order; CRDs first and waited for, then the rest. Returns what was applied."""
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for obj in crds:
        await kube.apply(obj)
    for obj in crds:
        await wait_established(kube, obj["metadata"]["name"])
    if crds:
        kube.forget_discovery()
    namespaces = [o for o in rest if o["kind"] == "Namespace"]
    others = [o for o in rest if o["kind"] != "Namespace"]
    for obj in namespaces:
        await kube.apply(obj)
    await asyncio.gather(*(kube.apply(o) for o in others))
    return [str(ref(o)) for o in [*crds, *rest]]


async def install_platform(kube: Kube, objects: Sequence[KubeObject]) -> list[str]:
    """Mooring's own objects, and the PolicyReport CRD when the cluster has none yet
    (Kyverno and other tools ship the same one; theirs is then left alone)."""
    extra = []
    if not await kube.has_kind(policyreport.API_VERSION, policyreport.KIND):
        extra.append(policyreport.crd())
    return await apply_objects(kube, [*extra, *objects])
