"""The Tenant resource: a team's home on the platform, as written in tenants/<team>.yaml.

Pure models. The CRD schema is generated from these classes (api/crd.py), so the API
server and `mooring validate` refuse the same specs for the same reasons.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mooring.api.base import (
    DnsLabel,
    LabelValue,
    Lenient,
    Model,
    Resource,
    check_name,
    unique,
)
from mooring.api.cost import Budget, CostStatus
from mooring.api.observe import TenantObserve
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
MAX_HOSTNAMES = 64
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
HOSTNAME_PATTERN = rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})+$"
Hostname = Annotated[
    str,
    Field(
        min_length=3,
        max_length=253,
        pattern=HOSTNAME_PATTERN,
        description="A DNS name such as shop.example.com, or a wildcard such as "
        "*.shop.example.com for every name below it.",
    ),
]


def _list_map(*keys: str) -> dict[str, Any]:
    """JSON schema for a list whose items are unique by `keys` (the API server enforces it)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def _set() -> dict[str, Any]:
    return {"x-kubernetes-list-type": "set"}


class Subjects(Model):
    """People and machines in one role: users, groups and service accounts."""

    users: list[SubjectName] = Field(
        default_factory=list,
        max_length=MAX_SUBJECTS,
        json_schema_extra=_set(),
        description="User names as the cluster authenticates them (e.g. alice@example.com).",
    )
    groups: list[SubjectName] = Field(
        default_factory=list,
        max_length=MAX_SUBJECTS,
        json_schema_extra=_set(),
        description="Group names as the cluster's authentication reports them.",
    )
    service_accounts: list[ServiceAccountName] = Field(
        default_factory=list,
        max_length=MAX_SUBJECTS,
        json_schema_extra=_set(),
        description="Service accounts as namespace/name, such as payments-ci/deployer.",
    )

    def empty(self) -> bool:
        return not (self.users or self.groups or self.service_accounts)

    @field_validator("users", "groups", "service_accounts")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        unique(values, lambda value: value, "subject")
        return values


class Quota(Model):
    """Resource quota for one namespace. Unset fields come from the tier; object counts the
    tier leaves unset follow the number of pods (core/render/quotas.py: complete)."""

    cpu: Quantity | None = Field(None, description="CPU requests and limits, summed over pods.")
    memory: Quantity | None = Field(None, description="Memory requests and limits.")
    storage: Quantity | None = Field(None, description="Storage requested by volume claims.")
    ephemeral_storage: Quantity | None = Field(
        None,
        description="Ephemeral storage (writable layers, emptyDir, logs) requests and limits, "
        "summed over pods. Unset: pods x the tier's default ephemeral-storage limit.",
    )
    pods: int | None = Field(None, ge=0, description="Pods (not yet finished).")
    services: int | None = Field(None, ge=0, description="Services. Unset: as many as pods.")
    load_balancers: int | None = Field(
        None, ge=0, description="Services of type LoadBalancer. Unset: none."
    )
    node_ports: int | None = Field(
        None, ge=0, description="Node ports (NodePort and LoadBalancer Services). Unset: none."
    )
    persistent_volume_claims: int | None = Field(
        None, ge=0, description="PersistentVolumeClaims. Unset: as many as pods."
    )
    config_maps: int | None = Field(
        None, ge=0, description="ConfigMaps (kube-root-ca.crt counts). Unset: 4 x pods."
    )
    secrets: int | None = Field(None, ge=0, description="Secrets. Unset: 4 x pods.")
    replication_controllers: int | None = Field(
        None, ge=0, description="ReplicationControllers. Unset: as many as pods."
    )
    resource_quotas: int | None = Field(
        None,
        ge=1,
        description="ResourceQuotas in the namespace (Mooring's own is one). Unset: 1.",
    )

    def over(self, base: Quota) -> Quota:
        """This quota's set fields over `base` (per-environment over per-tenant over tier)."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class Port(Model):
    """A port number and protocol."""

    port: int = Field(ge=1, le=65535, description="The port number, 1 to 65535.")
    protocol: Protocol = Field("TCP", description="TCP (default), UDP or SCTP.")


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
    ports: list[Port] = Field(
        default_factory=list, max_length=MAX_PORTS, description="Only these ports (all if empty)."
    )

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

    match_name: str | None = Field(
        None,
        max_length=253,
        pattern=r"^[a-z0-9.-]+$",
        description="One DNS name, such as api.stripe.com.",
    )
    match_pattern: str | None = Field(
        None,
        max_length=253,
        pattern=r"^[a-z0-9.*-]+$",
        description="DNS names matching a pattern where * stands for any characters, such "
        "as *.s3.amazonaws.com.",
    )
    ports: list[Port] = Field(
        default_factory=list, max_length=MAX_PORTS, description="Only these ports (all if empty)."
    )

    @model_validator(mode="after")
    def _one(self) -> FqdnRule:
        if (self.match_name is None) == (self.match_pattern is None):
            raise ValueError("give exactly one of matchName or matchPattern")
        return self


class HttpRule(Model):
    """An L7 allowance for inbound HTTP; needs Cilium. Path is a regular expression."""

    method: HttpMethod | None = Field(None, description="The HTTP method (any if unset).")
    path: str | None = Field(
        None,
        max_length=1024,
        description="A regular expression the request path must match (any if unset).",
    )


class Ingress(Model):
    """Who may connect in, beyond the tenant itself."""

    from_tenants: list[DnsLabel] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        json_schema_extra=_set(),
        description="Tenants whose pods may connect in (by tenant name).",
    )
    from_ingress_controller: bool = Field(
        False,
        description="The platform's ingress controller may connect in (PlatformConfig "
        "spec.ingressController says where it runs).",
    )
    ports: list[Port] = Field(
        default_factory=list,
        max_length=MAX_PORTS,
        description="Limit the allowances to these ports (all if empty).",
    )
    http: list[HttpRule] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        description="Only these HTTP requests are allowed in (L7). Needs Cilium: without it "
        "the tenant reports NetworkReady=False and the peers may send any request.",
    )


class Egress(Model):
    """Where the tenant may connect out, beyond DNS and itself."""

    to_cidrs: list[EgressRule] = Field(
        default_factory=list, max_length=MAX_PEERS, description="Address ranges outside."
    )
    to_fqdns: list[FqdnRule] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        description="DNS names outside. Needs Cilium: without it this egress stays denied "
        "and the tenant reports NetworkReady=False.",
    )
    to_tenants: list[DnsLabel] = Field(
        default_factory=list,
        max_length=MAX_PEERS,
        json_schema_extra=_set(),
        description="Tenants whose pods may be reached (they must allow it in, too).",
    )


class Network(Model):
    """Default deny in and out; DNS and traffic inside the tenant are always allowed."""

    ingress: Ingress = Field(default_factory=Ingress, description="Who may connect in.")
    egress: Egress = Field(default_factory=Egress, description="Where pods may connect out.")


class Environment(Model):
    """One environment: the namespace <tenant>-<name>."""

    name: DnsLabel = Field(
        description="The environment's name, such as dev or prod; the namespace is <tenant>-<name>."
    )
    quota: Quota | None = Field(
        None, description="Overrides the tenant's and the tier's quota in this namespace."
    )
    pod_security: PodSecurityLevel | None = Field(
        None, description="Overrides the tenant's Pod Security level in this namespace."
    )
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description="Extra labels on this namespace (Mooring's own labels always win).",
    )


class GuardrailOverride(Model):
    """How one guardrail rule applies to this tenant (the platform's mode otherwise)."""

    rule: str = Field(
        min_length=1, max_length=63, description="A rule id (`mooring policy rules` lists them)."
    )
    mode: Literal["enforce", "warn", "audit", "off"] = Field(
        description="enforce: refused at admission; warn: admitted with a warning; audit: "
        "reported only; off: not checked."
    )


class Adoption(Model):
    """A namespace kept from a deleted tenant (it held data) that this tenant takes over,
    with its workloads, volumes and Secrets. Never implicit: see docs/tenants.md."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.__namespace__) != has(self.tenantUid)",
                    "message": "give exactly one of namespace or tenantUid",
                }
            ]
        }
    )

    namespace: DnsLabel | None = Field(
        None,
        description="The kept namespace, by name (one of this tenant's: name-environment).",
    )
    tenant_uid: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="The UID of the deleted Tenant: every namespace kept from it (their "
        "annotation mooring.dev/tenant-uid) is taken over.",
    )

    @model_validator(mode="after")
    def _one(self) -> Adoption:
        if (self.namespace is None) == (self.tenant_uid is None):
            raise ValueError("give exactly one of namespace or tenantUid")
        return self


class TenantSpec(Model):
    """What the team asks for: people, environments, tier, network allowances."""

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
    developers: Subjects = Field(
        default_factory=Subjects,
        description="May deploy and operate workloads and read Secrets in every namespace.",
    )
    viewers: Subjects = Field(
        default_factory=Subjects, description="May read workloads (not Secrets), and the tenant."
    )
    environments: list[Environment] = Field(
        min_length=1,
        max_length=16,
        json_schema_extra=_list_map("name"),
        description="One namespace each, named <tenant>-<environment>; at least one.",
    )
    tier: DnsLabel | None = Field(None, description="A tier of the PlatformConfig.")
    quota: Quota | None = Field(None, description="Overrides the tier's quota, per namespace.")
    network: Network = Field(
        default_factory=Network,
        description="Network allowances; everything else in and out is denied.",
    )
    cost_center: LabelValue | None = Field(
        None,
        description="The tenant's cost centre: every namespace is labelled "
        "mooring.dev/cost-center with it, and cost reports group by it.",
    )
    labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description="Extra labels on every namespace of the tenant.",
    )
    pod_security: PodSecurityLevel = Field(
        "restricted",
        description="Pod Security Standard enforced in the namespaces: restricted (default) "
        "or baseline, if the tier allows it.",
    )
    deletion_policy: DeletionPolicy = Field(
        "Retain",
        description="Retain keeps namespaces that hold workloads or volumes when they are no "
        "longer wanted; Delete deletes them.",
    )
    guardrails: list[GuardrailOverride] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra=_list_map("rule"),
        description="Per-rule modes for this tenant, over the platform's.",
    )
    adopt: list[Adoption] = Field(
        default_factory=list,
        max_length=16,
        description="Namespaces kept from a deleted tenant of the same name that this tenant "
        "takes over, data and Secrets included. Without an entry such a namespace is refused "
        "(condition AdoptionRequired), so a re-created name never inherits another team's "
        "data silently.",
    )
    hostnames: list[Hostname] = Field(
        default_factory=list,
        max_length=MAX_HOSTNAMES,
        description="DNS names this tenant's Ingresses may serve (rules and TLS hosts). A name "
        "belongs to one tenant: the first to declare it holds it, and a later tenant's "
        "overlapping claim is refused. Under the tier's host suffixes, if it has any.",
        json_schema_extra=_set(),
    )
    observe: TenantObserve = Field(
        default_factory=TenantObserve,
        description="Alert thresholds, contacts and SLOs; the baseline alerts, dashboard and "
        "runbooks come with every tenant.",
    )
    budget: Budget | None = Field(
        None,
        description="A monthly budget: status.cost reports its use and forecast; crossing a "
        "threshold posts an Event and shows in the mooring_tenant_budget_* metrics.",
    )

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, hostnames: list[str]) -> list[str]:
        # The pattern already wants two labels after a '*.': no claim on a whole TLD.
        unique(hostnames, lambda name: name, "hostname")
        return hostnames

    @field_validator("environments")
    @classmethod
    def _unique_environments(cls, environments: list[Environment]) -> list[Environment]:
        unique(environments, lambda environment: environment.name, "environment")
        return environments

    @model_validator(mode="after")
    def _slo_environments(self) -> TenantSpec:
        known = {environment.name for environment in self.environments}
        for slo in self.observe.slos:
            missing = sorted(set(slo.environments) - known)
            if missing:
                raise ValueError(
                    f"SLO {slo.name!r} names environments the tenant does not have: "
                    f"{', '.join(missing)}"
                )
        return self

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


class QuotaUsage(Lenient):
    """One resource of a namespace's quota."""

    resource: str = Field(description="The quota's resource name, such as requests.cpu.")
    used: str = Field(description="In use now (a quantity).")
    hard: str = Field(description="The limit (a quantity).")


class NamespaceStatus(Lenient):
    """One of the tenant's namespaces."""

    name: str = Field(description="The namespace's name.")
    environment: str = Field(description="The environment it belongs to ('' if retained).")
    phase: Literal["Active", "Retained", "Conflict", "Pending"] = Field(
        "Active",
        description="Active: managed; Retained: no longer wanted but kept because it holds "
        "data; Conflict: the name is taken by something else; Pending: not made yet.",
    )
    message: str = Field("", description="Why, for Retained and Conflict.")
    quota: list[QuotaUsage] = Field(default_factory=list, description="Quota used and hard.")


class TenantStatus(Lenient):
    """Written by the operator only."""

    observed_generation: int | None = Field(
        None, description="The spec generation this status describes."
    )
    tier: str | None = Field(
        None, description="The tier in effect (the platform's default if unset)."
    )
    ready: str | None = Field(None, description="Ready condition's status, for printing.")
    namespace_count: int = Field(0, description="How many namespaces the tenant has.")
    namespaces: list[NamespaceStatus] = Field(
        default_factory=list, description="Each namespace: phase and quota usage."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Ready, and one condition per step: NamespacesReady, AccessReady, "
        "QuotaReady, LimitsReady, NetworkReady, PruneComplete.",
    )
    cost: CostStatus | None = Field(
        None, description="This month's cost and the budget's use, kept current by the operator."
    )


class ViewEnvironment(Lenient):
    """An environment's name, as the TenantView copies it."""

    name: str = Field(description="The environment's name; its namespace is <tenant>-<name>.")


class TenantViewSpec(Lenient):
    """What the tenant's members may know of its spec, copied from the Tenant by the operator."""

    owners: Subjects = Field(default_factory=Subjects, description="The Tenant's owners.")
    developers: Subjects = Field(default_factory=Subjects, description="The Tenant's developers.")
    viewers: Subjects = Field(default_factory=Subjects, description="The Tenant's viewers.")
    environments: list[ViewEnvironment] = Field(
        default_factory=list,
        json_schema_extra=_list_map("name"),
        description="The Tenant's environments, one namespace each.",
    )
    tier: str | None = Field(None, description="The tier the Tenant asks for.")
    cost_center: str | None = Field(None, description="The Tenant's cost centre.")
    budget: Budget | None = Field(None, description="The Tenant's monthly budget.")
