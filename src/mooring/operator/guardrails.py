"""The guardrails in the cluster: admission objects, GuardrailContexts, audits. Thin.

At startup, informers watch what the guardrails depend on (PlatformConfig, Tenants,
PolicyExceptions, tenant Namespaces, the GuardrailContexts and the admission objects
themselves, and every workload kind). Their events only mark work and wake one loop, which
then calls the services:

- policies: services.admission.sync_policies, when the platform or a tenant changes, or
  someone edits a managed policy or binding;
- contexts: services.admission.sync_contexts, when an input changes and at the moment the
  next PolicyException expires, so that an expired exception stops applying at admission
  when it stops applying in `mooring check` and in the audit;
- audits: services.audit.audit_namespace, for a namespace whose workloads or context
  changed, and for every tenant namespace periodically; one PolicyReport per namespace,
  and the violations by rule and tenant as metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from mooring.api import names
from mooring.core.policy.admission import API_VERSION as ADMISSION_API
from mooring.core.policy.admission import LABELS as ADMISSION_LABELS
from mooring.core.policy.engine import Engine
from mooring.kube.client import Kube
from mooring.kube.informer import Informer
from mooring.operator import settings as _settings  # its startup handler makes memo["kube"]
from mooring.operator.metrics import (
    GUARDRAIL_AUDIT_LAST_SUCCESS,
    GUARDRAIL_AUDIT_SECONDS,
    GUARDRAIL_AUDITS,
    GUARDRAIL_CONTEXT_WRITES,
    GUARDRAIL_EXCEPTIONS,
    GUARDRAIL_VIOLATIONS,
)
from mooring.operator.registry import REGISTRY
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


def _namespace(obj: Obj) -> str | None:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return str(namespace) if namespace else None


def _managed(obj: Obj) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in ADMISSION_LABELS.items())


@dataclass
class Guardrails:
    kube: Kube
    audit_interval: float = 300.0
    engine: Engine = field(default_factory=Engine)
    informers: dict[str, Informer] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    policies_dirty: bool = True
    contexts_dirty: bool = True
    namespaces_dirty: set[str] = field(default_factory=set)
    next_expiry: datetime | None = None
    next_full_audit: float = 0.0
    reports: bool = True
    # namespace -> (tenant, violations by (rule, mode)): what the metrics add up.
    found: dict[str, tuple[str | None, Counter[tuple[str, str]]]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    # -- events: mark work, wake the loop --------------------------------------------------

    def on_config(self, kind: str) -> Any:
        def handler(event_type: str, obj: Obj) -> None:
            if kind in ("PlatformConfig", "Tenant"):
                self.policies_dirty = self.contexts_dirty = True
                self.next_full_audit = 0.0  # modes may have changed everywhere
            elif kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
                if _managed(obj) or event_type == "DELETED":
                    self.policies_dirty = True
            else:
                self.contexts_dirty = True
                namespace = _namespace(obj) or (
                    obj["metadata"]["name"] if kind == "Namespace" else None
                )
                if namespace is not None:
                    self.namespaces_dirty.add(namespace)
            self.wake.set()

        return handler

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
        return admission.world_of(
            self._cache("PlatformConfig"),
            self._cache("Tenant"),
            self._cache("PolicyException"),
            self._cache("Namespace"),
        )

    def _timeout(self) -> float:
        waits = [max(0.0, self.next_full_audit - time.monotonic())]
        if self.next_expiry is not None:
            seconds = (self.next_expiry - datetime.now(UTC)).total_seconds() + EXPIRY_MARGIN
            waits.append(max(0.0, seconds))
        return min(waits)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self._timeout())
            self.wake.clear()
            await asyncio.sleep(DEBOUNCE)  # let a burst of events arrive
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one step
                log.exception("guardrails step failed; retrying")
                await asyncio.sleep(1)
                self.wake.set()

    async def step(self) -> None:
        # Take the work first, then read the caches: an event arriving from here on marks
        # work for the next step, which will see what it announced.
        policies, contexts = self.policies_dirty, self.contexts_dirty
        namespaces, self.namespaces_dirty = self.namespaces_dirty, set()
        self.policies_dirty = self.contexts_dirty = False
        log.debug(
            "guardrails step: policies %s, contexts %s, namespaces %s",
            policies,
            contexts,
            sorted(namespaces),
        )
        now = datetime.now(UTC)
        world = self.world()
        for problem in world.problems:
            log.warning("guardrails: %s", problem)
        if policies:
            current = self._cache("ValidatingAdmissionPolicy") + self._cache(
                "ValidatingAdmissionPolicyBinding"
            )
            changed, errors = await admission.sync_policies(
                self.kube, world, [o for o in current if _managed(o)]
            )
            self._report("admission objects", changed, errors)
            if errors:
                self.policies_dirty = True
        expired = self.next_expiry is not None and now >= self.next_expiry
        if contexts or expired:
            current_contexts = {
                str(obj["metadata"]["namespace"]): obj
                for obj in self._cache("GuardrailContext")
                if obj["metadata"]["name"] == "guardrails"
            }
            changed, errors = await admission.sync_contexts(self.kube, world, now, current_contexts)
            GUARDRAIL_CONTEXT_WRITES.inc(len(changed))
            namespaces.update(changed)
            self._report("guardrail contexts", changed, errors)
            errors += await admission.sync_exception_status(
                self.kube, world, self._cache("PolicyException"), now
            )
            if errors:
                self.contexts_dirty = True
            self._count_exceptions(world, now)
        self.next_expiry = admission.wake_up(world, now)
        if time.monotonic() >= self.next_full_audit:
            namespaces.update(world.namespaces)
            self.next_full_audit = time.monotonic() + self.audit_interval
        await self._audit(world, now, namespaces)

    async def _audit(self, world: admission.World, now: datetime, dirty: set[str]) -> None:
        if dirty and not self.reports:
            # `mooring install apply` may have installed the kind since the last look.
            self.reports = await audit.has_report_kind(self.kube)
        for namespace in sorted(dirty):
            if namespace not in world.namespaces:
                self._forget(namespace)
                continue
            objects = [
                obj for kind in audit.AUDITED for obj in self.informers[kind[1]].indexed(namespace)
            ]
            started = time.perf_counter()
            result = audit.judge_namespace(namespace, objects, world, now, self.engine)
            if self.reports:
                try:
                    await audit.write_report(self.kube, result)
                except Exception as error:  # reported, and retried on the next pass
                    result.error = str(error)
            GUARDRAIL_AUDIT_SECONDS.observe(time.perf_counter() - started)
            GUARDRAIL_AUDITS.labels("error" if result.error else "ok").inc()
            if result.error:
                log.warning("audit of %s: %s", namespace, result.error)
                self.namespaces_dirty.add(namespace)
            else:
                GUARDRAIL_AUDIT_LAST_SUCCESS.set_to_current_time()
            self.found[namespace] = (result.tenant, result.violations)
        self._publish()

    def _forget(self, namespace: str) -> None:
        self.found.pop(namespace, None)

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
            log.info("guardrails: %s updated: %s", what, ", ".join(changed))
        for error in errors:
            log.warning("guardrails: %s: %s", what, error)


@kopf.on.startup(registry=REGISTRY)
async def start_guardrails(memo: kopf.Memo, **_: Any) -> None:
    options = memo["options"]
    # A client of its own: its sixteen watches each hold a connection, which the shared
    # client's pool keeps for the tenants' requests and watches.
    kube = options.connect()
    guardrails = Guardrails(kube, audit_interval=float(getattr(options, "audit_interval", 300)))
    guardrails.reports = await audit.has_report_kind(kube)
    if not guardrails.reports:
        log.warning(
            "no PolicyReport kind (wgpolicyk8s.io/v1alpha2) in the cluster: audits count "
            "violations in metrics only; run `mooring install apply` to install it"
        )
    for api_version, kind in CONFIG_KINDS:
        informer = Informer(kube, api_version, kind, on_event=guardrails.on_config(kind))
        guardrails.informers[kind] = informer
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
    memo["guardrails"] = guardrails


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
