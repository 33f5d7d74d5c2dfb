"""Reconcile one Tenant: gather (read the cluster), decide (core), act (apply, prune, status).

Side effects: API requests through `Kube`. Every step runs even when an earlier one
failed; each failure becomes a condition naming the object and the reason, so one bad
NetworkPolicy never stops the quota from being applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mooring.api import names
from mooring.api.documents import model_errors
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig
from mooring.api.status import Condition, set_condition
from mooring.api.tenant import NamespaceStatus, QuotaUsage, Tenant, TenantStatus
from mooring.core.cost.budget import CostBasis, first_cost
from mooring.core.isolation import Refusal, refused_subjects, reserved_message, squatted
from mooring.core.plan import Adopt, Plan, drifted, plan, ref
from mooring.core.render import Context, Features, render_tenant
from mooring.core.render.cilium import CiliumOnly, cilium_only
from mooring.core.render.quotas import QUOTA_NAME
from mooring.core.render.view import is_view, view_namespace_of, view_status, with_status
from mooring.core.validate import check_tenant
from mooring.kube.client import Kube, KubeError, NotFound

KubeObject = dict[str, Any]
Clock = Callable[[], datetime.datetime]

# The kinds a Tenant owns, in the order they are applied, with the step each belongs to.
OWNED_KINDS: tuple[tuple[str, str, str], ...] = (
    ("v1", "Namespace", "NamespacesReady"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "AccessReady"),
    ("v1", "ResourceQuota", "QuotaReady"),
    ("v1", "LimitRange", "LimitsReady"),
    ("networking.k8s.io/v1", "NetworkPolicy", "NetworkReady"),
    ("cilium.io/v2", "CiliumNetworkPolicy", "NetworkReady"),
    ("v1", "ConfigMap", "ObserveReady"),
    ("monitoring.coreos.com/v1", "PrometheusRule", "ObserveReady"),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig", "ObserveReady"),
    ("grafana.integreatly.org/v1beta1", "GrafanaDashboard", "ObserveReady"),
    # Sent after the status, which it carries (core/render/view.py).
    (names.API_VERSION, "TenantView", "AccessReady"),
)
# Kinds owned only where their CRDs are installed: the Features flag that says so.
OPTIONAL_KINDS: dict[str, str] = {
    "CiliumNetworkPolicy": "cilium",
    "PrometheusRule": "prometheus_operator",
    "AlertmanagerConfig": "alertmanager_config",
    "GrafanaDashboard": "grafana_operator",
}
STEP_OF_KIND = {kind: step for _, kind, step in OWNED_KINDS}
STEPS = tuple(dict.fromkeys(step for _, _, step in OWNED_KINDS)) + ("PruneComplete",)

# What makes a namespace hold data: workloads and volumes (and managed databases).
DATA_KINDS: tuple[tuple[str, str, str], ...] = (
    ("v1", "Pod", "Pods"),
    ("v1", "PersistentVolumeClaim", "PersistentVolumeClaims"),
    ("apps/v1", "Deployment", "Deployments"),
    ("apps/v1", "StatefulSet", "StatefulSets"),
    ("apps/v1", "DaemonSet", "DaemonSets"),
    ("batch/v1", "Job", "Jobs"),
    ("batch/v1", "CronJob", "CronJobs"),
    (names.API_VERSION, "Database", "Databases"),
)
CONCURRENCY = 16


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(clock: Clock) -> str:
    return clock().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class View(Protocol):
    """What the operator already knows from its watches (informers), to ask less of the
    API server. Without a view, the service lists and gets what it needs."""

    def owned(self, tenant: str) -> list[KubeObject]:
        """Objects labelled as this tenant's, of the kinds a Tenant owns."""
        ...

    def namespace(self, name: str) -> KubeObject | None: ...

    def platform_config(self) -> KubeObject | None:
        """The PlatformConfig as last watched (None: not there)."""
        ...


@dataclass(frozen=True)
class StepError:
    step: str
    what: str
    message: str


@dataclass
class Outcome:
    """What a reconcile did: for status, Events and metrics."""

    status: dict[str, Any]
    ready: bool
    applied: int = 0
    sent: list[str] = field(default_factory=list)  # what was applied because it differed
    pruned: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)
    errors: list[StepError] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)  # members left out of the bindings
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message


async def load_platform(kube: Kube, view: View | None = None) -> PlatformConfig | None:
    raw = view.platform_config() if view is not None else None
    if raw is None:  # not watched yet, or really absent: ask
        raw = await kube.get_or_none(names.API_VERSION, "PlatformConfig", PLATFORM_CONFIG_NAME)
    return None if raw is None else parse_platform(raw)


_PARSED: dict[str, PlatformConfig] = {}


def parse_platform(raw: KubeObject) -> PlatformConfig:
    """The PlatformConfig model, parsed once per resourceVersion (every tenant reads it)."""
    version = raw.get("metadata", {}).get("resourceVersion")
    if version is None:
        return PlatformConfig.model_validate(raw)
    parsed = _PARSED.get(version)
    if parsed is None:
        parsed = PlatformConfig.model_validate(raw)
        _PARSED.clear()  # only the latest version is ever wanted
        _PARSED[version] = parsed
    return parsed


def kind_wanted(kind: str, features: Features) -> bool:
    """Is this owned kind installed (or always there)?"""
    flag = OPTIONAL_KINDS.get(kind)
    return flag is None or bool(getattr(features, flag))


async def discover_features(kube: Kube) -> Features:
    found = {
        flag: await kube.has_kind(api, kind)
        for api, kind, _ in OWNED_KINDS
        if (flag := OPTIONAL_KINDS.get(kind)) is not None
    }
    return Features(**found)


# -- gather ---------------------------------------------------------------------------------


async def gather_owned(kube: Kube, tenant: str, features: Features) -> list[KubeObject]:
    """Every object labelled as Mooring's and this tenant's, across the owned kinds."""
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY},{names.LABEL_TENANT}={tenant}"
    kinds = [(api, kind) for api, kind, _ in OWNED_KINDS if kind_wanted(kind, features)]
    listings = await asyncio.gather(*(kube.list(api, kind, labels=selector) for api, kind in kinds))
    return [obj for listing in listings for obj in listing]


async def namespace_contents(kube: Kube, namespace: str) -> str:
    """'2 Deployments, 1 PersistentVolumeClaims' or '' when it holds no data."""

    async def count(api: str, kind: str) -> int:
        try:
            return len(await kube.list(api, kind, namespace, page=50))
        except NotFound:  # the kind is not installed (Database without its CRD)
            return 0

    counts = await asyncio.gather(*(count(api, kind) for api, kind, _ in DATA_KINDS))
    return ", ".join(
        f"{n} {label}" for n, (_, _, label) in zip(counts, DATA_KINDS, strict=True) if n
    )


async def _existing_namespaces(kube: Kube, desired: Iterable[KubeObject]) -> dict[str, KubeObject]:
    wanted = [o["metadata"]["name"] for o in desired if o["kind"] == "Namespace"]
    found = await asyncio.gather(*(kube.get_or_none("v1", "Namespace", n) for n in wanted))
    return {n: obj for n, obj in zip(wanted, found, strict=True) if obj is not None}


async def _existing_tenants(kube: Kube, tenant: Tenant) -> set[str]:
    network = tenant.spec.network
    referenced = set(network.ingress.from_tenants) | set(network.egress.to_tenants)
    found = await asyncio.gather(
        *(kube.get_or_none(names.API_VERSION, "Tenant", n) for n in sorted(referenced))
    )
    return {n for n, obj in zip(sorted(referenced), found, strict=True) if obj is not None} | {
        tenant.name
    }


# -- act --------------------------------------------------------------------------------------


async def _apply_all(kube: Kube, objects: Sequence[KubeObject]) -> list[StepError]:
    """Apply namespaces first, then everything else concurrently, and the ResourceQuotas
    last; collect every error.

    Quotas last: the quota controller's first count of a new quota misses the namespace's
    ConfigMaps. Created beside them, a quota's count stayed so until the controller's
    periodic resync, minutes later; created after them, it is put right seconds later and
    comes to what first_count said in the reconcile's status, so that the operator's quota
    watch has nothing to write (operator/tenants.py Watches._write_usage)."""
    errors: list[StepError] = []
    limit = asyncio.Semaphore(CONCURRENCY)

    async def apply(obj: KubeObject) -> None:
        async with limit:
            try:
                await kube.apply(obj)
            except KubeError as error:
                errors.append(
                    StepError(STEP_OF_KIND.get(obj["kind"], "Apply"), str(ref(obj)), error.message)
                )

    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    await asyncio.gather(*(apply(o) for o in namespaces))
    failed = {e.what.split(" ", 1)[1] for e in errors}
    rest = [
        o
        for o in objects
        if o["kind"] != "Namespace" and o["metadata"].get("namespace") not in failed
    ]
    await asyncio.gather(*(apply(o) for o in rest if o["kind"] != "ResourceQuota"))
    await asyncio.gather(*(apply(o) for o in rest if o["kind"] == "ResourceQuota"))
    return errors


async def _prune(kube: Kube, objects: Sequence[KubeObject]) -> tuple[list[str], list[StepError]]:
    pruned: list[str] = []
    errors: list[StepError] = []

    async def delete(obj: KubeObject) -> None:
        meta = obj["metadata"]
        try:
            await kube.delete(
                obj["apiVersion"],
                obj["kind"],
                meta["name"],
                meta.get("namespace"),
                uid=meta.get("uid"),
            )
            pruned.append(str(ref(obj)))
        except KubeError as error:
            errors.append(StepError("PruneComplete", str(ref(obj)), error.message))

    await asyncio.gather(*(delete(o) for o in objects))
    return sorted(pruned), errors


async def _mark_adopted(kube: Kube, namespace: str, previous_uid: str) -> None:
    """Record on an adopted namespace which deleted Tenant it was kept from."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "annotations": {names.ANNOTATION_ADOPTED_FROM: previous_uid},
            },
        },
        field_manager=f"{names.FIELD_MANAGER}-adopt",
    )


async def _mark_retained(kube: Kube, namespace: str, reason: str | None) -> None:
    """Annotate why a namespace is kept; None takes the annotation away again.

    A field manager of its own, so that applying nothing under it removes exactly this.
    """
    meta: dict[str, Any] = {"name": namespace}
    if reason is not None:
        meta["annotations"] = {names.ANNOTATION_RETAINED: reason}
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
        field_manager=f"{names.FIELD_MANAGER}-retain",
    )


def conflicted_names(decision: Plan) -> set[str]:
    return {c.namespace for c in decision.conflicts}


# The namespaces of these whose guardrails are not in force yet (no GuardrailContext), after
# a bounded wait: the operator's guardrails write them (operator/guardrails.py).
Guarded = Callable[[Sequence[str]], Awaitable[list[str]]]
GUARDRAILS_PENDING = (
    "its guardrails are not in force yet (no GuardrailContext), and admission refuses its "
    "workloads until the operator's guardrails write it; trying again"
)


# -- reconcile -------------------------------------------------------------------------------


async def reconcile(
    kube: Kube,
    body: KubeObject,
    clock: Clock = utc_now,
    view: View | None = None,
    cost_basis: CostBasis | None = None,
    guarded: Guarded | None = None,
) -> Outcome:
    """Bring the cluster to what the Tenant says; return the status to write.

    With a `view`, objects that already match what is desired are not sent again. With
    the last cost refresh's `cost_basis`, a Tenant that has no status.cost yet gets the one
    that refresh would have written (nothing so far), in the same write as the rest. With
    `guarded`, the tenant is Ready only once each of its namespaces has its GuardrailContext:
    the enforcing admission policy fails closed without one, so a team applying its first
    Deployment the moment its tenant is Ready would be refused.
    """
    meta = body["metadata"]
    generation = meta.get("generation")
    previous = TenantStatus.model_validate(body.get("status") or {})
    now = timestamp(clock)

    async def failed(reason: str, message: str) -> Outcome:
        conditions = set_condition(
            previous.conditions, "Ready", "False", reason, message, now, generation
        )
        status = previous.model_copy(
            update={"conditions": conditions, "observed_generation": generation, "ready": "False"}
        )
        outcome = Outcome(_dump(status), ready=False, events=[("Warning", reason, message)])
        try:
            await write_view_status(kube, body, outcome.status)
        except KubeError as error:  # not retried: the spec fails as it is, again and again
            outcome.events.append(
                ("Warning", "TenantViewFailed", f"could not write the TenantView: {error}")
            )
        return outcome

    # gather
    tenant_model, errors = model_errors(Tenant, body)
    if tenant_model is None:
        detail = "; ".join(f"{e.dotted}: {e.message}" for e in errors)
        return await failed("InvalidSpec", detail)
    assert isinstance(tenant_model, Tenant)
    tenant = tenant_model
    try:
        platform = await load_platform(kube, view)
    except ValueError:  # pydantic's ValidationError: the PlatformConfig's status says why
        return await failed(
            "InvalidPlatformConfig",
            f"PlatformConfig {PLATFORM_CONFIG_NAME!r} is not valid; its status says why "
            f"(kubectl describe platformconfig {PLATFORM_CONFIG_NAME})",
        )
    if platform is None:
        return await failed(
            "NoPlatformConfig",
            f"PlatformConfig {PLATFORM_CONFIG_NAME!r} does not exist; apply the platform's "
            "platform.yaml",
        )
    known = await _existing_tenants(kube, tenant)
    findings = check_tenant(tenant, platform.spec, known)
    problems = [f for f in findings if f.severity == "error"]
    if problems:
        detail = "; ".join(f"{f.field_path}: {f.message}" for f in problems)
        return await failed("InvalidSpec", detail)
    warnings = [f"{f.field_path}: {f.message}" for f in findings if f.severity == "warning"]
    # Members that would open the tenant to everyone are left out of the RoleBindings (the
    # renderer leaves them out too); reserved namespaces are refused as conflicts below.
    refusals = refused_subjects(tenant, platform.spec)
    reserved = {
        namespace: reserved_message(namespace, why)
        for _, namespace, why in squatted(tenant, platform.spec)
    }
    features = await discover_features(kube)
    desired = render_tenant(Context(tenant, platform.spec, features, meta.get("uid")))
    wanted_namespaces = [o["metadata"]["name"] for o in desired if o["kind"] == "Namespace"]
    if view is not None:
        observed = view.owned(tenant.name)
        existing = {n: obj for n in wanted_namespaces if (obj := view.namespace(n)) is not None}
    else:
        observed = await gather_owned(kube, tenant.name, features)
        existing = await _existing_namespaces(kube, desired)
    wanted = {ref(o) for o in desired}
    leaving = [
        o["metadata"]["name"] for o in observed if o["kind"] == "Namespace" and ref(o) not in wanted
    ]
    contents = dict(
        zip(
            leaving,
            await asyncio.gather(*(namespace_contents(kube, n) for n in leaving)),
            strict=True,
        )
    )

    # decide
    decision = plan(
        tenant.name,
        desired,
        observed,
        existing,
        contents,
        tenant.spec.deletion_policy,
        meta.get("uid"),
        Adopt(
            frozenset(a.namespace for a in tenant.spec.adopt if a.namespace),
            frozenset(a.tenant_uid for a in tenant.spec.adopt if a.tenant_uid),
        ),
        reserved,
    )

    # act
    # The TenantView carries the status, so it is sent after the status is known.
    views = [o for o in decision.apply if is_view(o)]
    to_send = [o for o in decision.apply if not is_view(o)]
    current = {ref(o): o for o in observed}
    if view is not None:
        to_send = [o for o in to_send if ref(o) not in current or drifted(o, current[ref(o)])]
    errors_ = await _apply_all(kube, to_send)
    for adopted in decision.adopted:
        try:
            await _mark_adopted(kube, adopted.namespace, adopted.previous_uid)
        except KubeError as error:
            errors_.append(
                StepError("NamespacesReady", f"Namespace {adopted.namespace}", error.message)
            )
    pruned, prune_errors = await _prune(kube, decision.prune)
    errors_ += prune_errors
    for retained in decision.retained:
        try:
            await _mark_retained(kube, retained.namespace, retained.reason)
        except KubeError as error:
            errors_.append(
                StepError("PruneComplete", f"Namespace {retained.namespace}", error.message)
            )
    for namespace, current_ns in existing.items():
        # Wanted again (environment re-added, tenant re-created): no longer "retained".
        annotations = current_ns.get("metadata", {}).get("annotations") or {}
        if names.ANNOTATION_RETAINED in annotations and namespace not in conflicted_names(decision):
            try:
                await _mark_retained(kube, namespace, None)
            except KubeError as error:
                errors_.append(
                    StepError("NamespacesReady", f"Namespace {namespace}", error.message)
                )

    if guarded is not None and not errors_:
        conflicted = conflicted_names(decision)
        pending = await guarded([n for n in wanted_namespaces if n not in conflicted])
        for namespace in pending:
            errors_.append(
                StepError("NamespacesReady", f"Namespace {namespace}", GUARDRAILS_PENDING)
            )

    # Allowances only Cilium enforces: without it they are not rendered, and status says so.
    unenforced = [] if features.cilium else cilium_only(tenant)

    def status_of(errors: Sequence[StepError]) -> TenantStatus:
        return _status(
            tenant,
            previous,
            decision,
            observed,
            errors,
            warnings,
            generation,
            now,
            platform,
            refusals,
            unenforced,
            [n for n in wanted_namespaces if n not in existing],
        )

    status = status_of(errors_)
    cost = (body.get("status") or {}).get("cost")
    first = None
    if not cost and cost_basis is not None:
        found = first_cost(cost_basis, tenant.name, tenant.spec.budget)
        first = None if found is None else found.dumped()
    views_sent, view_errors = await _write_views(kube, views, _dump(status), cost or first, current)
    if view_errors:
        errors_ += view_errors
        status = status_of(errors_)
    to_send += views_sent
    outcome = Outcome(
        _dump(status) if first is None else {**_dump(status), "cost": first},
        ready=status.ready == "True",
        applied=len(to_send),
        sent=[str(ref(o)) for o in to_send] if view is not None else [],
        pruned=pruned,
        retained=[r.namespace for r in decision.retained],
        errors=errors_,
        refusals=refusals,
    )
    outcome.events = _events(outcome, decision, previous)
    return outcome


async def _write_views(
    kube: Kube,
    views: Sequence[KubeObject],
    status: dict[str, Any],
    cost: dict[str, Any] | None,
    current: dict[Any, KubeObject],
) -> tuple[list[KubeObject], list[StepError]]:
    """Apply the TenantView with the status just computed, unless it already says so.

    A view whose cost is behind the Tenant's is not sent for that alone (the cost loop
    keeps it, services/cost_status.py); when sent, it carries the Tenant's cost, so that
    a new view has one at once and the field always has this writer too."""
    sent: list[KubeObject] = []
    errors: list[StepError] = []
    for desired in views:
        live = current.get(ref(desired))
        live_cost = ((live or {}).get("status") or {}).get("cost")
        if (
            live is not None
            and not drifted(with_status(desired, status), live)
            and (live_cost or not cost)
        ):
            continue
        full = with_status(desired, status, cost)
        try:
            await kube.apply(full)
            sent.append(full)
        except KubeError as error:
            errors.append(StepError("AccessReady", str(ref(desired)), error.message))
    return sent, errors


async def write_view_status(kube: Kube, body: KubeObject, status: dict[str, Any]) -> None:
    """Put a status the reconcile wrote without rendering (an invalid spec, no
    PlatformConfig) on the tenant's TenantView too, if it has one, so that members see it."""
    namespace = view_namespace_of(body)
    if namespace is None:
        return
    with contextlib.suppress(NotFound):  # no view yet: it is made with the next render
        await kube.patch(
            names.API_VERSION,
            "TenantView",
            body["metadata"]["name"],
            {"status": view_status(status)},
            namespace=namespace,
            field_manager=f"{names.FIELD_MANAGER}-status",
        )


def _status(
    tenant: Tenant,
    previous: TenantStatus,
    decision: Plan,
    observed: Sequence[KubeObject],
    errors: Sequence[StepError],
    warnings: Sequence[str],
    generation: int | None,
    now: str,
    platform: PlatformConfig,
    refusals: Sequence[Refusal] = (),
    unenforced: Sequence[CiliumOnly] = (),
    new_namespaces: Collection[str] = (),
) -> TenantStatus:
    conditions = previous.conditions
    by_step: dict[str, list[StepError]] = {}
    for error in errors:
        by_step.setdefault(error.step, []).append(error)
    for step in STEPS:
        failures = by_step.get(step, [])
        if failures:
            message = "; ".join(f"{e.what}: {e.message}" for e in failures)
            conditions = set_condition(
                conditions, step, "False", "ApplyFailed", message, now, generation
            )
        else:
            conditions = set_condition(conditions, step, "True", "Applied", "", now, generation)
    if unenforced and "NetworkReady" not in by_step:
        conditions = set_condition(
            conditions,
            "NetworkReady",
            "False",
            CILIUM_REQUIRED,
            cilium_message(unenforced),
            now,
            generation,
        )
    conflicted = {c.namespace: c.reason for c in decision.conflicts}
    codes = {c.code for c in decision.conflicts}
    conflict_code = codes.pop() if len(codes) == 1 else "NamespaceConflict"
    if conflicted:
        conditions = set_condition(
            conditions,
            "NamespacesReady",
            "False",
            conflict_code,
            "; ".join(conflicted.values()),
            now,
            generation,
        )
    if refusals and "AccessReady" not in by_step:
        conditions = set_condition(
            conditions,
            "AccessReady",
            "False",
            "SubjectRefused",
            "left out of the role bindings: " + "; ".join(r.message for r in refusals),
            now,
            generation,
        )
    if errors or conflicted or refusals:
        failed_steps = sorted(
            {e.step for e in errors}
            | ({"NamespacesReady"} if conflicted else set())
            | ({"AccessReady"} if refusals else set())
        )
        if errors:
            reason = "StepsFailed"
        elif conflicted and not refusals:
            reason = conflict_code
        elif refusals and not conflicted:
            reason = "SubjectRefused"
        else:
            reason = "StepsFailed"
        message = f"failed: {', '.join(failed_steps)}; see those conditions"
        conditions = set_condition(conditions, "Ready", "False", reason, message, now, generation)
    else:
        message = "all objects applied"
        if decision.adopted:
            message += "; adopted " + ", ".join(
                f"{a.namespace} (kept from tenant uid {a.previous_uid})" for a in decision.adopted
            )
        if decision.retained:
            message += "; kept " + ", ".join(
                f"{r.namespace} ({r.reason})" for r in decision.retained
            )
        if warnings:
            message += "; warnings: " + "; ".join(warnings)
        reason = "Reconciled"
        if unenforced:
            # The tenant works, but not all it asks for is in force: say so where people look.
            reason = "Degraded"
            message += f"; NetworkReady is False: {cilium_message(unenforced)}"
        conditions = set_condition(conditions, "Ready", "True", reason, message, now, generation)
    quotas = {
        o["metadata"]["namespace"]: o
        for o in observed
        if o["kind"] == "ResourceQuota" and o["metadata"]["name"] == QUOTA_NAME
    }
    if not errors:
        # A namespace this reconcile created holds only what it applied: its quota's first
        # count is known now, and said here rather than in a second status write.
        for namespace in new_namespaces:
            first = None if namespace in quotas else first_count(namespace, decision.apply)
            if first is not None:
                quotas[namespace] = first
    namespaces = [
        NamespaceStatus(
            name=tenant.namespace(env),
            environment=env.name,
            phase="Conflict" if tenant.namespace(env) in conflicted else "Active",
            message=conflicted.get(tenant.namespace(env), ""),
            quota=quota_usage(quotas.get(tenant.namespace(env))),
        )
        for env in tenant.spec.environments
    ]
    namespaces += [
        NamespaceStatus(name=r.namespace, environment="", phase="Retained", message=r.reason)
        for r in decision.retained
    ]
    ready = next(c.status for c in conditions if c.type == "Ready")
    return TenantStatus(
        observed_generation=generation,
        tier=tenant.spec.tier or platform.spec.default_tier,
        ready=ready,
        namespace_count=len(namespaces),
        namespaces=namespaces,
        conditions=_ordered(conditions),
    )


CILIUM_REQUIRED = "CiliumRequired"


def cilium_message(unenforced: Sequence[CiliumOnly]) -> str:
    return (
        "this cluster has no Cilium (CiliumNetworkPolicy), so these allowances are not in "
        "force: " + "; ".join(str(u) for u in unenforced) + ". Install Cilium, or remove "
        "them from the tenant"
    )


# What a quota counts of each kind by its count resource (core/render/quotas.py's keys).
COUNTED = {
    "pods": "Pod",
    "services": "Service",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "replicationcontrollers": "ReplicationController",
    "resourcequotas": "ResourceQuota",
}
# What Kubernetes puts in every namespace that a quota counts: the root CA's ConfigMap.
EVERY_NAMESPACE = {"configmaps": 1}


def first_count(namespace: str, applied: Iterable[KubeObject]) -> KubeObject | None:
    """Pure: the tenant's quota in a namespace just created, as the quota controller comes
    to count it: nothing in use but the objects Mooring applied there and the root CA's
    ConfigMap. If something else lands first, the count differs and the operator's
    quota watch writes the real one (operator/tenants.py Watches._write_usage)."""
    mine = [o for o in applied if o["metadata"].get("namespace") == namespace]
    quota = next(
        (o for o in mine if o["kind"] == "ResourceQuota" and o["metadata"]["name"] == QUOTA_NAME),
        None,
    )
    if quota is None:
        return None
    hard: dict[str, str] = dict((quota.get("spec") or {}).get("hard") or {})
    kinds = Counter(o["kind"] for o in mine)
    used = {
        resource: str(kinds[COUNTED[resource]] + EVERY_NAMESPACE.get(resource, 0))
        if resource in COUNTED
        else "0"
        for resource in hard
    }
    return {**quota, "status": {"hard": hard, "used": used}}


def at_least_first_count(quota: KubeObject, applied: Iterable[KubeObject]) -> KubeObject:
    """Pure: the quota with each count raised to what is always in its namespace (what
    Mooring applied there, and the root CA's ConfigMap). A lower count is the quota
    controller's, made before those objects were there or counted: under load
    kube-controller-manager publishes the root CA's ConfigMap minutes after the namespace
    (one worker; measured at 10,000 tenants, docs/benchmarks.md), and the quota's first
    count can miss it until the controller's periodic resync (5 minutes). Shown as
    counted, it would be written to the status twice (short, then right) for most tenants;
    raised, it equals what the reconcile's status said (first_count), and a pod created
    meanwhile still shows at once."""
    predicted = first_count(str(quota["metadata"].get("namespace")), applied)
    if predicted is None:
        return quota
    status = quota.get("status") or {}
    used = dict(status.get("used") or {})
    for resource, least in predicted["status"]["used"].items():
        if resource not in COUNTED or resource not in used:
            continue
        try:
            if int(used[resource]) < int(least):
                used[resource] = least
        except ValueError:
            continue  # not a plain count: nothing to compare
    return {**quota, "status": {**status, "used": used}}


def quota_usage(quota: KubeObject | None) -> list[QuotaUsage]:
    """Used vs hard per resource, from a ResourceQuota's status."""
    if quota is None:
        return []
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    return [QuotaUsage(resource=k, used=used.get(k, "0"), hard=v) for k, v in sorted(hard.items())]


def _ordered(conditions: list[Condition]) -> list[Condition]:
    order = {"Ready": 0, **{step: i + 1 for i, step in enumerate(STEPS)}}
    return sorted(conditions, key=lambda c: order.get(c.type, 99))


def _dump(status: TenantStatus) -> dict[str, Any]:
    # status.cost is the cost loop's (services.cost_status): a reconcile writes it only
    # when there is none yet (reconcile's cost_basis).
    return status.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"cost"})


def _events(outcome: Outcome, decision: Plan, previous: TenantStatus) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    was_ready = previous.ready == "True"
    if outcome.ready and not was_ready:
        events.append(("Normal", "Reconciled", f"applied {outcome.applied} objects"))
    elif outcome.sent:
        shown = ", ".join(outcome.sent[:5]) + (", ..." if len(outcome.sent) > 5 else "")
        events.append(("Normal", "Updated", f"applied {len(outcome.sent)} changed: {shown}"))
    for name in outcome.pruned:
        events.append(("Normal", "Pruned", f"deleted {name}, no longer in the spec"))
    already = {n.name for n in previous.namespaces if n.phase == "Retained"}
    for retained in decision.retained:
        if retained.namespace not in already:
            events.append(
                ("Normal", "Retained", f"namespace {retained.namespace} {retained.reason}")
            )
    for conflict in decision.conflicts:
        events.append(("Warning", conflict.code, conflict.reason))
    for adopted in decision.adopted:
        events.append(
            (
                "Normal",
                "Adopted",
                f"namespace {adopted.namespace}, kept from the deleted tenant with uid "
                f"{adopted.previous_uid}, taken over with its data as spec.adopt asks",
            )
        )
    for refusal in outcome.refusals:
        events.append(("Warning", "SubjectRefused", refusal.message))
    for error in outcome.errors:
        events.append(("Warning", "ApplyFailed", f"{error.what}: {error.message}"))
    network: dict[str, Any] = next(
        (c for c in outcome.status.get("conditions", []) if c["type"] == "NetworkReady"), {}
    )
    before = next((c for c in previous.conditions if c.type == "NetworkReady"), None)
    if network.get("reason") == CILIUM_REQUIRED and (
        before is None or before.message != network.get("message")
    ):
        events.append(("Warning", CILIUM_REQUIRED, str(network.get("message"))))
    return events


# -- deletion ---------------------------------------------------------------------------------


async def finalize(kube: Kube, body: KubeObject) -> Outcome:
    """The Tenant is being deleted: delete what holds no data, keep (and orphan) what does.

    Raises KubeError if something could not be done; the finalizer then stays and the
    deletion is retried.
    """
    meta = body["metadata"]
    name = meta["name"]
    deletion_policy = (body.get("spec") or {}).get("deletionPolicy", "Retain")
    features = await discover_features(kube)
    observed = await gather_owned(kube, name, features)
    ours = [o["metadata"]["name"] for o in observed if o["kind"] == "Namespace"]
    contents = dict(
        zip(ours, await asyncio.gather(*(namespace_contents(kube, n) for n in ours)), strict=True)
    )
    # With its UID, so that a namespace kept from an earlier Tenant of this name stays.
    decision = plan(name, [], observed, {}, contents, deletion_policy, meta.get("uid"))
    retained = {r.namespace: r.reason for r in decision.retained}
    # Children of kept namespaces lose their ownerReference, or the garbage collector
    # would delete them along with the Tenant and leave the namespace unguarded.
    for obj in observed:
        namespace = obj["metadata"].get("namespace")
        if namespace in retained and obj["metadata"].get("ownerReferences"):
            await _drop_owner(kube, obj, meta.get("uid"))
    for namespace, reason in retained.items():
        await _mark_retained(kube, namespace, f"tenant {name} deleted; {reason}")
    pruned, errors = await _prune(kube, decision.prune)
    if errors:
        raise KubeError(0, "PruneFailed", "; ".join(f"{e.what}: {e.message}" for e in errors))
    outcome = Outcome({}, ready=True, pruned=pruned, retained=sorted(retained))
    outcome.events = [
        ("Normal", "Retained", f"namespace {n} {r}") for n, r in sorted(retained.items())
    ]
    return outcome


async def _drop_owner(kube: Kube, obj: KubeObject, uid: str | None) -> None:
    meta = obj["metadata"]
    owners = [o for o in meta.get("ownerReferences", []) if o.get("uid") != uid]
    await kube.patch(
        obj["apiVersion"],
        obj["kind"],
        meta["name"],
        {"metadata": {"ownerReferences": owners or None}},
        namespace=meta.get("namespace"),
    )
