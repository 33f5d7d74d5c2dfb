"""Pure: desired vs observed -> what to apply, what to prune, what to keep and why.

The rules that keep data safe live here, in one place:
- only objects labelled as Mooring's and as this tenant's are ever pruned;
- a namespace Mooring does not own, or another tenant owns, is never touched (a conflict);
- a reserved (platform) namespace is never made or touched for a tenant (a conflict);
- a namespace kept from a deleted tenant of the same name is taken over only when the
  Tenant says so in spec.adopt (otherwise a conflict): its data and Secrets are another
  team's until someone decides otherwise in Git;
- a namespace that holds workloads or volumes is kept (retained) unless the tenant's
  deletionPolicy is Delete; what lives in a retained namespace is kept with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mooring.api import names

KubeObject = dict[str, Any]


@dataclass(frozen=True, order=True)
class Ref:
    """Identity of an object: kind, namespace, name (apiVersion group included)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def ref(obj: Mapping[str, Any]) -> Ref:
    group = obj["apiVersion"].rpartition("/")[0]
    meta = obj["metadata"]
    return Ref(group, obj["kind"], meta.get("namespace") or "", meta["name"])


@dataclass(frozen=True)
class Conflict:
    namespace: str
    reason: str
    code: str = "NamespaceConflict"  # or NamespaceReserved, AdoptionRequired


@dataclass(frozen=True)
class Adopted:
    """A kept namespace of a deleted Tenant (`previous_uid`) taken over as spec.adopt asks."""

    namespace: str
    previous_uid: str


@dataclass(frozen=True)
class Adopt:
    """What a Tenant's spec.adopt names: kept namespaces, and UIDs of deleted Tenants."""

    namespaces: frozenset[str] = frozenset()
    uids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Retained:
    namespace: str
    reason: str


@dataclass
class Plan:
    apply: list[KubeObject] = field(default_factory=list)
    prune: list[KubeObject] = field(default_factory=list)
    retained: list[Retained] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    adopted: list[Adopted] = field(default_factory=list)


def owner_of(namespace: Mapping[str, Any]) -> str | None:
    """The tenant a namespace belongs to, if Mooring manages it; None otherwise."""
    labels = namespace.get("metadata", {}).get("labels") or {}
    if labels.get(names.LABEL_MANAGED_BY) != names.MANAGED_BY:
        return None
    tenant: str | None = labels.get(names.LABEL_TENANT)
    return tenant


def conflicts(
    tenant: str,
    desired: Iterable[KubeObject],
    existing: Mapping[str, KubeObject],
    uid: str | None = None,
    adopt: Adopt = Adopt(),
    reserved: Mapping[str, str] | None = None,
) -> tuple[list[Conflict], list[Adopted]]:
    """Namespaces this tenant wants that it may not have, and kept ones it adopts.

    A namespace is this tenant's when its tenant-uid annotation names this Tenant (even if
    someone stripped the labels; applying restores them), or its labels say so and no
    other Tenant's UID is recorded on it. One recorded for an earlier Tenant of the same
    name (deleted, the namespace kept for its data) is taken over only if `adopt` names
    the namespace or that UID. `reserved` maps platform namespaces to why they are
    reserved; those are never the tenant's, whether they exist or not.
    """
    found: list[Conflict] = []
    adopted: list[Adopted] = []
    for obj in desired:
        if obj["kind"] != "Namespace":
            continue
        name = obj["metadata"]["name"]
        if reserved and name in reserved:
            found.append(Conflict(name, reserved[name], "NamespaceReserved"))
            continue
        current = existing.get(name)
        if current is None or current.get("metadata", {}).get("deletionTimestamp"):
            continue
        owner = owner_of(current)
        recorded = _recorded_uid(current)
        if uid and recorded == uid:
            continue
        if owner == tenant:
            if not uid or not recorded:
                continue  # offline, or a namespace from before UIDs were recorded
            if name in adopt.namespaces or recorded in adopt.uids:
                adopted.append(Adopted(name, recorded))
                continue
            found.append(
                Conflict(
                    name,
                    f"namespace {name} was kept from an earlier tenant {tenant} (uid "
                    f"{recorded}), deleted while the namespace held data; its workloads, "
                    "volumes and Secrets are not handed to a new tenant silently. To take it "
                    f"over, add to spec.adopt: {{namespace: {name}}} (or {{tenantUid: "
                    f"{recorded}}}); otherwise rename the environment",
                    "AdoptionRequired",
                )
            )
            continue
        if owner is None:
            reason = (
                f"namespace {name} already exists and is not managed by Mooring; "
                "it is not taken over. Rename the environment, or move the namespace's "
                "contents and delete it"
            )
        else:
            reason = f"namespace {name} belongs to tenant {owner}; two tenants cannot share it"
        found.append(Conflict(name, reason))
    return found, adopted


def plan(
    tenant: str,
    desired: list[KubeObject],
    observed: list[KubeObject],
    existing_namespaces: Mapping[str, KubeObject],
    contents: Mapping[str, str],
    deletion_policy: str,
    uid: str | None = None,
    adopt: Adopt = Adopt(),
    reserved: Mapping[str, str] | None = None,
) -> Plan:
    """Decide. `observed` are the objects labelled as this tenant's; `existing_namespaces`
    are the namespaces the tenant wants that already exist (whoever owns them);
    `contents` says, for namespaces that may be deleted, what workloads or volumes they
    hold ("" when empty); `adopt` and `reserved` as for `conflicts`."""
    found, adopted = conflicts(tenant, desired, existing_namespaces, uid, adopt, reserved)
    result = Plan(conflicts=found, adopted=adopted)
    blocked = {c.namespace for c in result.conflicts}
    result.apply = [obj for obj in desired if _namespace_of(obj) not in blocked]
    wanted = {ref(obj) for obj in desired}
    ours = [obj for obj in observed if _is_ours(obj, tenant)]
    if uid:
        # Kept from an earlier Tenant of this name and not adopted: not this one's to prune.
        taken = {a.namespace for a in adopted}
        foreign = {
            o["metadata"]["name"]
            for o in ours
            if o["kind"] == "Namespace"
            and _recorded_uid(o) not in (None, uid)
            and o["metadata"]["name"] not in taken
        }
        ours = [o for o in ours if _namespace_of(o) not in foreign]
    retained_namespaces: set[str] = set()
    for obj in ours:
        if obj["kind"] != "Namespace" or ref(obj) in wanted:
            continue
        name = obj["metadata"]["name"]
        holds = contents.get(name, "")
        if holds and deletion_policy != "Delete":
            retained_namespaces.add(name)
            result.retained.append(Retained(name, f"kept: holds {holds} (deletionPolicy Retain)"))
        else:
            result.prune.append(obj)
    pruned_namespaces = {o["metadata"]["name"] for o in result.prune}
    for obj in ours:
        if obj["kind"] == "Namespace" or ref(obj) in wanted:
            continue
        namespace = obj["metadata"].get("namespace", "")
        # Children of a retained namespace stay with it; those of a pruned one go with it.
        if namespace in retained_namespaces or namespace in pruned_namespaces:
            continue
        result.prune.append(obj)
    return result


def _namespace_of(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    if obj["kind"] == "Namespace":
        name: str = meta["name"]
        return name
    namespace: str = meta.get("namespace", "")
    return namespace


def _recorded_uid(namespace: Mapping[str, Any]) -> str | None:
    annotations = namespace.get("metadata", {}).get("annotations") or {}
    recorded: str | None = annotations.get(names.ANNOTATION_TENANT_UID)
    return recorded


def _is_ours(obj: Mapping[str, Any], tenant: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return (
        labels.get(names.LABEL_MANAGED_BY) == names.MANAGED_BY
        and labels.get(names.LABEL_TENANT) == tenant
    )


def drifted(desired: Any, actual: Any, path: str = "") -> bool:
    """Does `actual` differ from `desired` in anything `desired` says?

    Fields the server adds (defaults, status, other labels) are not drift. Lists must match
    item by item and in length (an added NetworkPolicy rule or RoleBinding subject is
    drift); the quota's `hard` map must match exactly (an added limit is drift).
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return True
        if path in EXACT_MAPS and set(desired) != set(actual):
            return True
        return any(
            drifted(value, actual.get(key), f"{path}.{key}" if path else key)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return True
        return any(drifted(d, a, path) for d, a in zip(desired, actual, strict=True))
    if isinstance(desired, int) and isinstance(actual, str | int):
        return str(desired) != str(actual)
    return bool(desired != actual)


EXACT_MAPS = frozenset({"spec.hard"})
