"""PlatformConfig: the platform team's settings, one cluster-scoped object named `default`.

Pure models. The same YAML lives in the platform repository (platform.yaml), so the
offline CLI reads exactly what the cluster uses: tiers with quotas and container
defaults, the capacity budget, where DNS and the ingress controller run, guardrail
settings, the shared database servers, prices and cost settings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mooring.api import names
from mooring.api.base import DnsLabel, DnsName, LabelValue, Model, Resource, unique
from mooring.api.cost import CostSettings, Prices
from mooring.api.guardrails import GuardrailSettings
from mooring.api.observe import ObserveSettings, Thresholds
from mooring.api.quantity import Quantity, format_bytes, parse_quantity
from mooring.api.tenant import PodSecurityLevel, Quota, SubjectName

PLATFORM_CONFIG_NAME = "default"
# A namespace, or a prefix ("kube-*") or suffix ("*-system") of namespaces.
NAMESPACE_PATTERN = r"^(\*[-a-z0-9]*[a-z0-9]|[a-z0-9][-a-z0-9]*\*?)$"
NamespacePattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=NAMESPACE_PATTERN,
        description="A namespace name, or a prefix (kube-*) or suffix (*-system) of names.",
    ),
]
# Reserved whatever the PlatformConfig says: Kubernetes' own namespaces, and Mooring's.
ALWAYS_RESERVED: tuple[tuple[str, str], ...] = (
    ("kube-*", "Kubernetes' own namespaces"),
    ("default", "Kubernetes' default namespace"),
    (names.SYSTEM_NAMESPACE, "Mooring's own namespace"),
)
# Where the platform's own components usually live; a PlatformConfig may list others.
DEFAULT_PLATFORM_NAMESPACES = ("*-system", "ingress-nginx", "monitoring", "argocd", "cert-manager")


class Resources(Model):
    """CPU, memory and ephemeral storage of one container."""

    cpu: Quantity | None = Field(None, description="CPU, such as 100m or 2.")
    memory: Quantity | None = Field(None, description="Memory, such as 128Mi or 4Gi.")
    ephemeral_storage: Quantity | None = Field(
        None, description="Ephemeral storage: writable layers, emptyDir volumes, logs."
    )


# Every tier's quota limits ephemeral storage, so every container needs an amount: these
# are given to containers that set none, unless the tier's containerDefaults say otherwise.
DEFAULT_EPHEMERAL_REQUEST = "100Mi"
DEFAULT_EPHEMERAL_LIMIT = "1Gi"


class ContainerDefaults(Model):
    """Becomes each namespace's LimitRange: what a container gets when it asks for nothing."""

    default_request: Resources = Field(
        default_factory=lambda: Resources(cpu="100m", memory="128Mi"),
        description="Requests of a container that sets none (ephemeral storage: "
        f"{DEFAULT_EPHEMERAL_REQUEST} unless given).",
    )
    default_limit: Resources = Field(
        default_factory=lambda: Resources(cpu="500m", memory="512Mi"),
        description="Limits of a container that sets none (ephemeral storage: "
        f"{DEFAULT_EPHEMERAL_LIMIT} unless given).",
    )
    max: Resources | None = Field(None, description="The most one container may ask for.")

    def request(self) -> Resources:
        """The default requests, ephemeral storage always included."""
        if self.default_request.ephemeral_storage is not None:
            return self.default_request
        return self.default_request.model_copy(
            update={"ephemeral_storage": DEFAULT_EPHEMERAL_REQUEST}
        )

    def limit(self) -> Resources:
        """The default limits, ephemeral storage always included."""
        if self.default_limit.ephemeral_storage is not None:
            return self.default_limit
        return self.default_limit.model_copy(update={"ephemeral_storage": DEFAULT_EPHEMERAL_LIMIT})


class DatabaseLimits(Model):
    """How many managed databases a tenant of a tier may have (across its environments),
    and how much storage they may declare in total."""

    count: int = Field(2, ge=0, description="Databases per tenant, at most.")
    storage: Quantity = Field("10Gi", description="Storage of all its databases together.")


PriorityClassName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A PriorityClass name.",
    ),
]
IngressClassName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="An IngressClass name.",
    ),
]


class TierIngress(Model):
    """What the Ingresses of a tier's tenants may use."""

    classes: list[IngressClassName] = Field(
        default_factory=list,
        max_length=32,
        description="IngressClasses (spec.ingressClassName) the tenants may use; empty: any. "
        "An Ingress without a class gets the cluster's default class at admission: list it.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    host_suffixes: list[DnsName] = Field(
        default_factory=list,
        max_length=32,
        description="DNS suffixes the tenants' hostnames must be under, such as "
        "apps.example.com (a tenant then claims shop.apps.example.com or "
        "*.shop.apps.example.com, never the suffix itself); empty: any name.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class Tier(Model):
    """A class of service tenants choose from: quota, container defaults, what is allowed."""

    quota: Quota = Field(description="Each namespace's quota; cpu, memory and pods are required.")
    container_defaults: ContainerDefaults = Field(
        default_factory=ContainerDefaults,
        description="Each namespace's LimitRange.",
    )
    pod_security: list[PodSecurityLevel] = Field(
        default_factory=lambda: list[PodSecurityLevel](["restricted"]),
        description="Pod Security levels a tenant of this tier may choose.",
    )
    databases: DatabaseLimits = Field(
        default_factory=DatabaseLimits, description="Managed databases a tenant may have."
    )
    priority_classes: list[PriorityClassName] = Field(
        default_factory=list,
        max_length=32,
        description="PriorityClasses the tenants' pods may name (priorityClassName); empty: "
        "none, pods run at the cluster's default priority. system-* classes (which preempt "
        "anything) are never allowed to tenants.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(c, !c.startsWith('system-'))",
                    "message": "system-* priority classes are reserved to the cluster's own "
                    "components (they preempt every tenant's pods); list a class of your own",
                }
            ],
        },
    )
    ingress: TierIngress = Field(
        default_factory=TierIngress,
        description="Ingress classes and host suffixes the tenants may use.",
    )
    alert_thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="Alert thresholds of this tier's tenants (over the platform's).",
    )

    @model_validator(mode="after")
    def _complete_quota(self) -> Tier:
        missing = [name for name in ("cpu", "memory", "pods") if getattr(self.quota, name) is None]
        if missing:
            raise ValueError(f"a tier's quota must set {', '.join(missing)}")
        return self

    def complete(self, quota: Quota) -> Quota:
        """Pure: `quota` (the tier's, with the tenant's and environment's overrides) with
        every limit a tenant namespace must have (MTB FNS-1, FNS-2) filled in where nobody
        set it: object counts from the number of pods, ephemeral storage from the default
        limit of a container, no load balancers or node ports, one ResourceQuota."""
        pods = quota.pods if quota.pods is not None else 0
        per_pod = parse_quantity(self.container_defaults.limit().ephemeral_storage or 0)
        defaults = {
            "ephemeral_storage": format_bytes(per_pod * pods),
            "services": pods,
            "persistent_volume_claims": pods,
            "replication_controllers": pods,
            "config_maps": 4 * pods,
            "secrets": 4 * pods,
            "load_balancers": 0,
            "node_ports": 0,
            "resource_quotas": 1,
        }
        missing = {key: value for key, value in defaults.items() if getattr(quota, key) is None}
        return quota.model_copy(update=missing) if missing else quota

    @field_validator("priority_classes")
    @classmethod
    def _no_system_classes(cls, classes: list[str]) -> list[str]:
        unique(classes, lambda name: name, "priority class")
        for name in classes:
            if name.startswith("system-"):
                raise ValueError(
                    f"priority class {name!r} is reserved to the cluster's own components "
                    "(it preempts every tenant's pods); create a PriorityClass of your own "
                    "for tenants and list that"
                )
        return classes


class Capacity(Model):
    """What the cluster can give: the sum of every tenant's quota must fit in it."""

    cpu: Quantity | None = Field(None, description="CPU the tenants' quotas may add up to.")
    memory: Quantity | None = Field(None, description="Memory the tenants' quotas may add up to.")
    storage: Quantity | None = Field(None, description="Storage the tenants' quotas may add up to.")


class PeerSelector(Model):
    """Pods in namespaces: the DNS servers, the ingress controller."""

    namespace: DnsLabel = Field(description="The namespace the pods run in.")
    pod_labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="Labels the pods carry (all pods there if empty)."
    )


class AllowedSubjects(Model):
    """Members a tenant may name although they reach beyond it; none by default.

    Refused unless listed here: users and groups in Kubernetes' reserved `system:` names
    (system:authenticated is every signed-in identity, system:unauthenticated and
    system:anonymous every request without credentials, system:serviceaccounts every
    service account), and service accounts outside the tenant's own namespaces.
    """

    users: list[SubjectName] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="system: users tenants may name (exactly as written).",
    )
    groups: list[SubjectName] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="system: groups tenants may name, such as system:authenticated for a "
        "platform where every signed-in person may read (exactly as written).",
    )
    service_account_namespaces: list[NamespacePattern] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Namespaces (or patterns such as ci-*) whose service accounts any "
        "tenant may make members, such as a platform CI namespace.",
    )


class DatabaseServer(Model):
    """A PostgreSQL server the platform operates, shared by tenants (plan `shared`).

    The admin Secret (keys `username` and `password`) holds a login with CREATEROLE and
    CREATEDB (and pg_signal_backend, to end connections when a database is dropped); it
    need not be a superuser. Only the operator reads it.
    """

    name: DnsLabel
    host: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9.:]*[A-Za-z0-9])?$",
        description="Host name or address, as the operator and applications reach it.",
    )
    port: int = Field(5432, ge=1, le=65535, description="The server's port.")
    admin_secret: SecretRef = Field(
        description="The Secret with the admin login (keys username and password)."
    )
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer", description="libpq's sslmode for connections to the server."
    )
    versions: list[str] = Field(
        default_factory=lambda: ["15"],
        description="PostgreSQL major versions this server satisfies (its own).",
    )
    create_strategy: Literal["WAL_LOG", "FILE_COPY"] | None = Field(
        None,
        description="CREATE DATABASE's STRATEGY (PostgreSQL 15+; default: the server's, "
        "WAL_LOG). FILE_COPY is several times faster from a small template, at the cost of "
        "two checkpoints per new database.",
    )
    peer: PeerSelector | None = Field(
        None,
        description="Where the server's pods run, when it runs in the cluster: tenants' "
        "pods get an egress NetworkPolicy to them (for an address host, one is made anyway).",
    )


class SecretRef(Model):
    """A Secret by namespace and name."""

    namespace: DnsLabel = Field(description="The Secret's namespace.")
    name: DnsLabel = Field(description="The Secret's name.")


class DedicatedSettings(Model):
    """How dedicated servers (plan `dedicated`) run: images per major version, storage."""

    images: dict[str, str] = Field(
        default_factory=lambda: {
            "15": "docker.io/library/postgres:15.13-bookworm",
            "16": "docker.io/library/postgres:16.9-bookworm",
            "17": "docker.io/library/postgres:17.5-bookworm",
        },
        description="Major version -> pinned image.",
    )
    storage_class: str | None = Field(
        None, max_length=253, description="StorageClass of data volumes (the cluster's default)."
    )


class DatabaseSettings(Model):
    """Managed PostgreSQL: the shared servers, and how dedicated servers run."""

    servers: list[DatabaseServer] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Shared PostgreSQL servers (plan shared).",
    )
    default_server: DnsLabel | None = Field(
        None, description="The server of a Database that names none (the only one if unset)."
    )
    dedicated: DedicatedSettings = Field(
        default_factory=DedicatedSettings, description="Dedicated servers (plan dedicated)."
    )

    @model_validator(mode="after")
    def _servers(self) -> DatabaseSettings:
        unique(self.servers, lambda server: server.name, "database server")
        known = {server.name for server in self.servers}
        if self.default_server is not None and self.default_server not in known:
            raise ValueError(
                f"defaultServer {self.default_server!r} is not one of the servers "
                f"({', '.join(sorted(known)) or 'none'})"
            )
        return self

    def server(self, name: str | None) -> DatabaseServer | None:
        """The named server, else the default, else the only one."""
        wanted = name or self.default_server
        if wanted is None:
            return self.servers[0] if len(self.servers) == 1 else None
        return next((s for s in self.servers if s.name == wanted), None)


class NetworkSettings(Model):
    """What the cluster's network offers beyond Kubernetes NetworkPolicies."""

    cilium: bool = Field(
        False,
        description="The cluster runs Cilium, so tenants' FQDN egress and HTTP (L7) "
        "allowances can be enforced. Offline tools go by this (`mooring validate` warns "
        "about such allowances when it is false; `mooring render` renders "
        "CiliumNetworkPolicies when it is true); the operator looks for Cilium's CRDs "
        "itself and reports allowances it cannot enforce in the tenant's NetworkReady.",
    )


class PlatformConfigSpec(Model):
    """The platform's settings."""

    tiers: dict[DnsLabel, Tier] = Field(
        min_length=1, max_length=32, description="The tiers tenants choose from, by name."
    )
    default_tier: DnsLabel = Field(
        "small", description="The tier of a tenant that names none; one of `tiers`."
    )
    capacity: Capacity = Field(
        default_factory=Capacity,
        description="What the cluster can give; every tenant namespace's quota must fit in it.",
    )
    dns: PeerSelector = Field(
        default_factory=lambda: PeerSelector(
            namespace="kube-system", pod_labels={"k8s-app": "kube-dns"}
        ),
        description="Where the cluster's DNS servers run (tenants may always reach them).",
    )
    ingress_controller: PeerSelector = Field(
        default_factory=lambda: PeerSelector(
            namespace="ingress-nginx", pod_labels={"app.kubernetes.io/name": "ingress-nginx"}
        ),
        description="Where the ingress controller runs (spec.network.ingress."
        "fromIngressController of a tenant lets it in).",
    )
    network: NetworkSettings = Field(
        default_factory=NetworkSettings, description="The cluster's network features."
    )
    guardrails: GuardrailSettings = Field(
        default_factory=GuardrailSettings,
        description="Guardrail modes and the parameters the rules read.",
    )
    databases: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="Managed PostgreSQL settings."
    )
    platform_namespaces: list[NamespacePattern] = Field(
        default_factory=lambda: list(DEFAULT_PLATFORM_NAMESPACES),
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Namespaces the platform's components use (names, or patterns such as "
        "*-system): no tenant environment may become one. kube-*, default and mooring-system "
        "are always reserved, and so are the namespaces this PlatformConfig names (DNS, "
        "ingress controller, database servers). Default: "
        + ", ".join(DEFAULT_PLATFORM_NAMESPACES)
        + ".",
    )
    allowed_subjects: AllowedSubjects = Field(
        default_factory=AllowedSubjects,
        description="Members tenants may name although they open a tenant beyond its team "
        "(system: users and groups, other namespaces' service accounts); none by default.",
    )
    cluster_domain: DnsName = Field(
        "cluster.local",
        description="The cluster's DNS domain (kubelet --cluster-domain): names under it are "
        "inside the cluster, which ExternalName Services may not point at.",
    )
    observe: ObserveSettings = Field(
        default_factory=ObserveSettings,
        description="Baseline alerts, dashboards and routing: thresholds, the scrape jobs "
        "the rules read, runbook links, labels for the Prometheus Operator's selectors.",
    )
    prices: Prices = Field(
        default_factory=Prices,
        description="What resources cost (per vCPU-hour, GiB-hour, GiB-month...), in one "
        "currency; defaults are OpenCost's list prices in USD.",
    )
    cost: CostSettings = Field(
        default_factory=CostSettings,
        description="Where usage is read from (Prometheus), how often tenants' cost is "
        "refreshed, whether idle capacity is shared.",
    )

    @model_validator(mode="after")
    def _default_tier_exists(self) -> PlatformConfigSpec:
        if self.default_tier not in self.tiers:
            raise ValueError(
                f"defaultTier {self.default_tier!r} is not one of the tiers "
                f"({', '.join(sorted(self.tiers))})"
            )
        return self


class PlatformConfig(Resource):
    kind: Literal["PlatformConfig"] = "PlatformConfig"
    spec: PlatformConfigSpec

    @model_validator(mode="after")
    def _named_default(self) -> PlatformConfig:
        if self.metadata.name != PLATFORM_CONFIG_NAME:
            raise ValueError(
                f"the PlatformConfig must be named {PLATFORM_CONFIG_NAME!r}, "
                f"not {self.metadata.name!r}"
            )
        return self
