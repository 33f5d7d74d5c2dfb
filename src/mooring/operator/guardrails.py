"""The guardrails in the cluster: admission objects, GuardrailContexts, audits. Thin.

At startup, informers watch what the guardrails depend on (PlatformConfig, Tenants,
PolicyExceptions, tenant Namespaces, the GuardrailContexts and the admission objects
themselves, and every workload kind). Their events only mark work and wake two loops,
which then call the services:

- policies (a loop of their own: creating one costs the API server seconds, which a new
  tenant's context must not wait behind): services.admission.sync_policies, when the
  platform or a tenant changes, or someone edits a managed policy or binding;
- contexts: services.admission.sync_contexts, when an input changes and at the moment the
  next PolicyException expires, so that an expired exception stops applying at admission
  when it stops applying in `mooring check` and in the audit (with each namespace's labels
  that bind the warn and audit policies where its context uses those modes); a Tenant
  whose hostname claim another tenant holds gets a Warning Event (HostnameRefused);
- audits: services.audit.audit_namespace, for a namespace whose workloads or context
  changed, and for every tenant namespace periodically; one PolicyReport per namespace,
  and the violations by rule and tenant as metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from mooring.api import names
from mooring.api.exceptions import PolicyException
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig, PlatformConfigSpec
from mooring.api.tenant import Tenant
from mooring.core.policy.admission import API_VERSION as ADMISSION_API
from mooring.core.policy.admission import LABELS as ADMISSION_LABELS
from mooring.core.policy.admission import mode_labels_of
from mooring.core.policy.context import CONTEXT_NAME
from mooring.core.policy.engine import Engine
from mooring.kube.client import Kube, KubeError
from mooring.kube.informer import Informer, metadata_only
from mooring.operator import settings as _settings  # its startup handler makes memo["kube"]
from mooring.operator.metrics import (
    API_IN_FLIGHT_LIMIT,
    API_REFUSALS,
    GUARDRAIL_AUDIT_LAST_SUCCESS,
    GUARDRAIL_AUDIT_SECONDS,
    GUARDRAIL_AUDITS,
    GUARDRAIL_CONTEXT_WRITES,
    GUARDRAIL_EXCEPTIONS,
    GUARDRAIL_VIOLATIONS,
)
from mooring.operator.registry import REGISTRY
from mooring.operator.resync import resync_of
from mooring.services import admission, audit

_ = _settings

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CONFIG_KINDS = (
    (names.API_VERSION, "PlatformConfig"),
    (names.API_VERSION, "Tenant"),
    (names.API_VERSION, "PolicyException"),
    ("v1", "Namespace"),
    (names.API_VERSION, "GuardrailContext"),
    (ADMISSION_API, "ValidatingAdmissionPolicy"),
    (ADMISSION_API, "ValidatingAdmissionPolicyBinding"),
)
# Past an exception's expiry, a margin so that `now` is surely after it.
EXPIRY_MARGIN = 0.05
DEBOUNCE = 0.1
POLICY_RETRY = 5.0  # seconds before policies the API server refused are written again


def _namespace(obj: Obj) -> str | None:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return str(namespace) if namespace else None


def _managed(obj: Obj) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in ADMISSION_LABELS.items())


@dataclass
class Guardrails:
    """The guardrails' state: the parsed inputs (kept up to date event by event, so a step
    never parses thousands of Tenants again), what needs doing, and the loop that does it."""

    kube: Kube
    audit_interval: float = 300.0
    engine: Engine = field(default_factory=Engine)
    informers: dict[str, Informer] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # The policies' own loop (policy_step): creating a policy costs the API server seconds,
    # which the GuardrailContexts (what a new tenant waits for) must not wait behind.
    policies_wake: asyncio.Event = field(default_factory=asyncio.Event)
    # The World's parts, by identity: checked once per change. Tenants are kept as their
    # spec's compact JSON and parsed again when needed (a few at a time; all of them only
    # when the platform changes): ten thousand parsed Tenants would cost 70 MiB.
    platform: PlatformConfigSpec | None = None
    platform_generation: int | None = None  # of the PlatformConfig last parsed
    tenants: TenantStore = field(default_factory=lambda: TenantStore())
    tenant_generations: dict[str, tuple[Any, bool]] = field(default_factory=dict)
    exceptions: dict[tuple[str, str], PolicyException] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # tenant namespace -> tenant
    # tenant namespace -> its mode labels, as last seen (someone removing one: restored)
    mode_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: dict[tuple[str, str], str] = field(default_factory=dict)
    # Work to do.
    policies_dirty: bool = True
    exceptions_dirty: bool = True  # their status
    contexts_dirty: bool = True  # every namespace
    contexts_for: set[str] = field(default_factory=set)  # these namespaces
    namespaces_dirty: set[str] = field(default_factory=set)  # to audit
    next_expiry: datetime | None = None
    next_full_audit: float = 0.0
    reports: bool = True
    # namespace -> (tenant, violations by (rule, mode)): what the metrics add up.
    found: dict[str, tuple[str | None, Counter[tuple[str, str]]]] = field(default_factory=dict)
    # Hostname claims a tenant does not get, already told in an Event: (tenant, name, why).
    refusals: set[tuple[str, str, str]] = field(default_factory=set)
    # A hostname claim was taken or given up since the last step.
    claims_dirty: bool = False
    # namespace -> fingerprint of the PolicyReport last written (unchanged ones are not).
    reported: dict[str, int] = field(default_factory=dict)
    # namespace -> resourceVersion of its GuardrailContext when last found as desired.
    verified: dict[str, str] = field(default_factory=dict)
    # namespace -> the reconciles waiting for its GuardrailContext (`in_force`).
    awaited: dict[str, list[asyncio.Future[None]]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    # -- events: keep the World current, mark work, wake the loop -----------------------------

    def on_config(self, kind: str) -> Any:
        return getattr(self, f"_on_{kind.lower()}")

    def _on_platformconfig(self, event_type: str, obj: Obj) -> None:
        if obj["metadata"]["name"] != PLATFORM_CONFIG_NAME:
            return
        generation = None if event_type == "DELETED" else obj["metadata"].get("generation")
        if generation is not None and generation == self.platform_generation:
            # Its status (the operator writes the quotas' fit there as tenants come): nothing
            # the guardrails read. Taken for a change, it made every step a full pass over
            # every namespace's context and audit, 170 times for 1,000 new tenants.
            return
        self.platform_generation = generation
        key = ("PlatformConfig", PLATFORM_CONFIG_NAME)
        self.problems.pop(key, None)
        self.platform = None
        if event_type != "DELETED":
            config = self._parse(PlatformConfig, obj, key)
            self.platform = config.spec if isinstance(config, PlatformConfig) else None
        self.policies_dirty = self.contexts_dirty = True
        self.next_full_audit = 0.0  # modes may have changed everywhere
        self.wake.set()
        self.policies_wake.set()

    def _on_tenant(self, event_type: str, obj: Obj) -> None:
        meta = obj["metadata"]
        name = str(meta["name"])
        gone = event_type == "DELETED"
        seen = (meta.get("generation"), gone or bool(meta.get("deletionTimestamp")))
        if not gone and self.tenant_generations.get(name) == seen:
            return  # status, annotations or kopf's bookkeeping: nothing the guardrails read
        before = self.tenants.namespaces_of(name)
        claimed = self.tenants.claims(name)
        self.tenants.pop(name)
        self.problems.pop(("Tenant", name), None)
        if gone:
            self.tenant_generations.pop(name, None)
        else:
            self.tenant_generations[name] = seen
            deleting = seen[1]  # a tenant being deleted leaves the World at once
            tenant = None if deleting else self._parse(Tenant, obj, ("Tenant", name))
            if isinstance(tenant, Tenant):
                self.tenants.put(tenant, obj)
        touched = before | self.tenants.namespaces_of(name)
        if claimed or self.tenants.claims(name):
            # A claim taken or given up can change what every other claimant holds: their
            # contexts are recomputed once in the next step, not once per event.
            self.claims_dirty = True
        self.contexts_for |= touched
        self.namespaces_dirty |= touched
        self.wake.set()
        self.policies_dirty = True
        self.policies_wake.set()

    def _on_policyexception(self, event_type: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (str(meta.get("namespace")), str(meta["name"]))
        self.exceptions.pop(key, None)
        self.problems.pop(("PolicyException", f"{key[0]}/{key[1]}"), None)
        if event_type != "DELETED":
            problem_key = ("PolicyException", f"{key[0]}/{key[1]}")
            exception = self._parse(PolicyException, obj, problem_key)
            if isinstance(exception, PolicyException):
                self.exceptions[key] = exception
        self.contexts_for.add(key[0])
        self.namespaces_dirty.add(key[0])
        self.exceptions_dirty = True
        self.wake.set()

    def _on_namespace(self, event_type: str, obj: Obj) -> None:
        meta = obj["metadata"]
        name = str(meta["name"])
        tenant = (meta.get("labels") or {}).get(names.LABEL_TENANT)
        if event_type == "DELETED" or meta.get("deletionTimestamp") or not tenant:
            tenant = None
        labels = mode_labels_of(meta.get("labels")) if tenant is not None else {}
        same_tenant = self.namespaces.get(name) == tenant
        if same_tenant and self.mode_labels.get(name, {}) == labels:
            return  # phase, annotations: nothing the guardrails read
        if tenant is None:
            self.namespaces.pop(name, None)
            self.mode_labels.pop(name, None)
        else:
            self.namespaces[name] = str(tenant)
            self.mode_labels[name] = labels
        # Mode labels alone (ours, or someone's edit): compared with the context's modes.
        self.contexts_for.add(name)
        if not same_tenant:
            self.namespaces_dirty.add(name)
        self.wake.set()

    def _on_guardrailcontext(self, event_type: str, obj: Obj) -> None:
        namespace = _namespace(obj)
        for waiting in self.awaited.pop(namespace or "", ()):
            if not waiting.done():
                waiting.set_result(None)
        if namespace is None or obj["metadata"]["name"] != CONTEXT_NAME:
            return
        if event_type != "DELETED" and self.verified.get(namespace) == _version(obj):
            return  # our own write, seen again
        self.contexts_for.add(namespace)
        self.wake.set()

    def _on_validatingadmissionpolicy(self, event_type: str, obj: Obj) -> None:
        if _managed(obj) or event_type == "DELETED":
            self.policies_dirty = True
            self.policies_wake.set()

    _on_validatingadmissionpolicybinding = _on_validatingadmissionpolicy

    def _parse(self, model: type[Any], obj: Obj, key: tuple[str, str]) -> Any:
        problems: list[str] = []
        parsed = admission.parse(model, obj, problems)
        if problems:
            self.problems[key] = problems[0]
            log.warning("guardrails: %s", problems[0])
        return parsed

    def resync(self) -> None:
        """The resync's look (operator/resync.py): policies are compared again, and every
        tenant namespace whose GuardrailContext is not the one last found as desired (gone,
        or changed by someone) is recomputed. Cheap at thousands of namespaces: versions
        are compared, nothing is parsed."""
        self.policies_dirty = True
        self.policies_wake.set()
        contexts = self.informers.get("GuardrailContext")
        for namespace in self.namespaces:
            current = contexts.get(namespace, CONTEXT_NAME) if contexts is not None else None
            if current is None or self.verified.get(namespace) != _version(current):
                self.contexts_for.add(namespace)
        self.wake.set()

    async def in_force(self, namespaces: Sequence[str], wait: float) -> list[str]:
        """Those of `namespaces` with no GuardrailContext (as watched) after waiting up to
        `wait` seconds for the loop to write them. A tenant's reconcile asks before it says
        Ready: the enforcing policy refuses every request it judges in a namespace without
        one (it fails closed), and a new namespace gets its context a step after its event."""
        contexts = self.informers.get("GuardrailContext")
        if contexts is None:
            return []
        deadline = time.monotonic() + wait
        while True:
            missing = [n for n in namespaces if not contexts.has(n, CONTEXT_NAME)]
            left = deadline - time.monotonic()
            if not missing or left <= 0:
                return missing
            # Woken by an event of one of these namespaces' contexts only: thousands of
            # tenants may be waiting at once.
            loop = asyncio.get_running_loop()
            futures = [loop.create_future() for _ in missing]
            for namespace, future in zip(missing, futures, strict=True):
                self.awaited.setdefault(namespace, []).append(future)
            try:
                await asyncio.wait(futures, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for namespace, future in zip(missing, futures, strict=True):
                    future.cancel()
                    still = [f for f in self.awaited.get(namespace, ()) if not f.done()]
                    if still:
                        self.awaited[namespace] = still
                    else:
                        self.awaited.pop(namespace, None)

    def on_workload(self, event_type: str, obj: Obj) -> None:
        namespace = _namespace(obj)
        if namespace is not None:
            self.namespaces_dirty.add(namespace)
            self.wake.set()

    # -- the loop --------------------------------------------------------------------------

    def _cache(self, kind: str) -> list[Obj]:
        informer = self.informers[kind]
        keys = informer.keys()  # (namespace or "", name), a list (the informer is no dict)
        found = (informer.get(namespace or None, name) for namespace, name in keys)
        return [obj for obj in found if obj is not None]

    def world(self) -> admission.World:
        return admission.World(
            platform=self.platform,
            tenants=self.tenants.for_world(),
            lookup=self.tenants.in_namespace,
            exceptions=list(self.exceptions.values()),
            namespaces=dict(self.namespaces),
            problems=list(self.problems.values()),
        )

    def _timeout(self) -> float:
        waits = [max(0.0, self.next_full_audit - time.monotonic())]
        if self.next_expiry is not None:
            seconds = (self.next_expiry - datetime.now(UTC)).total_seconds() + EXPIRY_MARGIN
            waits.append(max(0.0, seconds))
        return min(waits)

    async def run(self) -> None:
        """The two loops: GuardrailContexts, labels, exceptions and audits (`step`), and the
        policies and bindings (`policy_step`), each woken by its own work."""
        await asyncio.gather(
            self._loop(self.wake, self.step, self._timeout),
            self._loop(self.policies_wake, self.policy_step, lambda: None),
        )

    async def _loop(
        self,
        wake: asyncio.Event,
        step: Callable[[], Awaitable[None]],
        timeout: Callable[[], float | None],
    ) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=timeout())
            wake.clear()
            await asyncio.sleep(DEBOUNCE)  # let a burst of events arrive
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except KubeError as error:  # the API server is away; the work stays marked
                log.warning("guardrails: %s; trying again", error)
                await asyncio.sleep(1)
                wake.set()
            except Exception:  # the loop must outlive any one step
                log.exception("guardrails step failed; retrying")
                await asyncio.sleep(1)
                wake.set()

    async def policy_step(self) -> None:
        """Apply the policies and bindings that differ from the wanted ones, delete those
        no longer wanted. The order against the contexts does not matter: a context
        written first only makes its namespace admit what its modes allow sooner (without
        one, an enforcing policy refuses everything there), and a warn or audit policy
        created later starts judging where its label already is."""
        if not self.policies_dirty:
            return
        self.policies_dirty = False
        current = self._cache("ValidatingAdmissionPolicy") + self._cache(
            "ValidatingAdmissionPolicyBinding"
        )
        changed, errors = await admission.sync_policies(
            self.kube, self.world(), [o for o in current if _managed(o)]
        )
        self._report("admission objects", changed, errors)
        if errors:  # refused (each error names the object): again after a pause
            await asyncio.sleep(POLICY_RETRY)
            self.policies_dirty = True
            self.policies_wake.set()

    async def step(self) -> None:
        # Take the work first, then read the state: an event arriving from here on marks
        # work for the next step, which will see what it announced.
        everything = self.contexts_dirty
        some, self.contexts_for = self.contexts_for, set()
        if self.claims_dirty:
            self.claims_dirty = False
            for claimant in self.tenants.claiming():
                some |= self.tenants.namespaces_of(claimant)
        namespaces, self.namespaces_dirty = self.namespaces_dirty, set()
        self.contexts_dirty = False
        exceptions_changed, self.exceptions_dirty = self.exceptions_dirty, False
        now = datetime.now(UTC)
        world = self.world()
        expired = self.next_expiry is not None and now >= self.next_expiry
        if everything or expired:
            some = set(world.namespaces)
        if some:
            for message in await admission.report_hostname_refusals(
                self.kube, world, self.refusals
            ):
                log.warning("guardrails: %s", message)
            contexts = self.informers["GuardrailContext"]
            namespace_objects = self.informers["Namespace"]
            failed: set[str] = set()
            changed, errors = await admission.sync_contexts(
                self.kube,
                world,
                now,
                lambda namespace: contexts.get(namespace, CONTEXT_NAME),
                only=some,
                failed=failed,
                namespaces=lambda namespace: namespace_objects.get(None, namespace),
            )
            GUARDRAIL_CONTEXT_WRITES.inc(len(changed))
            namespaces.update(changed)
            self._report("guardrail contexts", changed, errors)
            for namespace in some - failed:
                current_context = contexts.get(namespace, CONTEXT_NAME)
                if namespace in changed or current_context is None:
                    self.verified.pop(namespace, None)  # its echo sets it, below
                else:
                    self.verified[namespace] = _version(current_context)
            self.contexts_for |= failed
        if some or everything or expired or exceptions_changed:
            errors = await admission.sync_exception_status(
                self.kube, world, self._cache("PolicyException"), now
            )
            if errors:
                self.exceptions_dirty = True
            self._count_exceptions(world, now)
        for namespace in list(self.verified):
            if namespace not in world.namespaces:
                del self.verified[namespace]
        self.next_expiry = admission.wake_up(world, now)
        if time.monotonic() >= self.next_full_audit:
            namespaces.update(world.namespaces)
            self.next_full_audit = time.monotonic() + self.audit_interval
        await self._audit(world, now, namespaces)

    async def _audit(self, world: admission.World, now: datetime, dirty: set[str]) -> None:
        if dirty and not self.reports:
            # `mooring install apply` may have installed the kind since the last look.
            self.reports = await audit.has_report_kind(self.kube)
        failures = 0
        for index, namespace in enumerate(sorted(dirty)):
            if index % 100 == 99:
                await asyncio.sleep(0)  # thousands of namespaces: let the rest of the loop run
            if namespace not in world.namespaces:
                self._forget(namespace)
                continue
            objects = [
                obj for kind in audit.AUDITED for obj in self.informers[kind[1]].indexed(namespace)
            ]
            started = time.perf_counter()
            result = audit.judge_namespace(namespace, objects, world, now, self.engine)
            fingerprint = _fingerprint(result.report)
            if self.reports and self.reported.get(namespace) != fingerprint:
                try:
                    await audit.write_report(self.kube, result)
                    self.reported[namespace] = fingerprint
                except Exception as error:  # reported, and retried on the next pass
                    result.error = str(error)
            GUARDRAIL_AUDIT_SECONDS.observe(time.perf_counter() - started)
            GUARDRAIL_AUDITS.labels("error" if result.error else "ok").inc()
            if result.error:
                failures += 1
                if failures <= 5:
                    log.warning("audit of namespace %s: %s", namespace, result.error)
                self.namespaces_dirty.add(namespace)
            else:
                GUARDRAIL_AUDIT_LAST_SUCCESS.set_to_current_time()
            self.found[namespace] = (result.tenant, result.violations)
        if failures > 5:
            log.warning("audits of %d more namespaces failed; retried", failures - 5)
        self._publish()

    def _forget(self, namespace: str) -> None:
        self.found.pop(namespace, None)
        self.reported.pop(namespace, None)

    def _publish(self) -> None:
        totals: Counter[tuple[str, str, str]] = Counter()
        for tenant, counts in self.found.values():
            for (rule, mode), count in counts.items():
                totals[(rule, tenant or "", mode)] += count
        GUARDRAIL_VIOLATIONS.clear()
        for (rule, tenant, mode), count in totals.items():
            GUARDRAIL_VIOLATIONS.labels(rule, tenant, mode).set(count)

    def _count_exceptions(self, world: admission.World, now: datetime) -> None:
        GUARDRAIL_EXCEPTIONS.clear()
        counts: Counter[tuple[str, str]] = Counter()
        for exception in world.exceptions:
            tenant = world.namespaces.get(exception.namespace or "", "")
            counts[(tenant, "active" if exception.in_force(now) else "expired")] += 1
        for (tenant, phase), count in counts.items():
            GUARDRAIL_EXCEPTIONS.labels(tenant, phase).set(count)

    @staticmethod
    def _report(what: str, changed: list[str], errors: list[str]) -> None:
        if changed:
            shown = ", ".join(changed[:10]) + (
                f" and {len(changed) - 10} more" if len(changed) > 10 else ""
            )
            log.info("guardrails: %s updated: %s", what, shown)
        for error in errors:
            log.warning("guardrails: %s: %s", what, error)


class TenantStore:
    """Valid Tenants by name: their spec as compact JSON, the namespaces of their
    environments, and the few parsed ones last asked for."""

    CACHED = 512

    def __init__(self) -> None:
        self._specs: dict[str, bytes] = {}
        self._namespaces: dict[str, tuple[str, ...]] = {}
        self._owner: dict[str, str] = {}  # namespace -> the first tenant that names it
        self._overriding: set[str] = set()  # tenants with guardrail overrides
        self._claiming: set[str] = set()  # tenants that claim hostnames
        self._parsed: OrderedDict[str, Tenant] = OrderedDict()

    def put(self, tenant: Tenant, obj: Obj) -> None:
        name = tenant.name
        meta = obj.get("metadata") or {}
        kept = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            # The creation time orders hostname claims (core.hostnames.claim_order).
            "metadata": {
                k: meta[k] for k in ("name", "uid", "generation", "creationTimestamp") if k in meta
            },
            "spec": obj.get("spec") or {},
        }
        self._specs[name] = json.dumps(kept, separators=(",", ":")).encode()
        self._namespaces[name] = tuple(tenant.namespace(e) for e in tenant.spec.environments)
        for namespace in self._namespaces[name]:
            self._owner.setdefault(namespace, name)
        if tenant.spec.guardrails:
            self._overriding.add(name)
        if tenant.spec.hostnames:
            self._claiming.add(name)
        self._parsed[name] = tenant
        self._trim()

    def pop(self, name: str) -> None:
        self._specs.pop(name, None)
        self._parsed.pop(name, None)
        self._overriding.discard(name)
        self._claiming.discard(name)
        for namespace in self._namespaces.pop(name, ()):
            if self._owner.get(namespace) == name:
                del self._owner[namespace]
                # Another tenant naming it (a conflict) owns it now.
                heir = next((n for n, ns in self._namespaces.items() if namespace in ns), None)
                if heir is not None:
                    self._owner[namespace] = heir

    def namespaces_of(self, name: str) -> set[str]:
        return set(self._namespaces.get(name, ()))

    def get(self, name: str) -> Tenant | None:
        tenant = self._parsed.get(name)
        if tenant is not None:
            self._parsed.move_to_end(name)
            return tenant
        raw = self._specs.get(name)
        if raw is None:
            return None
        tenant = Tenant.model_validate(json.loads(raw))  # valid when it was put
        self._parsed[name] = tenant
        self._trim()
        return tenant

    def in_namespace(self, namespace: str) -> Tenant | None:
        """The tenant one of whose environments `namespace` is (core's tenant_of)."""
        owner = self._owner.get(namespace)
        return None if owner is None else self.get(owner)

    def with_overrides(self) -> list[Tenant]:
        """The tenants that set guardrail modes of their own (the policies in use)."""
        found = (self.get(name) for name in sorted(self._overriding))
        return [tenant for tenant in found if tenant is not None]

    def claiming(self) -> set[str]:
        """The tenants that claim hostnames."""
        return set(self._claiming)

    def claims(self, name: str) -> bool:
        """Does this tenant claim hostnames?"""
        return name in self._claiming

    def for_world(self) -> list[Tenant]:
        """The tenants a World must list: those with guardrail modes of their own and
        every one that claims hostnames (who holds a name depends on every claim)."""
        found = (self.get(name) for name in sorted(self._overriding | self._claiming))
        return [tenant for tenant in found if tenant is not None]

    def __len__(self) -> int:
        return len(self._specs)

    def _trim(self) -> None:
        while len(self._parsed) > self.CACHED:
            self._parsed.popitem(last=False)


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _fingerprint(report: Obj | None) -> int:
    """What a PolicyReport says, without its timestamps (an unchanged report is not sent)."""
    if report is None:
        return 0
    return hash(json.dumps(_without_times(report), sort_keys=True))


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in _TIME_FIELDS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


_TIME_FIELDS = frozenset({"timestamp", "creationTimestamp", "lastTransitionTime"})


@kopf.on.startup(registry=REGISTRY)
async def start_guardrails(memo: kopf.Memo, **_: Any) -> None:
    options = memo["options"]
    # A client of its own: its seventeen watches each hold a connection, which the shared
    # client's pool keeps for the tenants' requests and watches.
    kube = _settings.kube_client(options)
    guardrails = Guardrails(kube, audit_interval=float(getattr(options, "audit_interval", 300)))
    guardrails.reports = await audit.has_report_kind(kube)
    if not guardrails.reports:
        log.warning(
            "no PolicyReport kind (wgpolicyk8s.io/v1alpha2) in the cluster: audits count "
            "violations in metrics only; run `mooring install apply` to install it"
        )
    for api_version, kind in CONFIG_KINDS:
        # Tenants and Namespaces are parsed as their events come; the caches keep names and
        # versions only (thousands of them).
        keep = metadata_only if kind in ("Tenant", "Namespace") else None
        guardrails.informers[kind] = Informer(
            kube,
            api_version,
            kind,
            on_event=guardrails.on_config(kind),
            keep=keep,
            notify_listed=True,
        )
    for api_version, kind in audit.AUDITED:
        guardrails.informers[kind] = Informer(
            kube, api_version, kind, on_event=guardrails.on_workload, index=_namespace
        )
    for informer in guardrails.informers.values():
        informer.start()
    await asyncio.wait_for(
        asyncio.gather(*(i.synced.wait() for i in guardrails.informers.values())), timeout=120
    )
    guardrails.task = asyncio.create_task(guardrails.run(), name="guardrails")
    guardrails.wake.set()
    guardrails.policies_wake.set()
    memo["guardrails"] = guardrails
    watches = memo.get("watches")  # the tenants' (operator/tenants.py), if started first
    if watches is not None:
        watches.guarded = guardrails.in_force
    API_REFUSALS.labels("guardrails").set_function(lambda: kube.pacer.refusals)
    API_IN_FLIGHT_LIMIT.labels("guardrails").set_function(lambda: kube.pacer.limit.limit)
    resync = resync_of(memo)
    if resync is not None:
        resync.on_look.append(guardrails.resync)


@kopf.on.cleanup(registry=REGISTRY)
async def stop_guardrails(memo: kopf.Memo, **_: Any) -> None:
    guardrails: Guardrails | None = memo.get("guardrails")
    if guardrails is None:
        return
    if guardrails.task is not None:
        guardrails.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await guardrails.task
    await asyncio.gather(*(i.stop() for i in guardrails.informers.values()))
    await guardrails.kube.aclose()
