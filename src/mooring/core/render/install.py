"""Pure: every object of an installation of Mooring on a cluster, from install values.

One renderer, two outputs:
- `manifests(values, ...)`: the objects themselves (`mooring install render|apply`,
  deploy/install.yaml);
- `chart_manifests()`: the same objects with Helm template expressions where the values
  go (core/render/chart.py writes them out as deploy/helm/mooring), so the chart cannot
  drift from the CLI: a test renders both with the same values and compares.

The parts: the CRDs, the Namespace (Pod Security restricted), the tenant ClusterRoles, the
operator's ServiceAccount and least-privilege RBAC (cluster-wide, plus a Role for its
leader-election Lease), the admission policies (a Database only in a tenant namespace; a
Tenant neither in a platform namespace nor opened to everyone), the operator Deployment (replicas
electing a leader, probes, restricted securityContext, read-only root), the metrics
Service, a ServiceMonitor when the cluster serves that kind, a PodDisruptionBudget when
there is more than one replica, and optionally the PlatformConfig.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mooring import __version__
from mooring.api import names
from mooring.api.install import InstallValues, image_reference
from mooring.api.platform import PLATFORM_CONFIG_NAME
from mooring.core.isolation import admission_policy as tenant_admission_policy
from mooring.core.render import platform
from mooring.core.render.database import admission_policy as database_admission_policy
from mooring.core.render.protection import protection_policy

KubeObject = dict[str, Any]
SERVICE_MONITOR = "monitoring.coreos.com/v1/ServiceMonitor"
METRICS_SERVICE = f"{platform.OPERATOR}-metrics"
USER_ID = 65532  # the image's non-root user (as distroless "nonroot")
SELECTOR = {"app.kubernetes.io/name": "mooring", "app.kubernetes.io/component": "operator"}
# Helm keeps these on `helm uninstall`: without the tenant roles, every tenant member would
# lose access; without the PlatformConfig, tenants would have no tiers.
KEEP = {"helm.sh/resource-policy": "keep"}
# Argo CD: the PlatformConfig can be synced with the CRD that defines it.
SKIP_DRY_RUN = {"argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true"}


@dataclass(frozen=True)
class Manifest:
    """One object of the installation; in the chart, in `template` under `helm_if`."""

    obj: KubeObject
    template: str
    include: bool = True  # concrete rendering: whether the values ask for it
    helm_if: str | None = None  # the chart: the same decision as a Helm condition


@dataclass
class Params:
    """Where each value comes from: concrete values, or (for the chart) Helm expressions.

    In the chart, a value is a token (`HELMT<n>T`) that core/render/chart.py replaces with
    its expression; `expressions[token] = (expression, kind)`, kind one of "scalar",
    "quoted" or "block" (a mapping or list: toYaml).
    """

    namespace: Any
    image: Any
    pull_policy: Any
    pull_secrets: Any  # list of {name}
    replicas: Any
    resources: Any
    log_level: Any
    health_port: Any
    metrics_port: Any
    lease_duration: Any
    renew_deadline: Any
    retry_period: Any
    node_selector: Any
    tolerations: Any
    affinity: Any
    priority_class_name: Any
    pod_annotations: Any
    monitor_interval: Any
    monitor_labels: Any
    platform_config: Any
    version: Any
    expressions: dict[str, tuple[str, str]] = field(default_factory=dict)

    def optional(self, key: str, value: Any) -> dict[str, Any]:
        """`{key: value}` when the value is set. In the chart, `{"<token>.<key>": token}`,
        which becomes a `with` block; an empty key merges the value into the mapping."""
        if isinstance(value, str) and value in self.expressions:
            return {f"{value}.{key}": value}
        return {key: value} if value else {}


def concrete(values: InstallValues, namespace: str, version: str = __version__) -> Params:
    """The Params of one installation."""
    election = values.leader_election
    return Params(
        namespace=namespace,
        image=image_reference(values.image, version),
        pull_policy=values.image.pull_policy,
        pull_secrets=[s.to_json() for s in values.image_pull_secrets],
        replicas=values.replicas,
        resources=values.resources.to_json(),
        log_level=values.log_level,
        health_port=values.health_port,
        metrics_port=values.metrics.port,
        lease_duration=election.lease_duration_seconds,
        renew_deadline=election.renew_deadline_seconds,
        retry_period=election.retry_period_seconds,
        node_selector=values.node_selector,
        tolerations=values.tolerations,
        affinity=values.affinity,
        priority_class_name=values.priority_class_name,
        pod_annotations=values.pod_annotations,
        monitor_interval=values.metrics.service_monitor.interval,
        monitor_labels=values.metrics.service_monitor.labels,
        platform_config=values.platform_config,
        version=version,
    )


def templated() -> Params:
    """The Params of the chart: every value a Helm expression."""
    expressions: dict[str, tuple[str, str]] = {}

    def helm(expression: str, kind: str = "scalar") -> str:
        token = f"HELMT{len(expressions)}T"
        expressions[token] = (expression, kind)
        return token

    return Params(
        namespace=helm(".Release.Namespace", "quoted"),
        image=helm('include "mooring.image" .', "quoted"),
        pull_policy=helm(".Values.image.pullPolicy", "quoted"),
        pull_secrets=helm(".Values.imagePullSecrets", "block"),
        replicas=helm(".Values.replicas"),
        resources=helm(".Values.resources", "block"),
        log_level=helm(".Values.logLevel"),
        health_port=helm(".Values.healthPort"),
        metrics_port=helm(".Values.metrics.port"),
        lease_duration=helm(".Values.leaderElection.leaseDurationSeconds"),
        renew_deadline=helm(".Values.leaderElection.renewDeadlineSeconds"),
        retry_period=helm(".Values.leaderElection.retryPeriodSeconds"),
        node_selector=helm(".Values.nodeSelector", "block"),
        tolerations=helm(".Values.tolerations", "block"),
        affinity=helm(".Values.affinity", "block"),
        priority_class_name=helm(".Values.priorityClassName", "quoted"),
        pod_annotations=helm(".Values.podAnnotations", "block"),
        monitor_interval=helm(".Values.metrics.serviceMonitor.interval", "quoted"),
        monitor_labels=helm(".Values.metrics.serviceMonitor.labels", "block"),
        platform_config=helm(".Values.platformConfig", "block"),
        version=helm(".Chart.AppVersion", "quoted"),
        expressions=expressions,
    )


# -- the objects ---------------------------------------------------------------------------------


def _labels(p: Params, component: str | None = None) -> dict[str, Any]:
    labels: dict[str, Any] = {
        **platform.PART_OF,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }
    if component:
        labels.update({**SELECTOR, "app.kubernetes.io/version": p.version})
    return labels


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "health"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(p: Params) -> KubeObject:
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "name": "operator",
        "image": p.image,
        "imagePullPolicy": p.pull_policy,
        "args": [
            "operator",
            "--in-cluster",
            "--metrics-address=0.0.0.0",
            f"--metrics-port={p.metrics_port}",
            "--health-address=0.0.0.0",
            f"--health-port={p.health_port}",
            f"--log-level={p.log_level}",
            "--leader-election",
            f"--lease-duration={p.lease_duration}",
            f"--renew-deadline={p.renew_deadline}",
            f"--retry-period={p.retry_period}",
        ],
        "env": [
            # The Lease names its holder by pod; the Lease lives in the pod's namespace.
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
        ],
        "ports": [
            {"name": "metrics", "containerPort": p.metrics_port, "protocol": "TCP"},
            {"name": "health", "containerPort": p.health_port, "protocol": "TCP"},
        ],
        # Ready: a standby that watches the Lease, or a leader whose caches are synced.
        "readinessProbe": _probe("/readyz", 5, 3),
        # Alive: the event loop answers and, when leading, the Lease is being renewed.
        "livenessProbe": _probe("/healthz", 10, 3),
        "resources": p.resources,
        "securityContext": security,
        # Python writes nothing at run time, but libraries may want a temporary folder.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": platform.OPERATOR,
        **p.optional("priorityClassName", p.priority_class_name),
        **p.optional("imagePullSecrets", p.pull_secrets),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        **p.optional("nodeSelector", p.node_selector),
        **p.optional("tolerations", p.tolerations),
        **p.optional("affinity", p.affinity),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": platform.OPERATOR,
            "namespace": p.namespace,
            "labels": _labels(p, "operator"),
        },
        "spec": {
            "replicas": p.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": SELECTOR},
            # A new pod stands by before an old one goes: there is always a leader or a
            # standby ready to take the Lease.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": _labels(p, "operator"),
                    **p.optional("annotations", p.pod_annotations),
                },
                "spec": pod_spec,
            },
        },
    }


def metrics_service(p: Params) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": METRICS_SERVICE,
            "namespace": p.namespace,
            "labels": _labels(p, "operator"),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": SELECTOR,
            "ports": [
                {
                    "name": "metrics",
                    "port": p.metrics_port,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def service_monitor(p: Params) -> KubeObject:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {
            "name": platform.OPERATOR,
            "namespace": p.namespace,
            "labels": _labels(p, "operator"),
        },
        "spec": {
            "selector": {"matchLabels": SELECTOR},
            "namespaceSelector": {"matchNames": [p.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": p.monitor_interval}],
        },
    }


def _monitor_labels(obj: KubeObject, p: Params) -> KubeObject:
    """The ServiceMonitor with the extra labels a Prometheus may select on."""
    meta = obj["metadata"]
    extra = p.optional("", p.monitor_labels)
    merged = extra.get("", extra)  # concrete: the labels themselves; chart: a merging block
    return {**obj, "metadata": {**meta, "labels": {**meta["labels"], **merged}}}


def disruption_budget(p: Params) -> KubeObject:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": platform.OPERATOR,
            "namespace": p.namespace,
            "labels": _labels(p, "operator"),
        },
        # One pod at a time: a drain never takes the leader and its standby together.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}},
    }


def platform_config(p: Params) -> KubeObject:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "PlatformConfig",
        "metadata": {
            "name": PLATFORM_CONFIG_NAME,
            "labels": _labels(p),
            "annotations": {**KEEP, **SKIP_DRY_RUN},
        },
        "spec": p.platform_config,
    }


def build(
    p: Params,
    *,
    create_namespace: bool = True,
    monitor: bool = False,
    replicas: int = 2,
    with_platform: bool = False,
) -> list[Manifest]:
    """Every object in apply order, with the chart's conditions beside the concrete ones."""
    tenant_roles = [
        {**role, "metadata": {**role["metadata"], "annotations": KEEP}}
        for role in platform.tenant_cluster_roles()
    ]
    space, *rbac = platform.operator_rbac(namespace=p.namespace)
    operator, _ = platform.operator_user(p.namespace)
    space["metadata"]["labels"] = {**space["metadata"]["labels"], **_labels(p)}
    return [
        Manifest(space, "namespace.yaml", create_namespace, ".Values.createNamespace"),
        *(Manifest(role, "tenant-roles.yaml") for role in tenant_roles),
        *(Manifest(obj, "rbac.yaml") for obj in rbac),
        *(Manifest(obj, "admission.yaml") for obj in database_admission_policy()),
        *(Manifest(obj, "admission.yaml") for obj in tenant_admission_policy()),
        # What holds the operator's RBAC writes to the tenant roles (it may bind and
        # escalate ClusterRoles), and what keeps Mooring's objects in tenant namespaces
        # Mooring's: both name the operator's ServiceAccount in this release's namespace.
        *(Manifest(obj, "admission.yaml") for obj in platform.operator_rbac_policy(operator)),
        *(Manifest(obj, "admission.yaml") for obj in protection_policy(operator)),
        Manifest(deployment(p), "deployment.yaml"),
        Manifest(metrics_service(p), "service.yaml"),
        Manifest(
            _monitor_labels(service_monitor(p), p),
            "servicemonitor.yaml",
            monitor,
            "and .Values.metrics.serviceMonitor.enabled "
            f'(.Capabilities.APIVersions.Has "{SERVICE_MONITOR}")',
        ),
        Manifest(
            disruption_budget(p),
            "poddisruptionbudget.yaml",
            replicas > 1,
            "gt (int .Values.replicas) 1",
        ),
        Manifest(
            platform_config(p), "platformconfig.yaml", with_platform, ".Values.platformConfig"
        ),
    ]


def manifests(
    values: InstallValues,
    namespace: str = platform.SYSTEM_NAMESPACE,
    api_versions: Sequence[str] = (),
    version: str = __version__,
) -> list[KubeObject]:
    """Pure: the whole installation (CRDs first), as `mooring install render` prints it.

    `api_versions` are what the cluster serves (as Helm's --api-versions: "group/version"
    or "group/version/Kind"); a ServiceMonitor is rendered only when it is among them.
    """
    monitor = values.metrics.service_monitor.enabled and SERVICE_MONITOR in api_versions
    objects = build(
        concrete(values, namespace, version),
        create_namespace=values.create_namespace,
        monitor=monitor,
        replicas=values.replicas,
        with_platform=values.platform_config is not None,
    )
    return [*platform.crds(), *(m.obj for m in objects if m.include)]


def chart_manifests() -> tuple[list[Manifest], Params]:
    """The objects with Helm expressions for values, and the expressions by token."""
    p = templated()
    return build(p), p
