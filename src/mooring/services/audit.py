"""Audit what already runs: judge a namespace's workloads, write its PolicyReport.

Side effects: lists workloads (when the caller has no informer view), server-side applies
one PolicyReport per namespace. Gather (the objects, the World), decide (core.policy:
Judge, policy_report), act (apply the report); the counts come back for the metrics.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mooring.api import policyreport
from mooring.core.policy.check import Judge
from mooring.core.policy.engine import Engine
from mooring.core.policy.report import (
    Row,
    policy_report,
    reported_through_owner,
    violations_by_rule,
)
from mooring.core.policy.targets import TARGETS
from mooring.kube.client import Kube, KubeError
from mooring.services.admission import World

Obj = dict[str, Any]
# (apiVersion, kind) of everything a rule looks at.
AUDITED: tuple[tuple[str, str], ...] = tuple(
    sorted({kind for target in TARGETS for kind in target.kinds})
)


@dataclass
class Audit:
    namespace: str
    tenant: str | None
    report: Obj | None = None
    violations: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, mode)
    objects: int = 0
    error: str | None = None


def judge_namespace(
    namespace: str, objects: Sequence[Obj], world: World, now: datetime, engine: Engine
) -> Audit:
    """Pure: the audit of one namespace's objects at `now` (expired exceptions no longer
    apply, exactly as in the GuardrailContext the operator writes at that time)."""
    tenant_model = world.tenant_in(namespace)
    judge = Judge(
        platform=world.platform,
        now=now,
        tenants=[tenant_model] if tenant_model is not None else [],
        exceptions=world.exceptions_in(namespace),
        default_namespace=namespace,
        engine=engine,
    )
    rows = []
    for obj in sorted(objects, key=lambda o: (str(o.get("kind")), o["metadata"]["name"])):
        if reported_through_owner(obj) or (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        judged = judge.judge(obj)
        if judged:
            rows.append(Row(obj, tuple(judged)))
    tenant = world.namespaces.get(namespace)
    return Audit(
        namespace=namespace,
        tenant=tenant,
        report=policy_report(namespace, rows, now, world.exceptions, tenant),
        violations=violations_by_rule(rows),
        objects=len(rows),
    )


async def list_workloads(kube: Kube, namespace: str) -> list[Obj]:
    lists = await asyncio.gather(
        *(kube.list(api_version, kind, namespace) for api_version, kind in AUDITED)
    )
    return [obj for items in lists for obj in items]


async def write_report(kube: Kube, audit: Audit) -> None:
    if audit.report is not None:
        await kube.apply(audit.report)


async def audit_namespace(
    kube: Kube,
    namespace: str,
    world: World,
    now: datetime,
    engine: Engine,
    objects: Sequence[Obj] | None = None,
) -> Audit:
    """Gather (unless given), judge, write. A failure is kept in `error`, not raised."""
    try:
        found = list(objects) if objects is not None else await list_workloads(kube, namespace)
        audit = judge_namespace(namespace, found, world, now, engine)
        await write_report(kube, audit)
    except KubeError as error:
        return Audit(namespace, world.namespaces.get(namespace), error=str(error))
    return audit


async def has_report_kind(kube: Kube) -> bool:
    return await kube.has_kind(policyreport.API_VERSION, policyreport.KIND)
