"""kopf handlers for Tenants, and the watches that keep what they own as Git says.

- Tenant created, changed or resumed: services.tenants.reconcile, status, Events.
- Tenant deleted: services.tenants.finalize (kopf's finalizer is mooring.dev/finalizer).
- A managed child changed or deleted: restored at once. Informers (list + watch, one per
  kind) see every change; the desired object is rendered from kopf's index of Tenants.
  Their caches also tell reconcile what exists, so it asks the API server less.
- PlatformConfig changed: every tenant is reconciled again.
- A Tenant left behind (its status behind its spec, nothing happening to it): reconciled
  again by the resync (operator/resync.py), under the same per-tenant lock as the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from mooring.api import names
from mooring.api.platform import PLATFORM_CONFIG_NAME
from mooring.api.tenant import Tenant
from mooring.core.cost.budget import CostBasis
from mooring.core.plan import Ref, drifted, ref
from mooring.core.render import Context, Features, render_tenant
from mooring.core.render.quotas import QUOTA_NAME
from mooring.core.validate import platform_validity
from mooring.kube.client import Conflict, Kube, KubeError, NotFound
from mooring.kube.events import post_event
from mooring.kube.informer import Codec, Informer, slim
from mooring.operator.logs import waiting_message
from mooring.operator.metrics import (
    API_IN_FLIGHT_LIMIT,
    API_REFUSALS,
    DRIFT_REPAIRS,
    QUEUE_LATENCY,
    RECONCILE_ERRORS,
    RECONCILE_SECONDS,
    RECONCILES,
    STATUS_WRITES,
    TENANTS,
)
from mooring.operator.registry import REGISTRY
from mooring.operator.resync import Key, KeyedLocks, Seen, Source, behind, resync_of
from mooring.services import retire
from mooring.services import tenants as service

TENANTS_RESOURCE = (names.GROUP, names.VERSION, "tenants")
PLATFORM_RESOURCE = (names.GROUP, names.VERSION, "platformconfigs")
# Owned objects of these kinds are watched by label: the cluster has many of them.
BY_LABEL = {"ConfigMap": f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"}
RENDER_CACHE = 128
RECONCILING = 16
# How long a tenant's reconcile waits for its new namespaces' GuardrailContexts before it
# says NamespacesReady False and tries again (the guardrails' loop writes them in its next
# step: well under a second on a quiet operator, seconds with thousands of tenants arriving).
IN_FORCE_WAIT = 10.0
RECONCILE_ALL_WORKERS = 8
USAGE_WRITES = 8  # quota-usage status writes at once
log = logging.getLogger(__name__)


def _tenant_label(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(names.LABEL_MANAGED_BY) != names.MANAGED_BY:
        return None
    tenant: str | None = labels.get(names.LABEL_TENANT)
    return tenant


class Bodies:
    """The Tenants as kopf's watch last saw them, kept as compact JSON deflated against the
    first Tenants (the informers' codec: a Ready Tenant's status, conditions and quota usage
    included, is some 2.5 KiB of JSON and a few hundred bytes deflated; as dicts, ten
    thousand tenants cost several times the JSON), with what the render cache and the
    resync ask of each without reading it all."""

    def __init__(self) -> None:
        # Its dictionary from Tenants with a status (a new Tenant's body is half a Ready
        # one's), in a window that holds three.
        self._codec = Codec(window=14, sample=lambda body: bool(body.get("status")))
        self._raw: dict[str, bytes] = {}
        # name -> (generation, deleting, uid, resourceVersion, status behind its spec)
        self._facts: dict[str, tuple[Any, bool, str, str, bool]] = {}

    def __setitem__(self, name: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        self._raw[name] = self._codec.dump(dict(body))
        self._facts[name] = (
            meta.get("generation"),
            bool(meta.get("deletionTimestamp")),
            str(meta.get("uid", "")),
            str(meta.get("resourceVersion", "")),
            behind(body),
        )

    def get(self, name: str) -> dict[str, Any] | None:
        raw = self._raw.get(name)
        return None if raw is None else self._codec.load(raw)

    def pop(self, name: str) -> None:
        self._raw.pop(name, None)
        self._facts.pop(name, None)

    def generation(self, name: str) -> tuple[Any, bool] | None:
        """(generation, being deleted) without reading the body."""
        facts = self._facts.get(name)
        return None if facts is None else (facts[0], facts[1])

    def behind(self) -> dict[Key, Seen]:
        """The tenants whose status is behind their spec, as the resync wants them."""
        return {
            ("", name): Seen(version, uid)
            for name, (_, _, uid, version, late) in self._facts.items()
            if late
        }

    def names(self) -> list[str]:
        return list(self._raw)

    def values(self) -> Iterator[dict[str, Any]]:
        for name in self.names():
            body = self.get(name)
            if body is not None:
                yield body

    def __len__(self) -> int:
        return len(self._raw)


@dataclass
class Watches:
    """The operator's informers over what Tenants own, and the repair bookkeeping."""

    kube: Kube
    informers: dict[str, Informer] = field(default_factory=dict)
    tenants: Bodies = field(default_factory=Bodies)  # name -> latest body
    platform: dict[str, Any] | None = None
    features: Features = field(default_factory=Features)
    namespace_owner: dict[str, str] = field(default_factory=dict)
    repairing: set[Ref] = field(default_factory=set)
    # Recently rendered tenants only: rendering again costs a fraction of a millisecond,
    # keeping every tenant's objects would cost tens of MiB at a thousand tenants.
    renders: OrderedDict[
        str, tuple[tuple[str, str, tuple[bool, ...]], dict[Ref, dict[str, Any]]]
    ] = field(default_factory=OrderedDict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Tenants whose quota usage is due: name -> [first due, last changed] (monotonic).
    usage_pending: dict[str, list[float]] = field(default_factory=dict)
    usage_looping: bool = False
    # A quota's usage is written once the tenant's quotas are all counted and none changed
    # for usage_delay (one write per burst, none for a count put right meanwhile), or after
    # usage_wait at the latest: a tenant's status trails its quotas by half a minute or
    # more, and pods coming and going cost at most a status write per usage_delay. The
    # quota controller's first count of a new quota misses the namespace's ConfigMaps and
    # is put right 7 to 25 s later (300 new tenants at once on the local control plane).
    usage_delay: float = 30.0
    usage_wait: float = 120.0
    # One reconcile of a tenant at a time: kopf's handler, the resync, a platform change.
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    # And RECONCILING tenants at most at once in all.
    reconciling: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(RECONCILING))
    # The last cost refresh's (operator/cost.py): a new tenant's first status carries the
    # cost that refresh would give it, rather than the refresh writing it after.
    cost_basis: CostBasis | None = None
    # The guardrails' (operator/guardrails.py `Guardrails.in_force`: namespaces, seconds to
    # wait), once they run: a tenant is Ready once its namespaces have their contexts.
    guarded: Callable[[Sequence[str], float], Awaitable[list[str]]] | None = None

    # -- the View the reconcile service reads -------------------------------------------------

    def owned(self, tenant: str) -> list[dict[str, Any]]:
        return [obj for informer in self.informers.values() for obj in informer.indexed(tenant)]

    def namespace(self, name: str) -> dict[str, Any] | None:
        return self.informers["Namespace"].get(None, name)

    def platform_config(self) -> dict[str, Any] | None:
        return self.platform

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*(i.stop() for i in self.informers.values()))

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers.values())

    # -- desired state -----------------------------------------------------------------------

    def desired(self, tenant_name: str) -> dict[Ref, dict[str, Any]] | None:
        """The rendered objects of a tenant by identity, cached per tenant/platform version."""
        known = self.tenants.generation(tenant_name)
        if known is None or self.platform is None or known[1]:
            return None
        key = (
            str(known[0]),
            str(self.platform["metadata"].get("generation")),
            self.features.key(),
        )
        cached = self.renders.get(tenant_name)
        if cached is not None and cached[0] == key:
            self.renders.move_to_end(tenant_name)
            return cached[1]
        body = self.tenants.get(tenant_name)
        if body is None:
            return None
        try:
            tenant = Tenant.model_validate(body)
            platform = service.parse_platform(self.platform)
            objects = render_tenant(
                Context(tenant, platform.spec, self.features, body["metadata"].get("uid"))
            )
        except (ValueError, KeyError):
            return None  # an invalid spec or unknown tier: the tenant's reconcile reports it
        rendered = {ref(obj): obj for obj in objects}
        self.renders[tenant_name] = (key, rendered)
        if len(self.renders) > RENDER_CACHE:
            self.renders.popitem(last=False)
        return rendered

    def owner_of(self, obj: Mapping[str, Any]) -> str | None:
        labelled = _tenant_label(obj) or ((obj.get("metadata") or {}).get("labels") or {}).get(
            names.LABEL_TENANT
        )
        if labelled:
            return str(labelled)
        meta = obj.get("metadata") or {}
        namespace = meta.get("name") if obj.get("kind") == "Namespace" else meta.get("namespace")
        return self.namespace_owner.get(namespace or "")

    # -- drift -------------------------------------------------------------------------------

    def on_child_event(self, event_type: str, obj: dict[str, Any]) -> None:
        """Quick: decide whether the object drifted; if so, repair it in a task."""
        tenant_name = self.owner_of(obj)
        if tenant_name is None:
            return
        if obj.get("kind") == "ResourceQuota" and event_type != "DELETED":
            self._note_usage(tenant_name, obj)
        desired = self.desired(tenant_name)
        if desired is None:
            return
        identity = ref(obj)
        wanted = desired.get(identity)
        if wanted is None or identity in self.repairing:
            return
        deleted = event_type == "DELETED"
        if not deleted and not drifted(wanted, obj):
            return
        self.repairing.add(identity)
        self._spawn(self._repair(tenant_name, identity, wanted, deleted, time.perf_counter()))

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- quota usage in status -----------------------------------------------------------------

    def _note_usage(self, tenant_name: str, quota: dict[str, Any]) -> None:
        """A quota's usage changed: the tenant's status is due for a write once its counts
        have held for usage_delay (one write per burst; none if they come back)."""
        now = time.monotonic()
        pending = self.usage_pending.get(tenant_name)
        if pending is not None:
            pending[1] = now  # changed again: the write waits for the counts to hold
            return
        tenant = self.tenants.get(tenant_name)
        if tenant is None:
            return
        namespace = quota["metadata"].get("namespace")
        entries = (tenant.get("status") or {}).get("namespaces") or []
        entry = next((e for e in entries if e.get("name") == namespace), None)
        if entry is None or entry.get("quota") == self._usage(tenant_name, quota):
            return
        self.usage_pending[tenant_name] = [now, now]
        if not self.usage_looping:
            self.usage_looping = True
            self._spawn(self._usage_loop())

    def note_status(self, tenant_name: str, body: Mapping[str, Any]) -> None:
        """A Tenant's status changed: if a quota was counted before the status that lists
        its namespace was written (a new tenant's quota usually is), its usage is due."""
        quotas = self.informers.get("ResourceQuota")
        if quotas is None or tenant_name in self.usage_pending:
            return
        for entry in (body.get("status") or {}).get("namespaces") or []:
            quota = quotas.get(entry.get("name"), QUOTA_NAME)
            if quota is not None and (quota.get("status") or {}).get("hard"):
                self._note_usage(tenant_name, quota)
                if tenant_name in self.usage_pending:
                    return

    async def _usage_loop(self) -> None:
        """Write each pending tenant's usage once its counts have held for usage_delay and
        its quotas are all counted, or usage_wait after it was first due: one loop for all
        tenants, a few writes at a time. (A task per tenant, each waiting half a minute,
        raised the peak memory at 2,000 new tenants from 164 to 211 MiB.)"""
        try:
            while self.usage_pending:
                await asyncio.sleep(self.usage_delay / 4)
                now = time.monotonic()
                due = [
                    name
                    for name, (since, changed) in self.usage_pending.items()
                    if now - changed >= self.usage_delay or now - since >= self.usage_wait
                ]
                ready = [
                    name
                    for name in due
                    if now - self.usage_pending[name][0] >= self.usage_wait or self._counted(name)
                ]
                for name in ready:
                    del self.usage_pending[name]
                for start in range(0, len(ready), USAGE_WRITES):
                    chunk = ready[start : start + USAGE_WRITES]
                    await asyncio.gather(*(self._write_usage(name) for name in chunk))
        finally:
            self.usage_looping = False

    def _usage(self, tenant_name: str, quota: dict[str, Any]) -> list[dict[str, Any]]:
        """The quota's usage as the status shows it: each count at least what is always in
        its namespace (services.tenants.at_least_first_count)."""
        desired = self.desired(tenant_name)
        if desired is not None:
            quota = service.at_least_first_count(quota, desired.values())
        return [u.model_dump(by_alias=True) for u in service.quota_usage(quota)]

    def _counted(self, tenant_name: str) -> bool:
        """Every quota of the tenant's namespaces has been counted by the quota controller."""
        quotas = self.informers["ResourceQuota"]
        tenant = self.tenants.get(tenant_name) or {}
        for entry in (tenant.get("status") or {}).get("namespaces") or []:
            quota = quotas.get(entry.get("name"), QUOTA_NAME)
            if quota is not None and not (quota.get("status") or {}).get("hard"):
                return False
        return True

    async def _write_usage(self, tenant_name: str) -> None:
        """One status write with the usage of every quota of the tenant, unless it says
        what the status says already (a count put right meanwhile, or the reconcile's
        first_count)."""
        quotas = self.informers["ResourceQuota"]
        tenant = self.tenants.get(tenant_name)
        if tenant is None:
            return
        written = (tenant.get("status") or {}).get("namespaces") or []
        entries = [dict(e) for e in written]
        for entry in entries:
            quota = quotas.get(entry.get("name"), QUOTA_NAME)
            if quota is not None:
                entry["quota"] = self._usage(tenant_name, quota)
        if entries == written:
            return
        with contextlib.suppress(KubeError):
            await _write_status(self.kube, tenant_name, {"namespaces": entries}, "usage")

    # -- repair --------------------------------------------------------------------------------

    async def _repair(
        self,
        tenant_name: str,
        identity: Ref,
        wanted: dict[str, Any],
        deleted: bool,
        seen: float,
    ) -> None:
        QUEUE_LATENCY.labels("drift").observe(time.perf_counter() - seen)
        try:
            if (identity.kind == "Namespace" and deleted) or identity.kind == "TenantView":
                # A namespace went with everything in it, or the TenantView (which carries
                # the status, not in what is rendered) changed: reconcile the whole tenant.
                current = await self.kube.get_or_none(names.API_VERSION, "Tenant", tenant_name)
                if current is None or current["metadata"].get("deletionTimestamp"):
                    return
                outcome = await reconcile_and_report(self.kube, _body(current), self)
                await _write_status(self.kube, tenant_name, outcome.status, "repair")
            else:
                await _restore(self.kube, wanted)
        except KubeError as error:
            # A namespace being terminated refuses content; its recreation repairs all.
            log.warning("could not restore %s: %s", identity, error)
            return
        finally:
            self.repairing.discard(identity)
        DRIFT_REPAIRS.labels(identity.kind).inc()
        tenant = self.tenants.get(tenant_name)
        if tenant is not None:
            await post_event(
                self.kube,
                tenant,
                "Normal",
                "DriftRepaired",
                f"{identity} was {'deleted' if deleted else 'changed'} outside Git; restored",
            )


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


def _body(raw: Mapping[str, Any]) -> kopf.Body:
    return kopf.Body(cast("kopf.RawBody", raw))


def _watches(memo: kopf.Memo) -> Watches:
    watches: Watches = memo["watches"]
    return watches


_READY: dict[str, str] = {}
for _state, _label in (("True", "Ready"), ("False", "NotReady")):
    TENANTS.labels(_label).set_function(
        lambda s=_state: sum(1 for v in _READY.values() if v == s)  # type: ignore[misc]
    )


@kopf.on.startup(registry=REGISTRY)
async def start_watches(memo: kopf.Memo, **_: Any) -> None:
    kube: Kube = memo["kube"]
    watches = Watches(kube, features=await service.discover_features(kube))
    memo["features"] = watches.features
    _start_informers(watches)
    watches._spawn(_retire(kube))
    memo["watches"] = watches
    guardrails = memo.get("guardrails")  # if started first (operator/guardrails.py)
    if guardrails is not None:
        watches.guarded = guardrails.in_force
    memo.setdefault("on_close", []).append(watches.stop)
    API_REFUSALS.labels("tenants").set_function(lambda: kube.pacer.refusals)
    API_IN_FLIGHT_LIMIT.labels("tenants").set_function(lambda: kube.pacer.limit.limit)
    resync = resync_of(memo)
    if resync is not None:
        resync.sources.append(
            Source(
                "Tenant",
                names.API_VERSION,
                again=lambda key, seen: reconcile_again(watches, key, seen),
                remembered=watches.tenants.behind,
                busy=lambda key, _seen: watches.locks.held(key[1]),
                # Every reconcile slot taken: kopf's workers queue behind them.
                backlog=watches.reconciling.locked,
            )
        )
    await asyncio.wait_for(
        asyncio.gather(*(i.synced.wait() for i in watches.informers.values())), timeout=120
    )
    if not all(getattr(watches.features, flag) for flag in service.OPTIONAL_KINDS.values()):
        watches._spawn(_watch_for_features(watches, memo["options"].feature_poll_seconds))


async def _retire(kube: Kube) -> None:
    """Delete what earlier versions made and this one does not (services/retire.py)."""
    try:
        removed = await retire.retire_tenant_readers(kube)
    except KubeError as error:
        log.warning("could not delete the tenant reader roles of an earlier version: %s", error)
        return
    if removed:
        log.info(
            "deleted %d tenant reader ClusterRole(s) and binding(s) of an earlier version "
            "(members read their TenantView now)",
            len(removed),
        )


def _start_informers(watches: Watches) -> list[Informer]:
    """An informer for every owned kind installed and not watched yet."""
    started = []
    for api, kind, _ in service.OWNED_KINDS:
        if kind in watches.informers or not service.kind_wanted(kind, watches.features):
            continue
        informer = Informer(
            watches.kube, api, kind, watches.on_child_event, _tenant_label, BY_LABEL.get(kind)
        )
        watches.informers[kind] = informer
        informer.start()
        started.append(informer)
    return started


async def _watch_for_features(watches: Watches, every: float) -> None:
    """CRDs installed after the operator started (Cilium, the Prometheus Operator,
    grafana-operator): watch their kinds, and render them for every tenant."""
    while not all(getattr(watches.features, flag) for flag in service.OPTIONAL_KINDS.values()):
        await asyncio.sleep(every)
        try:
            found = await service.discover_features(watches.kube)
        except KubeError as error:  # the API server is away: look again next time
            log.warning("could not look for optional CRDs: %s", error)
            continue
        if found.key() == watches.features.key():
            continue
        log.info("CRDs appeared or went: tenants are rendered for %s from now on", found)
        watches.features = found
        started = _start_informers(watches)
        await asyncio.gather(*(i.synced.wait() for i in started))
        todo: set[str] = set(watches.tenants.names())
        while todo:
            todo = await reconcile_all(watches, sorted(todo), "CRDs appeared or went")
            if todo:
                await asyncio.sleep(every)


async def reconcile_all(watches: Watches, tenant_names: Iterable[str], why: str) -> set[str]:
    """Reconcile these tenants (a few at a time, each under its lock, its body read from the
    watch's cache when its turn comes) and write their status; returns the names of those
    the API server did not let us finish. A few workers, not a task per tenant: at ten
    thousand tenants, a task and a parsed body each would be some 100 MiB at once."""
    failed: set[str] = set()
    pending = iter(list(tenant_names))

    async def worker() -> None:
        for name in pending:
            async with watches.locks.hold(name):
                current = watches.tenants.get(name)
                if current is None or current["metadata"].get("deletionTimestamp"):
                    continue  # deleted meanwhile: its finalizer is at work
                try:
                    outcome = await reconcile_and_report(watches.kube, _body(current), watches)
                    await _write_status(watches.kube, name, outcome.status, "rerender")
                except KubeError as error:
                    log.warning("Tenant %s: could not reconcile (%s): %s", name, why, error)
                    failed.add(name)

    await asyncio.gather(*(worker() for _ in range(RECONCILE_ALL_WORKERS)))
    return failed


# -- what kopf's watches tell us about tenants and the platform ------------------------------


@kopf.on.event(*TENANTS_RESOURCE, registry=REGISTRY)
async def remember_tenant(type: str, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    watches = _watches(memo)
    if type == "DELETED":
        watches.tenants.pop(name)
        watches.renders.pop(name, None)
        _READY.pop(name, None)
        for namespace in [n for n, owner in watches.namespace_owner.items() if owner == name]:
            del watches.namespace_owner[namespace]
        return
    # Slim: managedFields and kopf's annotations would double what is kept per tenant.
    watches.tenants[name] = slim(dict(body))
    _READY[name] = (body.get("status") or {}).get("ready", "False")
    watches.note_status(name, body)
    for environment in (body.get("spec") or {}).get("environments") or []:
        watches.namespace_owner[f"{name}-{environment.get('name')}"] = name


@kopf.on.event(*PLATFORM_RESOURCE, registry=REGISTRY)
async def remember_platform(
    type: str, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    if name == PLATFORM_CONFIG_NAME:
        _watches(memo).platform = None if type == "DELETED" else dict(body)


# -- tenants ---------------------------------------------------------------------------------


async def reconcile_and_report(
    kube: Kube, body: kopf.Body, watches: Watches | None
) -> service.Outcome:
    """Reconcile, count, and tell (Events where `kubectl describe tenant` finds them)."""
    view = watches if watches is not None and watches.synced() else None
    # A few tenants at a time, each finished quickly, rather than a hundred sharing the
    # client's requests and all finishing late (the time is measured from here).
    async with watches.reconciling if watches is not None else contextlib.nullcontext():
        started = time.perf_counter()
        try:
            outcome = await service.reconcile(
                kube,
                dict(body),
                view=view,
                cost_basis=watches.cost_basis if watches is not None else None,
                guarded=_outside_slot(watches) if watches is not None else None,
            )
        except Exception:
            RECONCILES.labels("Tenant", "error").inc()
            raise
    RECONCILE_SECONDS.labels("Tenant").observe(time.perf_counter() - started)
    RECONCILES.labels("Tenant", "ready" if outcome.ready else "not-ready").inc()
    for error in outcome.errors:
        RECONCILE_ERRORS.labels("Tenant", error.step).inc()
    for type_, reason, message in outcome.events:
        await post_event(kube, body, type_, reason, message)
    _READY[body["metadata"]["name"]] = "True" if outcome.ready else "False"
    return outcome


def _outside_slot(watches: Watches) -> service.Guarded | None:
    """The guardrails' wait for a tenant's GuardrailContexts, without holding one of the
    RECONCILING slots: the guardrails' loop writes the contexts of every namespace that
    appeared during its last step in its next one, so the tenants waiting for them (all
    those created meanwhile) must not keep the others from reaching their namespaces."""
    in_force = watches.guarded
    if in_force is None:
        return None

    async def guarded(namespaces: Sequence[str]) -> list[str]:
        assert in_force is not None
        missing = await in_force(namespaces, 0)
        if not missing:
            return []
        watches.reconciling.release()
        try:
            return await in_force(missing, IN_FORCE_WAIT)
        finally:
            # Taken back even when cancelled meanwhile (the caller's `async with` gives it
            # back in any case): shielded, the acquire finishes on its own.
            await asyncio.shield(asyncio.ensure_future(watches.reconciling.acquire()))

    return guarded


@kopf.on.resume(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
@kopf.on.create(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
@kopf.on.update(*TENANTS_RESOURCE, registry=REGISTRY, backoff=10)
async def reconcile_tenant(
    name: str, body: kopf.Body, memo: kopf.Memo, patch: kopf.Patch, retry: int, **_: Any
) -> None:
    watches: Watches | None = memo.get("watches")
    held = watches.locks.hold(name) if watches is not None else contextlib.nullcontext()
    try:
        async with held:
            outcome = await reconcile_and_report(memo["kube"], body, watches)
    except KubeError as error:
        # The API server refused or stalled past the client's retries: try again later.
        delay = retry_delay(name, retry)
        said = waiting_message(error, error.status) or str(error)
        raise kopf.TemporaryError(f"{said}; trying again in {delay:.0f} s", delay=delay) from error
    patch.status.update(outcome.status)  # beside kopf's own status.kopf (kopf_state.py)
    STATUS_WRITES.labels("Tenant", "reconcile").inc()  # kopf writes it after the handler
    if outcome.errors:
        # Status already says what failed; kopf retries, later each time.
        first = "; ".join(f"{e.what}: {e.message}" for e in outcome.errors[:3])
        delay = retry_delay(name, retry)
        raise kopf.TemporaryError(
            f"{len(outcome.errors)} object(s) failed: {first}; trying again in {delay:.0f} s",
            delay=delay,
        )


def retry_delay(name: str, retry: int, base: float = 5.0, cap: float = 300.0) -> float:
    """Pure: seconds before a tenant's next try: 5 s doubling to 5 minutes, spread by up to
    a quarter by its name, so that thousands failing together do not retry together."""
    spread = 0.75 + (zlib.crc32(f"{name}/{retry}".encode()) % 1000) / 4000
    return float(min(cap, base * 2 ** min(retry, 16)) * spread)


async def reconcile_again(watches: Watches, key: Key, seen: Seen) -> bool:
    """The resync found this tenant left behind: reconcile it and write its status, unless
    it changed meanwhile (then its handler is at work)."""
    name = key[1]
    async with watches.locks.hold(name):
        current = await watches.kube.get_or_none(names.API_VERSION, "Tenant", name)
        if (
            current is None
            or not behind(current)
            or current["metadata"].get("resourceVersion") != seen.version
        ):
            return False
        outcome = await reconcile_and_report(watches.kube, _body(current), watches)
        await _write_status(watches.kube, name, outcome.status, "resync")
    return True


@kopf.on.delete(*TENANTS_RESOURCE, registry=REGISTRY)
async def finalize_tenant(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        outcome = await service.finalize(memo["kube"], dict(body))
    except KubeError as error:
        raise kopf.TemporaryError(str(error), delay=5) from error
    for type_, reason, message in outcome.events:
        await post_event(memo["kube"], body, type_, reason, message)


# -- the platform ----------------------------------------------------------------------------


@kopf.on.resume(*PLATFORM_RESOURCE, registry=REGISTRY)
@kopf.on.create(*PLATFORM_RESOURCE, registry=REGISTRY)
@kopf.on.update(*PLATFORM_RESOURCE, registry=REGISTRY, field="spec")
async def platform_warning(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A PlatformConfig the operator cannot accept gets a Warning Event saying why (its Valid
    condition is written with Ready by operator/platform.py, the status's one writer)."""
    valid, reason, message = platform_validity(dict(body))
    conditions = (body.get("status") or {}).get("conditions") or []
    was = next((c for c in conditions if c.get("type") == "Valid"), None)
    if not valid and (was is None or was.get("message") != message):
        await post_event(memo["kube"], body, "Warning", reason, message)


@kopf.on.create(*PLATFORM_RESOURCE, registry=REGISTRY)
@kopf.on.update(*PLATFORM_RESOURCE, registry=REGISTRY, field="spec")
async def platform_changed(name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Tiers, capacity or peers changed: every tenant renders anew."""
    if name != PLATFORM_CONFIG_NAME:
        return
    watches = _watches(memo)
    watches.platform = dict(body)
    failed = await reconcile_all(watches, watches.tenants.names(), "platform changed")
    if failed:
        shown = ", ".join(sorted(failed)[:5]) + (", ..." if len(failed) > 5 else "")
        raise kopf.TemporaryError(f"{len(failed)} tenant(s) not reconciled: {shown}", delay=30)


async def _write_status(kube: Kube, name: str, status: dict[str, Any], why: str) -> None:
    with contextlib.suppress(NotFound):  # deleted meanwhile
        await kube.patch(
            names.API_VERSION, "Tenant", name, {"status": status}, subresource="status"
        )
        STATUS_WRITES.labels("Tenant", why).inc()
