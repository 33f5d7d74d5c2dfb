"""Keep the guardrails' admission side current: policies, bindings and GuardrailContexts.

Side effects: server-side apply and prune of ValidatingAdmissionPolicies and their
bindings; server-side apply of one GuardrailContext per tenant namespace, and the labels
on that namespace that bind the warn and audit policies (merge patches); PolicyException
status. Three steps, as every service: gather (the caller's informers, or `gather`),
decide (core.policy: admission_objects, build_context), act (apply, prune, status).
Each step keeps going past a failure and reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mooring.api import names
from mooring.api.documents import model_errors
from mooring.api.exceptions import PolicyException, format_time
from mooring.api.guardrails import GuardrailSettings
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig, PlatformConfigSpec
from mooring.api.tenant import Tenant
from mooring.core.hostnames import Holdings, holdings
from mooring.core.plan import drifted
from mooring.core.policy.admission import (
    API_VERSION,
    MANAGED_SELECTOR,
    admission_objects,
    mode_labels,
    mode_labels_of,
)
from mooring.core.policy.context import CONTEXT_NAME, build_context, next_expiry
from mooring.kube.client import Kube, KubeError, describe
from mooring.kube.events import post_event

Obj = dict[str, Any]
# GuardrailContexts written at once (the client paces itself to the API server besides).
CONTEXT_WRITERS = 8
POLICY_KINDS = ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy")


@dataclass
class World:
    """What the guardrails depend on, parsed. Invalid objects are left out, with a problem."""

    platform: PlatformConfigSpec | None = None
    # Every tenant; or, with a `lookup`, at least those with guardrail modes of their own
    # and every one that claims hostnames (who holds a name depends on all claims).
    tenants: list[Tenant] = field(default_factory=list)
    exceptions: list[PolicyException] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)  # tenant namespace -> tenant
    problems: list[str] = field(default_factory=list)
    # namespace -> its tenant, when the caller keeps an index (the operator does); else
    # one is built from `tenants`, which must then hold them all.
    lookup: Callable[[str], Tenant | None] | None = None
    _tenant_in: dict[str, Tenant] | None = field(default=None, repr=False)
    _exceptions_in: dict[str | None, list[PolicyException]] | None = field(default=None, repr=False)
    _held: Holdings | None = field(default=None, repr=False)

    def held(self) -> Holdings:
        """Who holds which hostnames (computed once per World)."""
        if self._held is None:
            self._held = holdings(self.tenants, self.platform)
        return self._held

    def tenant_in(self, namespace: str | None) -> Tenant | None:
        """The tenant one of whose environments `namespace` is (core's tenant_of, indexed:
        thousands of tenants times thousands of namespaces would be quadratic)."""
        if self.lookup is not None:
            return self.lookup(namespace or "")
        if self._tenant_in is None:
            index: dict[str, Tenant] = {}
            for tenant in self.tenants:
                for environment in tenant.spec.environments:
                    index.setdefault(tenant.namespace(environment), tenant)
            self._tenant_in = index
        return self._tenant_in.get(namespace or "")

    def exceptions_in(self, namespace: str | None) -> list[PolicyException]:
        if self._exceptions_in is None:
            index: dict[str | None, list[PolicyException]] = {}
            for exception in self.exceptions:
                index.setdefault(exception.namespace, []).append(exception)
            self._exceptions_in = index
        return self._exceptions_in.get(namespace, [])

    def context(self, namespace: str, now: datetime) -> Obj:
        """Pure: the GuardrailContext of one namespace at `now`."""
        tenant = self.tenant_in(namespace)
        return build_context(
            namespace,
            self.platform,
            tenants=[tenant] if tenant is not None else [],
            exceptions=self.exceptions_in(namespace),
            now=now,
            held=self.held(),
        )


def parse(model: type[BaseModel], obj: Mapping[str, Any], problems: list[str]) -> Any:
    clean = {k: v for k, v in obj.items() if k != "status"}
    instance, errors = model_errors(model, clean)
    if errors:
        problems.append(f"{describe(obj)}: {errors[0].dotted}: {errors[0].message}")
    return instance


def world_of(
    platforms: Iterable[Mapping[str, Any]],
    tenants: Iterable[Mapping[str, Any]],
    exceptions: Iterable[Mapping[str, Any]],
    namespaces: Iterable[Mapping[str, Any]],
) -> World:
    """Pure: the World from plain objects (an informer's cache or a list)."""
    world = World()
    for obj in platforms:
        if (obj.get("metadata") or {}).get("name") == PLATFORM_CONFIG_NAME:
            config = parse(PlatformConfig, obj, world.problems)
            if isinstance(config, PlatformConfig):
                world.platform = config.spec
    for obj in tenants:
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        tenant = parse(Tenant, obj, world.problems)
        if isinstance(tenant, Tenant):
            world.tenants.append(tenant)
    for obj in exceptions:
        exception = parse(PolicyException, obj, world.problems)
        if isinstance(exception, PolicyException):
            world.exceptions.append(exception)
    for obj in namespaces:
        meta = obj.get("metadata") or {}
        tenant_name = (meta.get("labels") or {}).get(names.LABEL_TENANT)
        if tenant_name and not meta.get("deletionTimestamp"):
            world.namespaces[meta["name"]] = tenant_name
    return world


async def gather(kube: Kube) -> World:
    """Read the World from the API server (for callers without informers)."""
    platforms, tenants, exceptions, namespaces = await asyncio.gather(
        kube.list(names.API_VERSION, "PlatformConfig"),
        kube.list(names.API_VERSION, "Tenant"),
        kube.list(names.API_VERSION, "PolicyException"),
        kube.list("v1", "Namespace", labels=names.LABEL_TENANT),
    )
    return world_of(platforms, tenants, exceptions, namespaces)


# -- policies and bindings ----------------------------------------------------------------------


def desired_policies(world: World, kept: Collection[str] = ()) -> list[Obj]:
    """Pure: the policies and bindings wanted (`kept`: policies installed now; see
    admission_objects)."""
    settings = world.platform.guardrails if world.platform is not None else GuardrailSettings()
    return admission_objects(settings, world.tenants, kept=kept)


async def sync_policies(
    kube: Kube, world: World, current: Sequence[Obj] | None = None
) -> tuple[list[str], list[str]]:
    """Apply the policies and bindings that differ; delete managed ones no longer wanted
    (a warn or audit policy merely unused is kept: admission_objects).

    `current` is what exists (an informer's view); listed when not given. Returns what
    changed and the errors met (each naming the object).
    """
    if current is None:
        current = []
        for kind in POLICY_KINDS:
            current += await kube.list(API_VERSION, kind, labels=MANAGED_SELECTOR)
    existing = {(o.get("kind"), o["metadata"]["name"]): o for o in current}
    installed = {name for kind, name in existing if kind == "ValidatingAdmissionPolicy"}
    desired = desired_policies(world, kept=installed)
    wanted = {(o["kind"], o["metadata"]["name"]) for o in desired}
    changed: list[str] = []
    errors: list[str] = []
    # Policies before bindings (admission_objects' order), so a binding never names a
    # policy that does not exist yet.
    for obj in desired:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in existing and not drifted(obj, existing[key]):
            continue
        try:
            await kube.apply(obj)
            changed.append(f"{key[0]} {key[1]}")
        except KubeError as error:
            errors.append(str(error))
    for key in sorted(existing.keys() - wanted, key=lambda k: POLICY_KINDS.index(str(k[0]))):
        try:
            await kube.delete(API_VERSION, str(key[0]), key[1])
            changed.append(f"deleted {key[0]} {key[1]}")
        except KubeError as error:
            errors.append(str(error))
    return changed, errors


# -- GuardrailContexts --------------------------------------------------------------------------


def desired_contexts(
    world: World, now: datetime, only: Iterable[str] | None = None
) -> Iterator[tuple[str, Obj]]:
    """Pure: (namespace, its GuardrailContext at `now`) of every tenant namespace (of those
    in `only`, when given), in name order, each built only when asked for: a pass over ten
    thousand namespaces holds one context at a time, not all of them (the whole dict was a
    transient peak of 30 MiB at 5,000 tenants, which the allocator kept as resident memory
    for good; benchmarks/guardrails_memory.py)."""
    wanted = sorted(world.namespaces if only is None else set(only) & world.namespaces.keys())
    for namespace in wanted:
        yield namespace, world.context(namespace, now)


async def sync_contexts(
    kube: Kube,
    world: World,
    now: datetime,
    current: Mapping[str, Obj] | Callable[[str], Obj | None] | None = None,
    only: Iterable[str] | None = None,
    failed: set[str] | None = None,
    namespaces: Callable[[str], Obj | None] | None = None,
) -> tuple[list[str], list[str]]:
    """Apply each tenant namespace's GuardrailContext where it differs (of those in `only`,
    when given), and the namespace's mode labels (mode_labels of the context's modes).

    `current`: the GuardrailContext of a namespace now (an informer's view, as a mapping or
    a lookup); read when not given. `namespaces`: the Namespace object (a lookup into an
    informer's view); read when not given. Returns the namespaces whose context changed,
    and the errors met.

    A label is added before the context that uses its mode is written, and removed after
    the context that stops using it: a warning or audit policy is bound to the namespace
    whenever its context may ask for it. (The enforce policies do not depend on labels.)
    """
    changed: list[str] = []
    errors: list[str] = []
    lookup = current.get if isinstance(current, Mapping) else current

    async def one(namespace: str, obj: Obj) -> None:
        existing = (
            lookup(namespace)
            if lookup is not None
            else await kube.get_or_none(
                names.API_VERSION, "GuardrailContext", CONTEXT_NAME, namespace
            )
        )
        ns = (
            namespaces(namespace)
            if namespaces is not None
            else await kube.get_or_none("v1", "Namespace", namespace)
        )
        wanted = mode_labels(obj["spec"].get("modes") or {})
        have = mode_labels_of(((ns or {}).get("metadata") or {}).get("labels"))
        adding = {k: v for k, v in wanted.items() if have.get(k) != v}
        removing = {k: None for k in have if k not in wanted}
        try:
            if adding and ns is not None:
                await _label(kube, namespace, {**adding, **removing})
                removing = {}
            if not (
                existing is not None and not drifted(obj, existing) and _same_spec(obj, existing)
            ):
                await kube.apply(obj)
                changed.append(namespace)
            if removing and ns is not None:
                await _label(kube, namespace, removing)
        except KubeError as error:
            errors.append(str(error))
            if failed is not None:
                failed.add(namespace)

    # A few at a time: a tenant is Ready only once its namespaces have their contexts, and
    # one write after another (tens of ms each on a busy API server) fell behind a thousand
    # new tenants. Each worker takes the next one when it is done: one context at a time
    # each, not all of them built at once.
    pending = desired_contexts(world, now, only)

    async def worker() -> None:
        for index, (namespace, obj) in enumerate(pending):
            if index % 200 == 199:
                await asyncio.sleep(0)  # thousands of namespaces: let the rest of the loop run
            await one(namespace, obj)

    await asyncio.gather(*(worker() for _ in range(CONTEXT_WRITERS)))
    return sorted(changed), errors


async def _label(kube: Kube, namespace: str, labels: Mapping[str, str | None]) -> None:
    # A merge patch of these labels alone (None removes one): the tenant's reconcile applies
    # the rest of the namespace, and its server-side apply leaves these alone.
    await kube.patch("v1", "Namespace", namespace, {"metadata": {"labels": dict(labels)}})


def _same_spec(desired: Obj, existing: Obj) -> bool:
    # Lists that shrank (an exception removed) do not show as drift in a superset check.
    return bool(desired.get("spec") == existing.get("spec"))


# -- hostnames --------------------------------------------------------------------------------


async def report_hostname_refusals(
    kube: Kube, world: World, reported: set[tuple[str, str, str]]
) -> list[str]:
    """A Warning Event on each Tenant with a hostname claim it does not get (another tenant
    holds the name, or it is outside the tier's suffixes), once per claim and reason while
    the operator runs; `reported` keeps what was said. Returns the messages."""
    by_name = {tenant.name: tenant for tenant in world.tenants}
    messages = []
    current = set()
    for refusal in world.held().refused:
        key = (refusal.tenant, refusal.hostname, refusal.reason)
        current.add(key)
        if key in reported:
            continue
        tenant = by_name[refusal.tenant]
        about = {
            "apiVersion": names.API_VERSION,
            "kind": "Tenant",
            "metadata": {"name": tenant.name, "uid": tenant.metadata.uid},
        }
        message = f"spec.hostnames[{refusal.index}]: {refusal.reason}"
        await post_event(kube, about, "Warning", "HostnameRefused", message)
        messages.append(f"tenant {tenant.name}: {message}")
    reported.intersection_update(current)
    reported.update(current)
    return messages


def wake_up(world: World, now: datetime) -> datetime | None:
    """When an exception in force expires next: the contexts must be rewritten then."""
    return next_expiry(world.exceptions, now)


# -- PolicyException status ---------------------------------------------------------------------


async def sync_exception_status(
    kube: Kube, world: World, raw: Iterable[Mapping[str, Any]], now: datetime
) -> list[str]:
    """Phase Active or Expired on every PolicyException whose phase is not that yet."""
    errors: list[str] = []
    parsed = {(e.namespace, e.name): e for e in world.exceptions}
    for obj in raw:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace"), str(meta.get("name")))
        exception = parsed.get(key)
        status = obj.get("status") or {}
        if exception is None:
            phase, message = "Invalid", "the exception does not validate; see `mooring validate`"
            expires = None
        elif exception.in_force(now):
            phase = "Active"
            expires = format_time(exception.spec.expires)
            message = f"lifts {', '.join(exception.spec.rules)} until {expires}"
        else:
            phase = "Expired"
            expires = format_time(exception.spec.expires)
            message = f"expired at {expires}; it no longer applies"
        if status.get("phase") == phase and status.get("observedGeneration") == meta.get(
            "generation"
        ):
            continue
        condition = {
            "type": "Active",
            "status": "True" if phase == "Active" else "False",
            "reason": phase,
            "message": message,
            "lastTransitionTime": format_time(now),
            "observedGeneration": meta.get("generation"),
        }
        body = {
            "apiVersion": names.API_VERSION,
            "kind": "PolicyException",
            "metadata": {"name": key[1], "namespace": key[0]},
            "status": {
                "phase": phase,
                **({"expires": expires} if expires else {}),
                "observedGeneration": meta.get("generation"),
                "conditions": [condition],
            },
        }
        try:
            await kube.apply(body, subresource="status")
        except KubeError as error:
            errors.append(str(error))
    return errors
