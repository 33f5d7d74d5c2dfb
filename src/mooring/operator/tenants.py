"""kopf handlers for Tenants and the objects they own. Thin: events in, services out.

- Tenant created, changed or resumed: services.tenants.reconcile, status, Events.
- Tenant deleted: services.tenants.finalize (kopf's finalizer is mooring.dev/finalizer).
- A managed child changed or deleted: restore it at once from the desired state, which
  is rendered from kopf's index of Tenants (the watch's latest view, not a poll).
- PlatformConfig changed: every tenant is reconciled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf

from mooring.api import names
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.plan import Ref, drifted, ref
from mooring.core.render import Context, Features, render_tenant
from mooring.kube.client import Conflict, Kube, KubeError, NotFound
from mooring.operator.metrics import (
    DRIFT_REPAIRS,
    RECONCILE_ERRORS,
    RECONCILE_SECONDS,
    RECONCILES,
    TENANTS,
)
from mooring.operator.registry import REGISTRY
from mooring.services import tenants as service

TENANTS_RESOURCE = (names.GROUP, names.VERSION, "tenants")
PLATFORM_RESOURCE = (names.GROUP, names.VERSION, "platformconfigs")
CHILD_RESOURCES = (
    ("", "v1", "namespaces"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "limitranges"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    # Watched only once Cilium's CRDs exist; kopf picks the resource up when it appears.
    ("cilium.io", "v2", "ciliumnetworkpolicies"),
)
_STATES: dict[str, str] = {}
# Which tenant wants which namespace, from the index: children are found by namespace
# even when someone stripped their labels.
_NAMESPACE_OWNER: dict[str, str] = {}
for _state in ("True", "False"):
    TENANTS.labels("Ready" if _state == "True" else "NotReady").set_function(
        lambda s=_state: sum(1 for v in _STATES.values() if v == s)  # type: ignore[misc]
    )


# -- indexes: the watch's latest view of tenants and the platform -----------------------------


@kopf.index(*TENANTS_RESOURCE, registry=REGISTRY)
def tenant_index(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    status = body.get("status") or {}
    _STATES[name] = status.get("ready", "False")
    for environment in (body.get("spec") or {}).get("environments") or []:
        _NAMESPACE_OWNER[f"{name}-{environment.get('name')}"] = name
    return {name: dict(body)}


@kopf.index(*PLATFORM_RESOURCE, registry=REGISTRY)
def platform_index(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {name: dict(body)}


@kopf.on.delete(*TENANTS_RESOURCE, registry=REGISTRY, optional=True, id="forget")
def forget(name: str, **_: Any) -> None:
    _STATES.pop(name, None)
    for namespace in [n for n, owner in _NAMESPACE_OWNER.items() if owner == name]:
        del _NAMESPACE_OWNER[namespace]


def _body(raw: Mapping[str, Any]) -> kopf.Body:
    return kopf.Body(cast("kopf.RawBody", raw))


def _single(index: kopf.Index[str, dict[str, Any]], key: str) -> dict[str, Any] | None:
    store = index.get(key)
    return next(iter(store), None) if store else None


# -- tenants ---------------------------------------------------------------------------------


async def _reconcile_and_report(kube: Kube, body: kopf.Body) -> service.Outcome:
    started = time.perf_counter()
    try:
        outcome = await service.reconcile(kube, dict(body))
    except Exception:
        RECONCILES.labels("Tenant", "error").inc()
        raise
    RECONCILE_SECONDS.labels("Tenant").observe(time.perf_counter() - started)
    RECONCILES.labels("Tenant", "ready" if outcome.ready else "not-ready").inc()
    for error in outcome.errors:
        RECONCILE_ERRORS.labels("Tenant", error.step).inc()
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)
    return outcome


@kopf.on.resume(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
@kopf.on.create(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
@kopf.on.update(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
async def reconcile_tenant(
    body: kopf.Body, name: str, memo: kopf.Memo, patch: kopf.Patch, **_: Any
) -> None:
    outcome = await _reconcile_and_report(memo["kube"], body)
    patch["status"] = outcome.status
    _STATES[name] = "True" if outcome.ready else "False"
    if outcome.errors:
        # Status already says what failed; kopf retries with backoff.
        first = "; ".join(f"{e.what}: {e.message}" for e in outcome.errors[:3])
        raise kopf.TemporaryError(f"{len(outcome.errors)} object(s) failed: {first}", delay=5)


@kopf.on.delete(*TENANTS_RESOURCE, registry=REGISTRY)
async def finalize_tenant(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        outcome = await service.finalize(memo["kube"], dict(body))
    except KubeError as error:
        raise kopf.TemporaryError(str(error), delay=5) from error
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)


# -- the platform ----------------------------------------------------------------------------


@kopf.on.create(*PLATFORM_RESOURCE, registry=REGISTRY)
@kopf.on.update(*PLATFORM_RESOURCE, registry=REGISTRY, field="spec")
async def platform_changed(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """Tiers, capacity or peers changed: every tenant renders anew."""
    if name != PLATFORM_CONFIG_NAME:
        return
    tenant_index: kopf.Index[str, dict[str, Any]] = kwargs["tenant_index"]
    kube: Kube = memo["kube"]
    limit = asyncio.Semaphore(8)

    async def one(raw: dict[str, Any]) -> None:
        async with limit:
            if raw["metadata"].get("deletionTimestamp"):
                return
            outcome = await _reconcile_and_report(kube, _body(raw))
            body = raw
            await _write_status(kube, body["metadata"]["name"], outcome.status)

    await asyncio.gather(*(one(b) for key in list(tenant_index) for b in tenant_index[key]))


async def _write_status(kube: Kube, name: str, status: dict[str, Any]) -> None:
    with contextlib.suppress(NotFound):  # deleted meanwhile
        await kube.patch(
            names.API_VERSION, "Tenant", name, {"status": status}, subresource="status"
        )


# -- drift repair ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RenderKey:
    tenant_version: str
    platform_version: str
    cilium: bool


_RENDERS: dict[str, tuple[_RenderKey, dict[Ref, dict[str, Any]]]] = {}


def desired_children(
    tenant_body: Mapping[str, Any], platform_body: Mapping[str, Any], features: Features
) -> dict[Ref, dict[str, Any]]:
    """The rendered objects of a tenant by identity, cached per tenant/platform version."""
    name = tenant_body["metadata"]["name"]
    key = _RenderKey(
        str(tenant_body["metadata"].get("generation")),
        str(platform_body["metadata"].get("generation")),
        features.cilium,
    )
    cached = _RENDERS.get(name)
    if cached is not None and cached[0] == key:
        return cached[1]
    tenant = Tenant.model_validate(tenant_body)
    platform = PlatformConfig.model_validate(platform_body)
    objects = render_tenant(
        Context(tenant, platform.spec, features, tenant_body["metadata"].get("uid"))
    )
    rendered = {ref(obj): obj for obj in objects}
    _RENDERS[name] = (key, rendered)
    return rendered


def _register_child(group: str, version: str, plural: str) -> None:
    # No label filter: kopf filters on the client anyway, and an object whose labels were
    # stripped must still be found (by its namespace) and restored.
    @kopf.on.event(group, version, plural, registry=REGISTRY, id=f"repair-{plural}")
    async def repair(
        type: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
    ) -> None:
        tenant_index: kopf.Index[str, dict[str, Any]] = kwargs["tenant_index"]
        platform_index: kopf.Index[str, dict[str, Any]] = kwargs["platform_index"]
        tenant_name = _owning_tenant(body)
        tenant_body = _single(tenant_index, tenant_name) if tenant_name else None
        platform_body = _single(platform_index, PLATFORM_CONFIG_NAME)
        if tenant_name is None or tenant_body is None or platform_body is None:
            return
        if tenant_body["metadata"].get("deletionTimestamp"):
            return
        features = memo.get("features") or Features()
        try:
            wanted = desired_children(tenant_body, platform_body, features).get(ref(body))
        except ValueError:
            return  # an invalid spec: the tenant's own reconcile reports it
        if wanted is None:
            return
        deleted = type == "DELETED"
        if not deleted and not drifted(wanted, dict(body)):
            return
        kube: Kube = memo["kube"]
        what = str(ref(body))
        try:
            if body["kind"] == "Namespace" and deleted:
                # A namespace went with everything in it: reconcile the whole tenant.
                current = await kube.get_or_none(names.API_VERSION, "Tenant", tenant_name)
                if current is None:
                    return
                outcome = await _reconcile_and_report(kube, _body(current))
                await _write_status(kube, tenant_name, outcome.status)
            else:
                await _restore(kube, wanted)
        except KubeError as error:
            logger.warning(f"could not restore {what}: {error}")
            return
        DRIFT_REPAIRS.labels(body["kind"]).inc()
        kopf.event(
            _body(tenant_body),
            type="Normal",
            reason="DriftRepaired",
            message=f"{what} was {'deleted' if deleted else 'changed'} outside Git; restored",
        )


def _owning_tenant(body: Mapping[str, Any]) -> str | None:
    meta = body.get("metadata") or {}
    labelled: str | None = (meta.get("labels") or {}).get(names.LABEL_TENANT)
    if labelled:
        return labelled
    namespace = meta.get("name") if body.get("kind") == "Namespace" else meta.get("namespace")
    return _NAMESPACE_OWNER.get(namespace or "")


async def _restore(kube: Kube, wanted: dict[str, Any], attempts: int = 3) -> None:
    """Server-side apply; if fields another manager added survive it, replace the object."""
    result = await kube.apply(wanted)
    resource = await kube.resource(wanted["apiVersion"], wanted["kind"])
    for _ in range(attempts):
        if not drifted(wanted, result):
            return
        meta = {**wanted["metadata"], "resourceVersion": result["metadata"]["resourceVersion"]}
        try:
            await kube.request(
                "PUT",
                resource.path(meta.get("namespace"), meta["name"]),
                body={**wanted, "metadata": meta},
                params={"fieldManager": names.FIELD_MANAGER},
                what=str(ref(wanted)),
            )
            return
        except Conflict:  # a controller wrote status meanwhile; read and try again
            result = await kube.get(
                wanted["apiVersion"], wanted["kind"], meta["name"], meta.get("namespace")
            )


for _group, _version, _plural in CHILD_RESOURCES:
    _register_child(_group, _version, _plural)


@kopf.on.startup(registry=REGISTRY)
async def discover(memo: kopf.Memo, **_: Any) -> None:
    memo["features"] = await service.discover_features(memo["kube"])
