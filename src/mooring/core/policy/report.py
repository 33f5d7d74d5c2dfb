"""Pure: the audit's view of one namespace as a PolicyReport (wgpolicyk8s.io/v1alpha2).

One result per (object, rule): pass, fail (enforce and audit modes), warn (warn mode),
skip (an exception in force lifts it: the exception, its approver, justification and expiry
are in the result's properties) or error. Objects a controller made from another judged
object (the Pods of a ReplicaSet, the ReplicaSets of a Deployment, the Jobs of a CronJob)
are reported through their owner, whose template they copy, so a violation counts once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mooring.api import names, policyreport
from mooring.api.exceptions import PolicyException, format_time
from mooring.core.policy.check import Judged
from mooring.core.policy.targets import TARGETS

REPORT_NAME = "mooring-guardrails"
POLICY = "mooring-guardrails"
# Keep a report well below etcd's object size limit: past this many results, passes are
# only counted in the summary.
MAX_RESULTS = 1000
JUDGED_KINDS = {kind for target in TARGETS for _, kind in target.kinds}


def reported_through_owner(obj: dict[str, Any]) -> bool:
    """Made by a controller from another judged object (it copies that object's template)."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller") and owner.get("kind") in JUDGED_KINDS:
            return True
    return False


@dataclass(frozen=True)
class Row:
    """One object's results, as the audit found them."""

    obj: dict[str, Any]
    judged: tuple[Judged, ...]


def result_of(item: Judged) -> str:
    verdict = item.result.verdict
    if verdict == "pass":
        return "pass"
    if verdict == "excepted":
        return "skip"
    if verdict == "error":
        return "error"
    return "warn" if item.mode == "warn" else "fail"


def _reference(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    reference = {
        "apiVersion": str(obj.get("apiVersion", "")),
        "kind": str(obj.get("kind", "")),
        "name": str(meta.get("name", "")),
        "namespace": str(meta.get("namespace", "")),
    }
    if meta.get("uid"):
        reference["uid"] = str(meta["uid"])
    return reference


def _message(item: Judged) -> str:
    result = item.result
    if result.verdict == "error":
        return f"the rule could not be evaluated: {result.error or result.exceptions_error}"
    if not result.violations:
        return f"{result.rule.title}: compliant"
    return "; ".join(f"{v.field}: {v.message}" for v in result.violations)


def policy_report(
    namespace: str,
    rows: Sequence[Row],
    now: datetime,
    exceptions: Iterable[PolicyException] = (),
    tenant: str | None = None,
) -> dict[str, Any]:
    """The PolicyReport of a namespace."""
    by_name = {e.name: e for e in exceptions if e.namespace == namespace}
    timestamp = {"seconds": int(now.timestamp()), "nanos": 0}
    results: list[dict[str, Any]] = []
    summary: Counter[str] = Counter(dict.fromkeys(policyreport.RESULTS, 0))
    for row in rows:
        for item in row.judged:
            outcome = result_of(item)
            summary[outcome] += 1
            rule = item.result.rule
            properties = {"mode": item.mode, "title": rule.title}
            for name in item.result.exceptions:
                exception = by_name.get(name)
                properties["exception"] = name
                if exception is not None:
                    properties["approver"] = exception.spec.approver
                    properties["justification"] = exception.spec.justification
                    properties["expires"] = format_time(exception.spec.expires)
            results.append(
                {
                    "source": "mooring",
                    "policy": POLICY,
                    "rule": rule.id,
                    "category": rule.category,
                    "severity": rule.severity,
                    "timestamp": timestamp,
                    "result": outcome,
                    "scored": True,
                    "resources": [_reference(row.obj)],
                    "message": _message(item),
                    "properties": properties,
                }
            )
    if len(results) > MAX_RESULTS:
        results = [r for r in results if r["result"] != "pass"][:MAX_RESULTS]
    labels = {
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_COMPONENT: "guardrails",
    }
    if tenant:
        labels[names.LABEL_TENANT] = tenant
    return {
        "apiVersion": policyreport.API_VERSION,
        "kind": policyreport.KIND,
        "metadata": {"name": REPORT_NAME, "namespace": namespace, "labels": labels},
        "summary": dict(summary),
        "results": results,
    }


def violations_by_rule(rows: Iterable[Row]) -> Counter[tuple[str, str]]:
    """(rule, mode) -> violations that stand (not excepted), for the metrics."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for item in row.judged:
            if item.result.denied:
                counts[(item.result.rule.id, item.mode)] += max(1, len(item.result.violations))
    return counts
