"""What applying a repository would change in the cluster, via server-side dry-run.

Side effects: read-only API requests (GET, and apply with dryRun=All, which writes
nothing). The comparison drops what the server owns (managedFields, resourceVersion,
status, ...) so only real changes show.
"""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass
from typing import Any, Literal

from mooring.api import names, yamldump
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.plan import plan, ref
from mooring.core.render import Context, render_tenant
from mooring.kube.client import Kube, KubeError
from mooring.services.tenants import discover_features, gather_owned, namespace_contents

KubeObject = dict[str, Any]
SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation")


@dataclass(frozen=True)
class Change:
    action: Literal["create", "update", "delete", "keep", "error"]
    what: str
    diff: str = ""


def _clean(obj: KubeObject | None) -> KubeObject | None:
    if obj is None:
        return None
    clean = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_FIELDS}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(f"{names.KOPF_PREFIX}/")
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    clean["metadata"] = meta
    return clean


def _text(obj: KubeObject | None) -> list[str]:
    return [] if obj is None else yamldump.dump(obj, sort_keys=True).splitlines(keepends=True)


async def _one(kube: Kube, desired: KubeObject, missing: set[str]) -> Change:
    what = str(ref(desired))
    meta = desired["metadata"]
    if meta.get("namespace") in missing:
        # Its namespace is yet to be created, so the server cannot dry-run it.
        lines = difflib.unified_diff([], _text(desired), f"live {what}", f"rendered {what}")
        return Change("create", what, "".join(lines))
    try:
        current = await kube.get_or_none(
            desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace")
        )
        after = await kube.apply(desired, dry_run=True)
    except KubeError as error:
        return Change("error", what, str(error))
    before_text, after_text = _text(_clean(current)), _text(_clean(after))
    if before_text == after_text:
        return Change("keep", what)
    lines = difflib.unified_diff(before_text, after_text, f"live {what}", f"merged {what}")
    return Change("create" if current is None else "update", what, "".join(lines))


async def diff_tenant(
    kube: Kube, tenant: Tenant, platform: PlatformConfig, written: KubeObject
) -> list[Change]:
    """Changes for the Tenant object itself (`written`, as in the file, which is what
    ArgoCD applies) and everything it renders, plus prunes."""
    live = await kube.get_or_none(names.API_VERSION, "Tenant", tenant.name)
    uid = (live or {}).get("metadata", {}).get("uid")
    features = await discover_features(kube)
    desired = render_tenant(Context(tenant, platform.spec, features, uid))
    tenant_object = {**written, "metadata": {"name": tenant.name}}
    namespaces = [o["metadata"]["name"] for o in desired if o["kind"] == "Namespace"]
    found = await asyncio.gather(*(kube.get_or_none("v1", "Namespace", n) for n in namespaces))
    missing = {n for n, obj in zip(namespaces, found, strict=True) if obj is None}
    changes = list(
        await asyncio.gather(*(_one(kube, o, missing) for o in [tenant_object, *desired]))
    )
    observed = await gather_owned(kube, tenant.name, features) if live else []
    wanted = {ref(o) for o in desired}
    leaving = [
        o["metadata"]["name"] for o in observed if o["kind"] == "Namespace" and ref(o) not in wanted
    ]
    contents = {n: await namespace_contents(kube, n) for n in leaving}
    decision = plan(tenant.name, desired, observed, {}, contents, tenant.spec.deletion_policy)
    changes += [Change("delete", str(ref(o))) for o in decision.prune]
    changes += [Change("keep", f"Namespace {r.namespace}", r.reason) for r in decision.retained]
    return changes
