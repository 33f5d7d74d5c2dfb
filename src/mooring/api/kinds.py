"""The registry of Mooring's kinds: what the CRDs are generated from.

Pure. One entry per kind; deploy/crds/ is regenerated from this list.
"""

from __future__ import annotations

from pydantic import Field

from mooring.api.base import Lenient
from mooring.api.crd import Column, Kind
from mooring.api.database import MAX_DATABASE_NAME, DatabaseSpec, DatabaseStatus
from mooring.api.exceptions import PolicyExceptionSpec, PolicyExceptionStatus
from mooring.api.guardrails import GuardrailContextSpec, GuardrailContextStatus
from mooring.api.platform import ALWAYS_RESERVED, PlatformConfigSpec
from mooring.api.status import Condition
from mooring.api.tenant import (
    MAX_NAMESPACE,
    MAX_TENANT_NAME,
    TenantSpec,
    TenantStatus,
    TenantViewSpec,
)


class ConditionsStatus(Lenient):
    """Written by the operator only."""

    observed_generation: int | None = Field(
        None, description="The spec generation this status describes."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="The object's conditions (metav1.Condition); a PlatformConfig has "
        "Valid: whether the operator accepts it, and why not.",
    )


READY = '.status.conditions[?(@.type=="Ready")].status'


def _reserved_rule() -> str:
    """CEL: no namespace (name + '-' + environment) is one of ALWAYS_RESERVED.

    Written over the tenant name and the environment names apart (a namespace is split
    at each '-' it has), since concatenating strings in a rule is beyond the API server's
    cost budget. The PlatformConfig's own list is judged by the admission policy of
    core/isolation.py, which reads the PlatformConfig.
    """
    name = "self.metadata.name"
    hits = []
    for pattern, _ in ALWAYS_RESERVED:
        text = pattern.rstrip("*")
        if pattern.endswith("*"):  # a prefix: the tenant name has it, or is it up to a '-'
            hits.append(f"{name}.startsWith('{text}')")
        for at, char in enumerate(text):
            if char != "-":
                continue
            head, tail = text[:at], text[at + 1 :]
            environment = (
                f"e.name.startsWith('{tail}')" if pattern.endswith("*") else (f"e.name == '{tail}'")
            )
            hits.append(f"({name} == '{head}' && self.spec.environments.exists(e, {environment}))")
    return "!(" + " || ".join(hits) + ")"


TENANT = Kind(
    kopf=True,
    kind="Tenant",
    plural="tenants",
    scope="Cluster",
    description="A team's home on the platform: its people, environments (one namespace "
    "each), tier, quotas and network allowances. Written in Git (tenants/<team>.yaml); the "
    "operator makes and keeps the namespaces, access, quotas, limits and network policies.",
    spec=TenantSpec,
    status=TenantStatus,
    short_names=("tn",),
    columns=(
        Column("Tier", ".status.tier"),
        Column("Namespaces", ".status.namespaceCount", type="integer"),
        Column("Ready", READY),
        Column(
            "Cost/Budget",
            ".status.cost.summary",
            description="Cost this month to date / the monthly budget, in the platform's currency",
        ),
        Column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
    ),
    rules=(
        (
            f"self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && "
            f"size(self.metadata.name) <= {MAX_TENANT_NAME}",
            f"tenant name must be a DNS label of at most {MAX_TENANT_NAME} characters "
            "(lower-case letters, digits and '-')",
        ),
        (
            f"self.spec.environments.all(e, size(self.metadata.name) + 1 + size(e.name) "
            f"<= {MAX_NAMESPACE})",
            f"tenant name + '-' + environment must fit in {MAX_NAMESPACE} characters "
            "(it is the namespace name)",
        ),
        (
            _reserved_rule(),
            "a namespace (tenant name + '-' + environment) would be one of "
            + ", ".join(pattern for pattern, _ in ALWAYS_RESERVED)
            + ", which are reserved for Kubernetes and Mooring; rename the environment or "
            "the tenant",
        ),
    ),
)

PLATFORM_CONFIG = Kind(
    kopf=True,
    kind="PlatformConfig",
    plural="platformconfigs",
    scope="Cluster",
    description="The platform team's settings, one object named default: tiers, capacity, "
    "where DNS and the ingress controller run, guardrails and shared database servers.",
    spec=PlatformConfigSpec,
    status=ConditionsStatus,
    short_names=("pc",),
    columns=(
        Column("Default tier", ".spec.defaultTier"),
        Column("Valid", '.status.conditions[?(@.type=="Valid")].status'),
        Column("Reason", '.status.conditions[?(@.type=="Valid")].reason', priority=1),
    ),
    rules=(("self.metadata.name == 'default'", "the PlatformConfig must be named 'default'"),),
)

DATABASE = Kind(
    kopf=True,
    kind="Database",
    plural="databases",
    scope="Namespaced",
    description="A managed PostgreSQL database in a tenant namespace; its connection values "
    "are in the Secret status.binding.name names.",
    spec=DatabaseSpec,
    status=DatabaseStatus,
    short_names=("mdb",),
    columns=(
        Column("Plan", ".spec.plan"),
        Column("Ready", ".status.ready"),
        Column("Reason", '.status.conditions[?(@.type=="Ready")].reason'),
        Column("Endpoint", ".status.endpoint"),
        Column("Secret", ".status.binding.name"),
        Column("Policy", ".spec.deletionPolicy", priority=1),
    ),
    rules=(
        (
            f"self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && "
            f"size(self.metadata.name) <= {MAX_DATABASE_NAME}",
            f"database name must be a DNS label of at most {MAX_DATABASE_NAME} characters "
            "(lower-case letters, digits and '-')",
        ),
        (
            "self.spec.plan == 'shared' || !has(self.spec.server)",
            "spec.server names a shared server; a dedicated database has its own: remove "
            "spec.server or use plan: shared",
        ),
        (
            "self.spec.plan == 'dedicated' || !has(self.spec.resources)",
            "spec.resources sizes a dedicated server; the shared plan has none: remove "
            "spec.resources or use plan: dedicated",
        ),
        (
            "!has(oldSelf.spec) || (self.spec.plan == oldSelf.spec.plan && "
            "self.spec.engine == oldSelf.spec.engine && "
            "self.spec.version == oldSelf.spec.version && "
            "(has(self.spec.server) == has(oldSelf.spec.server)) && "
            "(!has(self.spec.server) || self.spec.server == oldSelf.spec.server))",
            "engine, version, plan and server cannot change once a database exists (its data "
            "would have to move); create a new Database and copy the data",
        ),
    ),
)

POLICY_EXCEPTION = Kind(
    kind="PolicyException",
    plural="policyexceptions",
    scope="Namespaced",
    description="An approved, expiring exemption of some workloads of this namespace from "
    "guardrail rules.",
    spec=PolicyExceptionSpec,
    status=PolicyExceptionStatus,
    short_names=("pex",),
    columns=(
        Column("Rules", ".spec.rules"),
        # A string: kubectl prints a "date" column as an age, <invalid> for future times.
        Column("Expires", ".spec.expires"),
        Column("Phase", ".status.phase"),
        Column("Approver", ".spec.approver", priority=1),
    ),
)

# Written by the operator in each tenant namespace; the admission policies' `params`.
GUARDRAIL_CONTEXT = Kind(
    kind="GuardrailContext",
    plural="guardrailcontexts",
    scope="Namespaced",
    description="Written by the operator in each tenant namespace: what the guardrails' "
    "admission policies read there (modes, parameters, exceptions in force).",
    spec=GuardrailContextSpec,
    status=GuardrailContextStatus,
    columns=(
        Column("Tenant", ".spec.tenant"),
        Column("Next expiry", ".status.nextExpiry", priority=1),
    ),
)

# Written by the operator in a tenant's first namespace: the copy of the Tenant its members
# read (a cluster-scoped Tenant would need a ClusterRoleBinding per tenant; see
# core/render/view.py).
TENANT_VIEW = Kind(
    kind="TenantView",
    plural="tenantviews",
    scope="Namespaced",
    description="Written by the operator in a tenant's first namespace, named after the "
    "tenant: what its members may read of their Tenant (people, environments, tier, budget; "
    "Ready and the conditions, the namespaces, the cost).",
    spec=TenantViewSpec,
    status=TenantStatus,
    status_subresource=False,
    columns=(
        Column("Tier", ".status.tier"),
        Column("Namespaces", ".status.namespaceCount", type="integer"),
        Column("Ready", READY),
        Column("Cost/Budget", ".status.cost.summary"),
    ),
)

KINDS: tuple[Kind, ...] = (
    TENANT,
    PLATFORM_CONFIG,
    DATABASE,
    POLICY_EXCEPTION,
    GUARDRAIL_CONTEXT,
    TENANT_VIEW,
)
