"""Pure: what `mooring validate` finds in a platform repository, and the operator in a Tenant.

Each check returns findings that name the field path; the CLI turns paths into file:line.
Schema errors come from the same models the CRDs are generated from; the checks here are
the ones a schema cannot express: across files, against the PlatformConfig, against
the capacity budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from mooring.api.database import Database
from mooring.api.documents import Document, PathItem, dotted, model_errors
from mooring.api.names import GROUP
from mooring.api.platform import PlatformConfig, PlatformConfigSpec
from mooring.api.quantity import parse_quantity
from mooring.api.tenant import Quota, Tenant
from mooring.core.isolation import refused_subjects, reserved_message, squatted

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: where (document + field path), what, and how to fix it."""

    code: str
    message: str
    path: tuple[PathItem, ...] = ()
    severity: Severity = "error"
    document: Document | None = field(default=None, compare=False)

    @property
    def field_path(self) -> str:
        return dotted(self.path)

    def where(self) -> str:
        if self.document is None:
            return "(repository)"
        return str(self.document.position(self.path))


# Kinds of mooring.dev that validate knows: kind -> model. Other issues add theirs.
MODELS: dict[str, type[BaseModel]] = {
    "Tenant": Tenant,
    "PlatformConfig": PlatformConfig,
    "Database": Database,
}
# Cross-document checks that other kinds register: (parsed, platform) -> findings.
RepositoryCheck = Callable[["Parsed"], list[Finding]]
EXTRA_CHECKS: list[RepositoryCheck] = []
# Checks over every document, Mooring's or not (the pull-request gate registers one).
DocumentCheck = Callable[[Sequence[Document], "Parsed"], list[Finding]]
DOCUMENT_CHECKS: list[DocumentCheck] = []


@dataclass
class Parsed:
    """The repository's Mooring objects that passed their schema, with their documents."""

    platform: tuple[PlatformConfig, Document] | None = None
    tenants: list[tuple[Tenant, Document]] = field(default_factory=list)
    others: dict[str, list[tuple[BaseModel, Document]]] = field(default_factory=dict)


def validate_documents(documents: Sequence[Document]) -> tuple[Parsed, list[Finding]]:
    """Schema-check every Mooring document, then check them against each other."""
    parsed = Parsed()
    findings: list[Finding] = []
    platforms: list[tuple[PlatformConfig, Document]] = []
    for document in documents:
        obj = document.obj
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            findings.append(
                Finding(
                    "not-an-object",
                    "not a Kubernetes object: a document needs apiVersion and kind",
                    document=document,
                )
            )
            continue
        group = str(obj["apiVersion"]).rpartition("/")[0]
        if group != GROUP:
            continue  # other manifests in the repository are not Mooring's to judge
        model = MODELS.get(str(obj["kind"]))
        if model is None:
            findings.append(
                Finding(
                    "unknown-kind",
                    f"unknown kind {obj['kind']!r} in {GROUP}; known: {', '.join(sorted(MODELS))}",
                    ("kind",),
                    document=document,
                )
            )
            continue
        instance, errors = model_errors(model, obj)
        findings += [
            Finding("schema", error.message, error.path, document=document) for error in errors
        ]
        if isinstance(instance, PlatformConfig):
            platforms.append((instance, document))
        elif isinstance(instance, Tenant):
            parsed.tenants.append((instance, document))
        elif instance is not None:
            parsed.others.setdefault(str(obj["kind"]), []).append((instance, document))
    if len(platforms) > 1:
        for _, document in platforms[1:]:
            findings.append(
                Finding(
                    "duplicate-platform",
                    f"a second PlatformConfig; the first is at {platforms[0][1].position()}",
                    ("metadata", "name"),
                    document=document,
                )
            )
    parsed.platform = platforms[0] if platforms else None
    findings += check_repository(parsed)
    for check in DOCUMENT_CHECKS:
        findings += check(documents, parsed)
    return parsed, findings


def check_repository(parsed: Parsed) -> list[Finding]:
    findings: list[Finding] = []
    if parsed.platform is None:
        for check in EXTRA_CHECKS:
            findings += check(parsed)
        if parsed.tenants:
            findings.append(
                Finding(
                    "no-platform",
                    "no PlatformConfig found among the files given; add the platform's "
                    "platform.yaml to the paths so tiers and budgets can be checked",
                )
            )
        return findings + _duplicates(parsed.tenants)
    platform = parsed.platform[0].spec
    known = frozenset(tenant.name for tenant, _ in parsed.tenants)
    owner_of = {
        tenant.namespace(env): tenant.name
        for tenant, _ in parsed.tenants
        for env in tenant.spec.environments
    }
    findings += _duplicates(parsed.tenants)
    for tenant, document in parsed.tenants:
        for finding in check_tenant(tenant, platform, known):
            findings.append(_at(finding, document))
        for finding in check_isolation(tenant, platform, owner_of):
            findings.append(_at(finding, document))
        if not platform.network.cilium:
            findings += [_at(f, document) for f in _needs_cilium(tenant)]
    findings += _capacity(parsed.tenants, parsed.platform)
    for check in EXTRA_CHECKS:
        findings += check(parsed)
    return findings


def _at(finding: Finding, document: Document) -> Finding:
    return Finding(finding.code, finding.message, finding.path, finding.severity, document)


def check_isolation(
    tenant: Tenant, platform: PlatformConfigSpec, owner_of: Mapping[str, str] | None = None
) -> list[Finding]:
    """What a tenant may not claim (core/isolation.py): platform namespaces, members that
    open it to everyone; and adoptions that name no namespace of its own. The operator
    refuses the same per namespace and per member (the rest of the tenant proceeds)."""
    findings = [
        Finding(
            "reserved-namespace",
            reserved_message(namespace, why),
            ("spec", "environments", index, "name"),
        )
        for index, namespace, why in squatted(tenant, platform)
    ]
    findings += [
        Finding("member-refused", refusal.message, refusal.path)
        for refusal in refused_subjects(tenant, platform, owner_of)
    ]
    own = {tenant.namespace(env) for env in tenant.spec.environments}
    for index, adoption in enumerate(tenant.spec.adopt):
        if adoption.namespace is not None and adoption.namespace not in own:
            findings.append(
                Finding(
                    "adopt-not-own",
                    f"spec.adopt names namespace {adoption.namespace}, which is not one of "
                    f"this tenant's ({', '.join(sorted(own))}); only a kept namespace the "
                    "tenant wants again can be adopted: add its environment or remove the entry",
                    ("spec", "adopt", index, "namespace"),
                )
            )
    return findings


def check_tenant(
    tenant: Tenant, platform: PlatformConfigSpec, known_tenants: Set[str] | None
) -> list[Finding]:
    """A tenant against the platform: the checks the operator repeats in the cluster.

    `known_tenants` None means "not known" (the allowance check is skipped). A set, not
    copied: validate checks every tenant against the same one (linear in tenants).
    """
    spec = tenant.spec
    findings: list[Finding] = []
    tier_name = spec.tier or platform.default_tier
    tier = platform.tiers.get(tier_name)
    if tier is None:
        findings.append(
            Finding(
                "unknown-tier",
                f"unknown tier {tier_name!r}; the platform offers "
                f"{', '.join(sorted(platform.tiers))}",
                ("spec", "tier"),
            )
        )
    else:
        checks: list[tuple[tuple[PathItem, ...], str]] = [
            (("spec", "podSecurity"), spec.pod_security)
        ]
        for index, env in enumerate(spec.environments):
            if env.pod_security is not None:
                checks.append((("spec", "environments", index, "podSecurity"), env.pod_security))
        for path, level in checks:
            if level not in tier.pod_security:
                findings.append(
                    Finding(
                        "pod-security-not-allowed",
                        f"Pod Security level {level!r} is not allowed in tier {tier_name!r} "
                        f"(allowed: {', '.join(tier.pod_security)}); use one of those or "
                        "ask the platform team for another tier",
                        path,
                    )
                )
    budget = spec.budget
    currency = platform.prices.currency
    if budget is not None and budget.currency is not None and budget.currency != currency:
        findings.append(
            Finding(
                "budget-currency",
                f"the budget is in {budget.currency} but the platform's prices are in "
                f"{currency}; write the budget in {currency} (or leave currency out): "
                "Mooring converts no currencies",
                ("spec", "budget", "currency"),
            )
        )
    ingress = spec.network.ingress
    if ingress.http and not (ingress.from_tenants or ingress.from_ingress_controller):
        findings.append(
            Finding(
                "http-without-peers",
                "HTTP rules narrow what fromTenants or fromIngressController may send; with "
                "neither, nothing may connect in and the rules do nothing: add a peer or "
                "remove them",
                ("spec", "network", "ingress", "http"),
                severity="warning",
            )
        )
    if known_tenants is not None:
        known = known_tenants
        network = spec.network
        for key, names_ in (
            (("spec", "network", "ingress", "fromTenants"), network.ingress.from_tenants),
            (("spec", "network", "egress", "toTenants"), network.egress.to_tenants),
        ):
            for index, other in enumerate(names_):
                if other not in known:
                    findings.append(
                        Finding(
                            "unknown-tenant",
                            f"allowance names tenant {other!r}, which does not exist; "
                            "check the name or remove the allowance",
                            (*key, index),
                        )
                    )
                elif other == tenant.name:
                    findings.append(
                        Finding(
                            "self-allowance",
                            "a tenant's own namespaces always reach each other; remove this entry",
                            (*key, index),
                            severity="warning",
                        )
                    )
    return findings


def _needs_cilium(tenant: Tenant) -> list[Finding]:
    """Allowances only Cilium enforces, on a platform that does not declare Cilium.

    Offline only: in the cluster the operator knows whether Cilium is there, and says so in
    the tenant's NetworkReady condition instead.
    """
    # Imported here: the renderers load with it, which a check of a PlatformConfig alone
    # (`mooring check --platform`) does not need.
    from mooring.core.render.cilium import cilium_only

    return [
        Finding(
            "needs-cilium",
            f"this allowance ({allowance.what}) needs Cilium, which the platform does not "
            f"declare (PlatformConfig spec.network.cilium): without it {allowance.without}, "
            "and the tenant reports NetworkReady=False. Install Cilium and set "
            "spec.network.cilium, or remove the allowance",
            allowance.path,
            severity="warning",
        )
        for allowance in cilium_only(tenant)
    ]


def _duplicates(tenants: list[tuple[Tenant, Document]]) -> list[Finding]:
    findings: list[Finding] = []
    first_by_name: dict[str, Document] = {}
    first_by_namespace: dict[str, tuple[str, Document, int]] = {}
    for tenant, document in tenants:
        if tenant.name in first_by_name:
            findings.append(
                Finding(
                    "duplicate-tenant",
                    f"tenant {tenant.name!r} is also defined at "
                    f"{first_by_name[tenant.name].position(('metadata', 'name'))}; "
                    "each tenant is defined once",
                    ("metadata", "name"),
                    document=document,
                )
            )
            continue
        first_by_name[tenant.name] = document
        for index, environment in enumerate(tenant.spec.environments):
            namespace = tenant.namespace(environment)
            earlier = first_by_namespace.get(namespace)
            if earlier is not None:
                other, other_doc, other_index = earlier
                path = ("spec", "environments", other_index, "name")
                findings.append(
                    Finding(
                        "duplicate-namespace",
                        f"namespace {namespace!r} is also claimed by tenant {other!r} at "
                        f"{other_doc.position(path)}; rename one of the environments",
                        ("spec", "environments", index, "name"),
                        document=document,
                    )
                )
            else:
                first_by_namespace[namespace] = (tenant.name, document, index)
    return findings


@dataclass(frozen=True)
class TenantShape:
    """What the platform's readiness reads of one tenant: its name, tier and quotas.

    Small and built once per spec (generation), so the operator can keep one per tenant and
    judge ten thousand of them without parsing any Tenant again."""

    name: str
    tier: str | None
    quota: Quota | None
    environments: tuple[Quota | None, ...]


def tenant_shape(tenant: Tenant) -> TenantShape:
    """Pure: the parts of a Tenant that the capacity and tier checks read."""
    return TenantShape(
        tenant.name,
        tenant.spec.tier,
        tenant.spec.quota,
        tuple(environment.quota for environment in tenant.spec.environments),
    )


def quota_totals(tenants: Iterable[Tenant], platform: PlatformConfigSpec) -> dict[str, Decimal]:
    """Pure: cpu, memory and storage quotas of every tenant namespace, added up (tenants on
    an unknown tier count nothing)."""
    return shape_totals((tenant_shape(tenant) for tenant in tenants), platform)


def shape_totals(shapes: Iterable[TenantShape], platform: PlatformConfigSpec) -> dict[str, Decimal]:
    """Pure: quota_totals over tenants' shapes."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    quantity = lru_cache(maxsize=256)(parse_quantity)  # a few distinct quantities, many times
    for shape in shapes:
        tier = platform.tiers.get(shape.tier or platform.default_tier)
        if tier is None:
            continue
        for environment_quota in shape.environments:
            quota = tier.quota
            if shape.quota is not None:
                quota = shape.quota.over(quota)
            if environment_quota is not None:
                quota = environment_quota.over(quota)
            for resource in CAPACITY_RESOURCES:
                value = getattr(quota, resource)
                if value is not None:
                    totals[resource] += quantity(value)
    return totals


CAPACITY_RESOURCES = ("cpu", "memory", "storage")


def _over_capacity(totals: dict[str, Decimal], platform: PlatformConfigSpec) -> list[str]:
    """The resources whose quotas exceed spec.capacity, each said as a sentence part."""
    over = []
    for resource in CAPACITY_RESOURCES:
        budget = getattr(platform.capacity, resource)
        total = totals.get(resource, Decimal(0))
        if resource in totals and budget is not None and total > parse_quantity(budget):
            over.append(
                f"the tenants' {resource} quotas add up to {_human(resource, total)}"
                f", beyond the platform's capacity of {budget}"
            )
    return over


def _capacity(
    tenants: list[tuple[Tenant, Document]], platform: tuple[PlatformConfig, Document]
) -> list[Finding]:
    """The sum of every namespace's quota must fit in the platform's capacity budget."""
    config, config_document = platform
    totals = quota_totals((tenant for tenant, _ in tenants), config.spec)
    findings = []
    for resource in CAPACITY_RESOURCES:
        for sentence in _over_capacity({resource: totals[resource]}, config.spec):
            findings.append(
                Finding(
                    "over-capacity",
                    f"{sentence}; lower a quota or raise spec.capacity",
                    ("spec", "capacity", resource),
                    document=config_document,
                )
            )
    return findings


@dataclass(frozen=True)
class Readiness:
    """The PlatformConfig's Ready condition: can the platform hold its tenants as written?"""

    ready: bool
    reason: str
    message: str


def platform_readiness(
    platform: PlatformConfigSpec, tenants: Sequence[Tenant | TenantShape]
) -> Readiness:
    """Pure: the checks `mooring validate` makes across the repository, on the cluster's
    PlatformConfig and Tenants (the operator writes the result into the PlatformConfig's
    status, which is what Argo CD shows for it; it passes the tenants' shapes)."""
    shapes = [t if isinstance(t, TenantShape) else tenant_shape(t) for t in tenants]
    by_tier: dict[str, list[str]] = defaultdict(list)
    for shape in shapes:
        by_tier[shape.tier or platform.default_tier].append(shape.name)
    problems = []
    reason = "Valid"
    for tier, names_ in sorted(by_tier.items()):
        if tier not in platform.tiers:
            reason = "TierMissing"
            problems.append(
                f"tier {tier!r} is used by tenant(s) {', '.join(sorted(names_))} but not "
                f"defined in spec.tiers (defined: {', '.join(sorted(platform.tiers))}); define "
                "it or move them to another tier"
            )
    totals = shape_totals(shapes, platform)
    over = _over_capacity(totals, platform)
    if over:
        reason = "OverCapacity" if reason == "Valid" else reason
        problems.append("; ".join(over) + "; raise spec.capacity or lower quotas")
    if problems:
        return Readiness(False, reason, "; ".join(problems))
    tiers = ", ".join(f"{tier} ({len(names_)})" for tier, names_ in sorted(by_tier.items()))
    used = []
    for resource in CAPACITY_RESOURCES:
        budget = getattr(platform.capacity, resource)
        if budget is not None:
            used.append(
                f"{resource} {_human(resource, totals.get(resource, Decimal(0)))} of {budget}"
            )
    message = f"{len(tenants)} tenant(s)" + (f" on tiers {tiers}" if tiers else "")
    if used:
        message += "; quotas use " + ", ".join(used)
    return Readiness(True, "Valid", message)


def _human(resource: str, value: Decimal) -> str:
    if resource == "cpu":
        return f"{value.normalize():f}"
    gib = value / Decimal(2**30)
    return f"{gib.quantize(Decimal('0.01')).normalize():f}Gi"


def platform_validity(obj: Any) -> tuple[bool, str, str]:
    """Pure: the PlatformConfig's `Valid` condition as (valid, reason, message).

    The checks the CRD schema cannot make (a default tier among the tiers, complete tier
    quotas, a default database server among the servers) decide it; the operator writes it
    to the PlatformConfig's status, so a platform engineer sees at once why tenants fail.
    """
    instance, errors = model_errors(PlatformConfig, obj)
    if not isinstance(instance, PlatformConfig):
        detail = "; ".join(f"{e.dotted or 'spec'}: {e.message}" for e in errors)
        return False, "InvalidSpec", f"{detail}; tenants are not reconciled until it is fixed"
    spec = instance.spec
    return (
        True,
        "Valid",
        f"{len(spec.tiers)} tier(s) ({', '.join(sorted(spec.tiers))}), default {spec.default_tier}",
    )


def error_count(findings: Iterable[Finding]) -> int:
    return sum(1 for f in findings if f.severity == "error")


def as_dict(finding: Finding) -> dict[str, Any]:
    position = finding.document.position(finding.path) if finding.document else None
    return {
        "file": position.source if position else None,
        "line": position.line if position else None,
        "column": position.column if position else None,
        "path": finding.field_path,
        "code": finding.code,
        "severity": finding.severity,
        "message": finding.message,
    }


# Checks of other kinds register themselves; imported last, as they build on the above.
from mooring.core.validate_databases import check_databases  # noqa: E402

EXTRA_CHECKS.append(check_databases)

# Guardrails register PolicyException and their repository check (at the end: they use
# the names above).
from mooring.core.policy import validation as _guardrails  # noqa: E402

del _guardrails

# The pull-request gate: what tenants' files may hold (all documents, not just Mooring's).
from mooring.core.gate import check_gate  # noqa: E402

DOCUMENT_CHECKS.append(check_gate)
