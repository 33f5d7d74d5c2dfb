"""Argo CD's Applications as Mooring reads them: sync, health and the message a team sees.

`view` is pure (an Application object -> AppView); the rest read or nudge Argo CD through the
API server (Argo CD keeps its state in its own objects, so no Argo CD API is needed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mooring.kube.client import Kube

ARGO_API = "argoproj.io/v1alpha1"
NAMESPACE = "argocd"
REFRESH = "argocd.argoproj.io/refresh"
APPSET_REFRESH = "argocd.argoproj.io/application-set-refresh"


@dataclass(frozen=True)
class ResourceView:
    kind: str
    name: str
    namespace: str
    status: str  # Synced / OutOfSync
    health: str  # Healthy / Progressing / Degraded / Missing / ""
    message: str  # the Lua check's message (needs --persist-resource-health)


@dataclass(frozen=True)
class AppView:
    name: str
    sync: str
    health: str
    revision: str
    operation: str  # the last sync operation's phase: Succeeded, Failed, Running, Error...
    operation_message: str
    conditions: tuple[str, ...] = ()
    resources: tuple[ResourceView, ...] = field(default_factory=tuple)
    # Per-object refusals of the last sync ("... is not permitted in project tenants").
    failures: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        return self.sync == "Synced" and self.health in ("Healthy", "Degraded")

    def why(self) -> str:
        """The first message that explains a non-Healthy Application, for a person."""
        for resource in self.resources:
            if resource.health in ("Degraded", "Missing") and resource.message:
                return f"{resource.kind} {resource.name}: {resource.message}"
        if self.failures:
            return "; ".join(self.failures)
        if self.operation in ("Failed", "Error") and self.operation_message:
            return self.operation_message
        return self.conditions[0] if self.conditions else ""


def view(app: dict[str, Any]) -> AppView:
    """Pure: the parts of an Application's status a person needs."""
    status = app.get("status") or {}
    operation = status.get("operationState") or {}
    resources = tuple(
        ResourceView(
            kind=r.get("kind", ""),
            name=r.get("name", ""),
            namespace=r.get("namespace", ""),
            status=r.get("status", ""),
            health=(r.get("health") or {}).get("status", ""),
            message=(r.get("health") or {}).get("message", ""),
        )
        for r in status.get("resources") or []
    )
    return AppView(
        name=app["metadata"]["name"],
        sync=(status.get("sync") or {}).get("status", ""),
        health=(status.get("health") or {}).get("status", ""),
        revision=(status.get("sync") or {}).get("revision", ""),
        operation=operation.get("phase", ""),
        operation_message=operation.get("message", ""),
        conditions=tuple(
            f"{c.get('type')}: {c.get('message', '')}" for c in status.get("conditions") or []
        ),
        resources=resources,
        failures=tuple(
            f"{r.get('kind')} {r.get('name')}: {r.get('message', '')}"
            for r in (operation.get("syncResult") or {}).get("resources") or []
            if r.get("status") == "SyncFailed"
        ),
    )


async def get(kube: Kube, name: str, namespace: str = NAMESPACE) -> AppView | None:
    app = await kube.get_or_none(ARGO_API, "Application", name, namespace)
    return view(app) if app is not None else None


async def list_views(
    kube: Kube, labels: str | None = None, namespace: str = NAMESPACE
) -> list[AppView]:
    return [view(a) for a in await kube.list(ARGO_API, "Application", namespace, labels=labels)]


async def refresh(kube: Kube, name: str, namespace: str = NAMESPACE, hard: bool = False) -> None:
    """Ask Argo CD to compare the Application with Git now (what a webhook does)."""
    value = "hard" if hard else "normal"
    patch = {"metadata": {"annotations": {REFRESH: value}}}
    await kube.patch(ARGO_API, "Application", name, patch, namespace=namespace)


async def wait_for(
    kube: Kube,
    name: str,
    ready: Callable[[AppView], bool],
    timeout: float = 120,
    what: str = "",
    namespace: str = NAMESPACE,
    nudge: float | None = None,
) -> AppView:
    """Poll until `ready(view)`; on timeout the error says where the Application stands.

    `nudge`: refresh the Application every so many seconds while waiting. Argo CD 3.2 does
    not re-assess an Application when a CRD it created turns Established a moment later
    (the CRD stays Degraded until the next resync, minutes away); a refresh re-assesses it.
    """
    deadline = time.monotonic() + timeout
    last: AppView | None = None
    nudged = time.monotonic()
    while True:
        last = await get(kube, name, namespace)
        if last is not None and ready(last):
            return last
        if nudge is not None and last is not None and time.monotonic() - nudged > nudge:
            await refresh(kube, name, namespace)
            nudged = time.monotonic()
        if time.monotonic() > deadline:
            where = (
                "does not exist"
                if last is None
                else f"is {last.sync}/{last.health}, last sync {last.operation or 'none'}"
                + (f": {last.why()}" if last.why() else "")
            )
            raise TimeoutError(
                f"Application {name} not {what or 'ready'} after {timeout:.0f} s: it {where}"
            )
        await asyncio.sleep(0.2)


def healthy(app: AppView) -> bool:
    return app.sync == "Synced" and app.health == "Healthy"


async def apply_documents(kube: Kube, texts: Iterable[str]) -> list[str]:
    """Apply rendered manifests (`kustomize build bootstrap/` output) in order: Namespaces,
    then Secrets and ConfigMaps, then the rest (projects before Applications)."""
    objects = [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    order = {"Namespace": 0, "Secret": 1, "ConfigMap": 1, "AppProject": 2}
    objects.sort(key=lambda o: order.get(str(o.get("kind")), 3))
    applied = []
    for obj in objects:
        await kube.apply(obj)
        applied.append(f"{obj['kind']} {obj['metadata']['name']}")
    return applied


def changed_tenant_files(paths: Sequence[str]) -> list[str]:
    """Pure: which team files a change touches (tenants/<team>.yaml)."""
    return sorted(
        Path(p).stem for p in paths if p.startswith("tenants/") and p.endswith((".yaml", ".yml"))
    )
