"""Pure: a tenant's scorecard, for the team: is it Ready and why not, its namespaces with
quota used vs hard, guardrail violations (from the audit's PolicyReports), its Databases,
and the sections other parts of the platform add (cost, alerts).

`build` takes what services/scorecard.py read from the cluster (plain objects) and returns
plain data; the CLI prints it as text, JSON or YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from mooring.api.quantity import parse_quantity

KubeObject = dict[str, Any]
# Guardrail results a team must act on, in the order they are shown.
ACTIONABLE = ("fail", "warn", "error")


@dataclass(frozen=True)
class ConditionLine:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class QuotaLine:
    resource: str
    used: str
    hard: str
    percent: int | None  # None when hard is 0 or not a quantity


@dataclass(frozen=True)
class NamespaceCard:
    name: str
    environment: str
    phase: str
    message: str
    quota: list[QuotaLine]


@dataclass(frozen=True)
class Violation:
    namespace: str
    resource: str  # Kind/name
    rule: str
    result: str  # fail | warn | error
    severity: str
    mode: str
    message: str


@dataclass(frozen=True)
class Guardrails:
    summary: dict[str, int]  # pass, fail, warn, error, skip over the namespaces
    violations: list[Violation]


@dataclass(frozen=True)
class DatabaseCard:
    namespace: str
    name: str
    plan: str
    ready: str
    reason: str
    message: str


@dataclass(frozen=True)
class Section:
    """A part of the scorecard that another feature adds (cost, alerts): data for JSON and
    YAML, lines for people. See services/scorecard.SECTIONS."""

    name: str
    title: str
    data: dict[str, Any]
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scorecard:
    tenant: str
    tier: str
    cost_center: str
    ready: ConditionLine
    problems: list[ConditionLine]  # every condition that is not True, Ready's included
    namespaces: list[NamespaceCard]
    guardrails: Guardrails
    databases: list[DatabaseCard]
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _camel(asdict(self))
        # A section's data is its owner's to shape: passed through as given.
        data["sections"] = {s.name: {"title": s.title, **s.data} for s in self.sections}
        return data


def percent(used: str, hard: str) -> int | None:
    """Pure: used as a whole percentage of hard ("250m" of "1" is 25)."""
    try:
        limit = parse_quantity(hard)
        if limit == 0:
            return None
        share = parse_quantity(used) / limit * 100
    except (ValueError, InvalidOperation):
        return None
    return int(share.to_integral_value(rounding="ROUND_HALF_UP"))


def _condition(raw: Mapping[str, Any]) -> ConditionLine:
    return ConditionLine(
        str(raw.get("type", "")),
        str(raw.get("status", "Unknown")),
        str(raw.get("reason", "")),
        str(raw.get("message", "")),
    )


def _quota(quota: KubeObject | None, recorded: Sequence[Mapping[str, Any]]) -> list[QuotaLine]:
    """Live usage from the namespace's ResourceQuota, else what the Tenant's status recorded."""
    if quota is not None:
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        pairs = [(k, str(used.get(k, "0")), str(v)) for k, v in sorted(hard.items())]
    else:
        pairs = [(str(q["resource"]), str(q["used"]), str(q["hard"])) for q in recorded]
    return [QuotaLine(r, u, h, percent(u, h)) for r, u, h in pairs]


def _violations(namespace: str, report: KubeObject | None) -> list[Violation]:
    if report is None:
        return []
    found = []
    for result in report.get("results") or []:
        outcome = result.get("result", "")
        if outcome not in ACTIONABLE:
            continue
        resources = result.get("resources") or [{}]
        properties = result.get("properties") or {}
        found.append(
            Violation(
                namespace=namespace,
                resource=f"{resources[0].get('kind', '?')}/{resources[0].get('name', '?')}",
                rule=str(result.get("rule", result.get("policy", ""))),
                result=outcome,
                severity=str(result.get("severity", "")),
                mode=str(properties.get("mode", "")),
                message=str(result.get("message", "")),
            )
        )
    return found


def build(
    tenant: KubeObject,
    quotas: Mapping[str, KubeObject | None],
    reports: Mapping[str, KubeObject | None],
    databases: Sequence[KubeObject],
    sections: Sequence[Section] = (),
    notes: Sequence[str] = (),
) -> Scorecard:
    """Pure: the scorecard of `tenant` from what was read in its namespaces."""
    spec = tenant.get("spec") or {}
    status = tenant.get("status") or {}
    conditions = [_condition(c) for c in status.get("conditions") or []]
    ready = next(
        (c for c in conditions if c.type == "Ready"),
        ConditionLine("Ready", "Unknown", "NotReconciled", "the operator has not reported yet"),
    )
    problems = [c for c in conditions if c.status != "True"]
    if ready.status == "True" and ready.reason != "Reconciled":
        problems = [ready, *problems]  # Ready but Degraded: the reason matters
    recorded = {n.get("name"): n for n in status.get("namespaces") or []}
    names = list(recorded) or [
        f"{tenant['metadata']['name']}-{e.get('name')}" for e in spec.get("environments") or []
    ]
    namespaces = [
        NamespaceCard(
            name=str(name),
            environment=str(recorded.get(name, {}).get("environment", "")),
            phase=str(recorded.get(name, {}).get("phase", "Pending")),
            message=str(recorded.get(name, {}).get("message", "")),
            quota=_quota(quotas.get(str(name)), recorded.get(name, {}).get("quota") or []),
        )
        for name in names
    ]
    summary: dict[str, int] = {}
    violations: list[Violation] = []
    for namespace, report in reports.items():
        for key, count in ((report or {}).get("summary") or {}).items():
            summary[key] = summary.get(key, 0) + int(count)
        violations += _violations(namespace, report)
    order = {result: i for i, result in enumerate(ACTIONABLE)}
    violations.sort(key=lambda v: (order[v.result], v.namespace, v.resource, v.rule))
    cards = [
        _database(db)
        for db in sorted(
            databases, key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"])
        )
    ]
    return Scorecard(
        tenant=str(tenant["metadata"]["name"]),
        tier=str(status.get("tier") or spec.get("tier") or ""),
        cost_center=str(spec.get("costCenter") or ""),
        ready=ready,
        problems=problems,
        namespaces=namespaces,
        guardrails=Guardrails(summary, violations),
        databases=cards,
        sections=list(sections),
        notes=list(notes),
    )


def _database(body: KubeObject) -> DatabaseCard:
    status = body.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return DatabaseCard(
        namespace=str(body["metadata"]["namespace"]),
        name=str(body["metadata"]["name"]),
        plan=str((body.get("spec") or {}).get("plan", "shared")),
        ready=str(ready.get("status", "Unknown")),
        reason=str(ready.get("reason", "")),
        message=str(ready.get("message", "")),
    )


def _camel(value: Any) -> Any:
    """snake_case keys to camelCase, the Kubernetes way, all the way down."""
    if isinstance(value, dict):
        return {_camel_key(str(k)): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)
