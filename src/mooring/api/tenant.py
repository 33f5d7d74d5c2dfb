"""The Tenant resource: a team's home on the platform, as written in tenants/<team>.yaml.

Pure models. The CRD schema is generated from these classes (api/crd.py), so the API
server and `mooring validate` refuse the same specs for the same reasons.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mooring.api.base import (
    DnsLabel,
    LabelValue,
    Model,
    Resource,
    check_name,
    unique,
)
from mooring.api.cost import Budget, CostStatus
from mooring.api.quantity import Quantity
from mooring.api.status import Condition

MAX_NAMESPACE = 63
MAX_TENANT_NAME = 40
MAX_SUBJECTS = 256
MAX_PEERS = 64
MAX_PORTS = 32
MAX_LABELS = 32
PodSecurityLevel = Literal["restricted", "baseline"]
DeletionPolicy = Literal["Retain", "Delete"]
Protocol = Literal["TCP", "UDP", "SCTP"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ServiceAccountName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        max_length=317,
        description="A service account as namespace/name.",
    ),
]
SubjectName = Annotated[str, Field(min_length=1, max_length=253)]


def _list_map(*keys: str) -> dict[str, Any]:
    """JSON schema for a list whose items are unique by `keys` (the API server enforces it)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def _set() -> dict[str, Any]:
    return {"x-kubernetes-list-type": "set"}


class Subjects(Model):
    """People and machines in one role: users, groups and service accounts."""

    users: list[SubjectName] = Field(
        default_factory=list, max_length=MAX_SUBJECTS, json_schema_extra=_set()
    )
    groups: list[SubjectName] = Field(
        default_factory=list, max_length=MAX_SUBJECTS, json_schema_extra=_set()
    )
    service_accounts: list[ServiceAccountName] = Field(
        default_factory=list, max_length=MAX_SUBJECTS, json_schema_extra=_set()
    )

    def empty(self) -> bool:
        return not (self.users or self.groups or self.service_accounts)

    @field_validator("users", "groups", "service_accounts")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        unique(values, lambda value: value, "subject")
        return values


class Quota(Model):
    """Resource quota for one namespace. Unset fields come from the tier."""

    cpu: Quantity | None = Field(None, description="CPU requests and limits, summed over pods.")
    memory: Quantity | None = Field(None, description="Memory requests and limits.")
    storage: Quantity | None = Field(None, description="Storage requested by volume claims.")
    pods: int | None = Field(None, ge=0)
    services: int | None = Field(None, ge=0)
    load_balancers: int | None = Field(None, ge=0)
    node_ports: int | None = Field(None, ge=0)
    persistent_volume_claims: int | None = Field(None, ge=0)

    def over(self, base: Quota) -> Quota:
        """This quota's set fields over `base` (per-environment over per-tenant over tier)."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class Port(Model):
    port: int = Field(ge=1, le=65535)
    protocol: Protocol = "TCP"


class EgressRule(Model):
    """Egress to an address range, optionally limited to ports."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "isCIDR(self.cidr) && cidr(self.cidr) == cidr(self.cidr).masked()",
                    "message": "cidr must be a network address with its prefix, e.g. 10.0.0.0/8",
                }
            ]
        }
    )

    cidr: str = Field(max_length=43, description="An IPv4 or IPv6 CIDR, such as 10.20.0.0/16.")
    ports: list[Port] = Field(default_factory=list, max_length=MAX_PORTS)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a CIDR ({error}); write e.g. 10.0.0.0/8") from None
        return value


class FqdnRule(Model):
    """Egress to DNS names; needs Cilium (CiliumNetworkPolicy toFQDNs)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.matchName) != has(self.matchPattern)",
                    "message": "give exactly one of matchName or matchPattern",
                }
            ]
        }
    )

    match_name: str | None = Field(None, max_length=253, pattern=r"^[a-z0-9.-]+$")
    match_pattern: str | None = Field(None, max_length=253, pattern=r"^[a-z0-9.*-]+$")
    ports: list[Port] = Field(default_factory=list, max_length=MAX_PORTS)

    @model_validator(mode="after")
    def _one(self) -> FqdnRule:
        if (self.match_name is None) == (self.match_pattern is None):
            raise ValueError("give exactly one of matchName or matchPattern")
        return self


class HttpRule(Model):
    """An L7 allowance for inbound HTTP; needs Cilium. Path is a regular expression."""

    method: HttpMethod | None = None
    path: str | None = Field(None, max_length=1024, description="A regular expression.")


class Ingress(Model):
    """Who may connect in, beyond the tenant itself."""

    from_tenants: list[DnsLabel] = Field(
        default_factory=list, max_length=MAX_PEERS, json_schema_extra=_set()
    )
    from_ingress_controller: bool = False
    ports: list[Port] = Field(
        default_factory=list,
        max_length=MAX_PORTS,
        description="Limit the allowances to these ports (all if empty).",
    )
    http: list[HttpRule] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        description="With Cilium, only these HTTP requests are allowed in (L7).",
    )


class Egress(Model):
    """Where the tenant may connect out, beyond DNS and itself."""

    to_cidrs: list[EgressRule] = Field(default_factory=list, max_length=MAX_PEERS)
    to_fqdns: list[FqdnRule] = Field(default_factory=list, max_length=MAX_PEERS)
    to_tenants: list[DnsLabel] = Field(
        default_factory=list, max_length=MAX_PEERS, json_schema_extra=_set()
    )


class Network(Model):
    """Default deny in and out; DNS and traffic inside the tenant are always allowed."""

    ingress: Ingress = Field(default_factory=Ingress)
    egress: Egress = Field(default_factory=Egress)


class Environment(Model):
    """One environment: the namespace <tenant>-<name>."""

    name: DnsLabel
    quota: Quota | None = None
    pod_security: PodSecurityLevel | None = None
    labels: dict[str, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)


class GuardrailOverride(Model):
    """How one guardrail rule applies to this tenant (the platform's mode otherwise)."""

    rule: str = Field(min_length=1, max_length=63)
    mode: Literal["enforce", "warn", "audit", "off"]


class TenantSpec(Model):
    owners: Subjects = Field(
        description="May administer the tenant's workloads; at least one.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "size(self.?users.orValue([])) + size(self.?groups.orValue([])) + "
                    "size(self.?serviceAccounts.orValue([])) > 0",
                    "message": "a tenant needs at least one owner (a user, group or service "
                    "account)",
                }
            ]
        },
    )
    developers: Subjects = Field(default_factory=Subjects)
    viewers: Subjects = Field(default_factory=Subjects)
    environments: list[Environment] = Field(
        min_length=1, max_length=16, json_schema_extra=_list_map("name")
    )
    tier: DnsLabel | None = Field(None, description="A tier of the PlatformConfig.")
    quota: Quota | None = Field(None, description="Overrides the tier's quota, per namespace.")
    network: Network = Field(default_factory=Network)
    cost_center: LabelValue | None = Field(
        None,
        description="The tenant's cost centre: every namespace is labelled "
        "mooring.dev/cost-center with it, and cost reports group by it.",
    )
    labels: dict[str, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)
    pod_security: PodSecurityLevel = "restricted"
    deletion_policy: DeletionPolicy = Field(
        "Retain",
        description="Retain keeps namespaces that hold workloads or volumes when they are no "
        "longer wanted; Delete deletes them.",
    )
    guardrails: list[GuardrailOverride] = Field(
        default_factory=list, max_length=64, json_schema_extra=_list_map("rule")
    )
    budget: Budget | None = Field(
        None,
        description="A monthly budget: status.cost reports its use and forecast; crossing a "
        "threshold posts an Event and shows in the mooring_tenant_budget_* metrics.",
    )

    @field_validator("environments")
    @classmethod
    def _unique_environments(cls, environments: list[Environment]) -> list[Environment]:
        unique(environments, lambda environment: environment.name, "environment")
        return environments

    @field_validator("owners")
    @classmethod
    def _someone_owns_it(cls, owners: Subjects) -> Subjects:
        if owners.empty():
            raise ValueError("a tenant needs at least one owner (a user, group or service account)")
        return owners


class Tenant(Resource):
    kind: Literal["Tenant"] = "Tenant"
    spec: TenantSpec

    @model_validator(mode="after")
    def _namespace_names_fit(self) -> Tenant:
        name = self.metadata.name
        check_name(name, MAX_TENANT_NAME, "tenant")
        for environment in self.spec.environments:
            namespace = f"{name}-{environment.name}"
            if len(namespace) > MAX_NAMESPACE:
                raise ValueError(
                    f"namespace {namespace!r} would be {len(namespace)} characters; "
                    f"tenant name + '-' + environment must fit in {MAX_NAMESPACE}"
                )
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    def namespace(self, environment: Environment | str) -> str:
        env = environment if isinstance(environment, str) else environment.name
        return f"{self.metadata.name}-{env}"


class QuotaUsage(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    resource: str
    used: str
    hard: str


class NamespaceStatus(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    name: str
    environment: str
    phase: Literal["Active", "Retained", "Conflict", "Pending"] = "Active"
    message: str = ""
    quota: list[QuotaUsage] = Field(default_factory=list)


class TenantStatus(BaseModel):
    """Written by the operator only."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    observed_generation: int | None = None
    tier: str | None = None
    ready: str | None = Field(None, description="Ready condition's status, for printing.")
    namespace_count: int = 0
    namespaces: list[NamespaceStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    cost: CostStatus | None = Field(
        None, description="This month's cost and the budget's use, kept current by the operator."
    )
