"""Apply a platform repository's Mooring resources: all or nothing, in order.

Side effects: API requests through `Kube` (server-side apply, first with dryRun=All), and
reads of namespaces while waiting for the operator to make a new tenant's.

1. Every object is applied as a server-side dry run first: the API server runs its schema,
   CEL rules, admission policies and RBAC on each, and writes nothing. One refusal and
   nothing is applied. An object whose namespace a Tenant of the same change will make
   cannot be dry-run yet: it is judged when its namespace exists (step 3).
2. Then the PlatformConfig, then the Tenants (what they may do depends on it), then the
   rest, each stage before the next.
3. Databases and PolicyExceptions in a new tenant's namespaces wait for the operator to
   make them (at most `wait` seconds), are dry-run, then applied.
If the server fails midway, the result says exactly what was applied and what was not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mooring.api.kinds import KINDS
from mooring.core.plan import ref
from mooring.kube.client import Kube, KubeError, NotFound

KubeObject = dict[str, Any]
STAGES = ("PlatformConfig", "Tenant")  # then everything else
CONCURRENCY = 16
INSTALL_HINT = "; is Mooring installed? run: mooring install apply"
NAMESPACED = frozenset(kind.kind for kind in KINDS if kind.scope == "Namespaced")


@dataclass
class Applied:
    """What happened: the refusals of the dry run, or what was applied and what was not."""

    refused: list[tuple[str, str]] = field(default_factory=list)  # what, why (dry run)
    applied: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # what, why (for real)
    not_applied: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # dry-run only once namespaces exist
    hint: str = ""  # why a refusal may come from the PlatformConfig this change replaces

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed


def ordered(objects: Sequence[KubeObject]) -> list[KubeObject]:
    """PlatformConfig, Tenants, then the rest; file order within each."""
    rank = {kind: index for index, kind in enumerate(STAGES)}
    return sorted(objects, key=lambda o: rank.get(str(o.get("kind")), len(STAGES)))


def _stage(obj: KubeObject) -> int:
    return STAGES.index(obj["kind"]) if obj["kind"] in STAGES else len(STAGES)


def _made_by_tenants(objects: Sequence[KubeObject]) -> dict[str, str]:
    """Namespace -> the Tenant among `objects` that makes it."""
    made = {}
    for obj in objects:
        if obj["kind"] != "Tenant":
            continue
        name = obj["metadata"]["name"]
        for environment in (obj.get("spec") or {}).get("environments") or []:
            made[f"{name}-{environment['name']}"] = name
    return made


async def _each(
    objects: Sequence[KubeObject], job: Any, stop_on_failure: bool = False
) -> list[tuple[KubeObject, str | None]]:
    """Run `job(obj)` for every object, at most CONCURRENCY at once; in input order, the
    error message of each (None when it succeeded). With `stop_on_failure`, nothing new
    starts after a failure (what never started is left out)."""
    limit = asyncio.Semaphore(CONCURRENCY)
    failed = False
    skipped = "skipped"

    async def one(obj: KubeObject) -> str | None:
        nonlocal failed
        async with limit:
            if stop_on_failure and failed:
                return skipped
            try:
                await job(obj)
            except NotFound as error:
                failed = True
                hint = INSTALL_HINT if "has no kind" in error.message else ""
                return error.message + hint
            except KubeError as error:
                failed = True
                return error.message
            return None

    outcomes = await asyncio.gather(*(one(obj) for obj in objects))
    return [
        (obj, outcome)
        for obj, outcome in zip(objects, outcomes, strict=True)
        if outcome is not skipped
    ]


async def _dry_run(kube: Kube, objects: Sequence[KubeObject], result: Applied) -> None:
    async def job(obj: KubeObject) -> None:
        await kube.apply(obj, dry_run=True)

    for obj, error in await _each(objects, job):
        if error is not None:
            result.refused.append((str(ref(obj)), error))
    result.refused.sort()


async def _platform_hint(kube: Kube, objects: Sequence[KubeObject], result: Applied) -> str:
    """When Tenants are refused and this change also changes the PlatformConfig: the server
    judged them by the cluster's current one (the admission policy's params), which may be
    exactly what the change relaxes. All or nothing cannot span that; say what to do."""
    platform = next((o for o in objects if o["kind"] == "PlatformConfig"), None)
    refused = {what for what, _ in result.refused}
    if platform is None or str(ref(platform)) in refused:
        return ""
    if not any(what.startswith("Tenant ") for what in refused):
        return ""
    try:
        live = await kube.get_or_none(platform["apiVersion"], "PlatformConfig", "default")
        merged = await kube.apply(platform, dry_run=True)
    except KubeError:
        return ""
    if live is not None and live.get("spec") == merged.get("spec"):
        return ""
    return (
        "the server judged the Tenants by the cluster's current PlatformConfig, and this "
        "change replaces it; if the new PlatformConfig is what allows them, apply it on "
        "its own first (mooring apply platform.yaml), then the rest"
    )


async def _existing(kube: Kube, namespaces: set[str]) -> set[str]:
    found = await asyncio.gather(
        *(kube.get_or_none("v1", "Namespace", n) for n in sorted(namespaces))
    )
    return {
        n
        for n, obj in zip(sorted(namespaces), found, strict=True)
        if obj is not None and not obj["metadata"].get("deletionTimestamp")
    }


async def _wait_for(kube: Kube, namespaces: set[str], wait: float) -> set[str]:
    """The namespaces still missing after at most `wait` seconds."""
    deadline = time.monotonic() + wait
    missing = set(namespaces)
    while missing:
        missing -= await _existing(kube, missing)
        if not missing or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    return missing


async def apply_all(
    kube: Kube, objects: Sequence[KubeObject], *, dry_run_only: bool = False, wait: float = 60
) -> Applied:
    """Dry-run everything, then apply in order (see the module's docstring)."""
    result = Applied()
    objects = ordered(objects)
    made = _made_by_tenants(objects)
    wanted = {o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")}
    present = await _existing(kube, wanted)
    now: list[KubeObject] = []
    later: list[KubeObject] = []
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        if namespace is None and obj["kind"] in NAMESPACED:
            result.refused.append(
                (
                    str(ref(obj)),
                    "no metadata.namespace: say which of its tenant's namespaces it lives in",
                )
            )
        elif namespace is None or namespace in present:
            now.append(obj)
        elif namespace in made:
            later.append(obj)
            result.deferred.append(str(ref(obj)))
        else:
            result.refused.append(
                (
                    str(ref(obj)),
                    f"namespace {namespace} does not exist, and no Tenant among the inputs "
                    "makes it; a Database or PolicyException lives in a tenant's namespace",
                )
            )
    await _dry_run(kube, now, result)
    if result.refused:
        result.hint = await _platform_hint(kube, now, result)
    if result.refused or dry_run_only:
        return result

    async def job(obj: KubeObject) -> None:
        await kube.apply(obj)

    pending = list(now)
    for stage in range(len(STAGES) + 1):
        batch = [o for o in pending if _stage(o) == stage]
        for obj, error in await _each(batch, job, stop_on_failure=True):
            if error is None:
                result.applied.append(str(ref(obj)))
            else:
                result.failed.append((str(ref(obj)), error))
        if result.failed:
            done = set(result.applied)
            result.not_applied = [str(ref(o)) for o in [*now, *later] if str(ref(o)) not in done]
            return result
    if later:
        missing = await _wait_for(kube, {o["metadata"]["namespace"] for o in later}, wait)
        if missing:
            for obj in later:
                namespace = obj["metadata"]["namespace"]
                if namespace in missing:
                    result.failed.append(
                        (
                            str(ref(obj)),
                            f"namespace {namespace} was not made within {wait:g} s; is the "
                            f"operator running? see: kubectl get tenant {made[namespace]}",
                        )
                    )
            result.not_applied = [str(ref(o)) for o in later]
            return result
        await _dry_run(kube, later, result)
        if result.refused:
            result.failed = list(result.refused)
            result.refused = []
            result.not_applied = [str(ref(o)) for o in later]
            return result
        for obj, error in await _each(later, job, stop_on_failure=True):
            if error is None:
                result.applied.append(str(ref(obj)))
            else:
                result.failed.append((str(ref(obj)), error))
        if result.failed:
            done = set(result.applied)
            result.not_applied = [str(ref(o)) for o in later if str(ref(o)) not in done]
    return result
