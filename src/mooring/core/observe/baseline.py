"""Pure: the baseline alert rules every tenant namespace gets.

One small function per alert, in a chain (`BASELINE`), each returning the rules of one
namespace. Expressions and thresholds follow the kubernetes-mixin
(github.com/kubernetes-monitoring/kubernetes-mixin, alerts/apps_alerts, resource_alerts,
storage_alerts) where it has the alert, narrowed to the namespace; the Mooring* alerts are
Mooring's own (its metrics, databases, budgets, and memory pressure from the kubelet's
resource metrics). Every alert carries `tenant`, `namespace`, `severity` and `runbook_url`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mooring.api.observe import DEFAULT_THRESHOLDS, Selectors
from mooring.core.observe.scope import Scope

Rule = dict[str, Any]
Alert = Callable[[Scope], list[Rule]]

QUOTA_RATIO = "mooring:namespace_quota_used:ratio"
# Quota resources whose use the kube-scheduler reports (its /metrics/resources), with the
# scheduler's resource name: the fallback when kube-state-metrics is not scraped.
# Cluster-wide rules only: each namespace's tenant, from its mooring.dev/tenant label.
TENANT_OF = (
    "max by (namespace, tenant) (label_replace("
    'kube_namespace_labels{label_mooring_dev_tenant!=""}, '
    '"tenant", "$1", "label_mooring_dev_tenant", "(.*)"))'
)
SCHEDULER_RESOURCES = {
    "requests.cpu": "cpu",
    "requests.memory": "memory",
    "limits.cpu": "cpu",
    "limits.memory": "memory",
}


def alert(
    scope: Scope,
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_: str | None = None,
) -> Rule:
    rule: Rule = {"alert": name, "expr": expr.strip()}
    if scope.cluster_wide and "tenant" not in expr:
        rule["expr"] = f"({rule['expr']})\n* on (namespace) group_left (tenant) {TENANT_OF}"
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, "tenant": scope.tenant, "namespace": scope.namespace}
    if scope.cluster_wide:
        rule["labels"] = {"severity": severity}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": scope.runbook(name),
    }
    return rule


def _ratio(percent: int | None) -> str:
    return str(Decimal(percent or 0) / 100)


# -- workloads (kubernetes-mixin: kubernetes-apps) ---------------------------------------------


def crash_looping(s: Scope) -> list[Rule]:
    ksm = s.select("kube_state_metrics", 'reason="CrashLoopBackOff"')
    return [
        alert(
            s,
            "KubePodCrashLooping",
            f"max_over_time(kube_pod_container_status_waiting_reason{ksm}[5m]) >= 1",
            "warning",
            "Pod is crash looping.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in "
            "waiting state (reason: CrashLoopBackOff).",
            s.thresholds.crash_looping_for,
        )
    ]


def container_waiting(s: Scope) -> list[Rule]:
    ksm = s.select("kube_state_metrics", 'reason!="CrashLoopBackOff"')
    return [
        alert(
            s,
            "KubeContainerWaiting",
            "sum by (namespace, pod, container) "
            f"(kube_pod_container_status_waiting_reason{ksm}) > 0",
            "warning",
            "Pod container waiting longer than expected.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} container {{ $labels.container }} "
            f"has been waiting for longer than {s.thresholds.container_waiting_for}.",
            s.thresholds.container_waiting_for,
        )
    ]


def pod_not_ready(s: Scope) -> list[Rule]:
    phase = s.select("kube_state_metrics", 'phase=~"Pending|Unknown|Failed"')
    owner = s.select("kube_state_metrics", 'owner_kind!="Job"')
    return [
        alert(
            s,
            "KubePodNotReady",
            f"""
sum by (namespace, pod) (
  max by (namespace, pod) (kube_pod_status_phase{phase})
  * on (namespace, pod) group_left (owner_kind)
  topk by (namespace, pod) (1, max by (namespace, pod, owner_kind) (kube_pod_owner{owner}))
) > 0""",
            "warning",
            "Pod has been in a non-ready state for too long.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} has been in a non-ready state for "
            f"longer than {s.thresholds.pod_not_ready_for}.",
            s.thresholds.pod_not_ready_for,
        )
    ]


def oom_killed(s: Scope) -> list[Rule]:
    restarts = s.select("kube_state_metrics")
    reason = s.select("kube_state_metrics", 'reason="OOMKilled"')
    return [
        alert(
            s,
            "MooringContainerOOMKilled",
            f"""
(increase(kube_pod_container_status_restarts_total{restarts}[15m]) > 0)
and on (namespace, pod, container)
(kube_pod_container_status_last_terminated_reason{reason} == 1)""",
            "warning",
            "A container was killed for running out of memory.",
            "Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} was "
            "OOM-killed and restarted in the last 15 minutes.",
        )
    ]


def memory_near_limit(s: Scope) -> list[Rule]:
    usage = s.select("resource_metrics", 'container!=""')
    limit = s.select("scheduler", 'resource="memory"')
    threshold = _ratio(s.thresholds.memory_near_limit_percent)
    return [
        alert(
            s,
            "MooringPodMemoryNearLimit",
            f"""
sum by (namespace, pod) (container_memory_working_set_bytes{usage})
/ on (namespace, pod)
(sum by (namespace, pod) (kube_pod_resource_limit{limit}) > 0)
> {threshold}""",
            "warning",
            "A pod uses most of its memory limit; it will be OOM-killed if it grows.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value | humanizePercentage }} "
            "of its memory limit.",
            "15m",
        )
    ]


def cpu_throttling(s: Scope) -> list[Rule]:
    throttled = s.select("cadvisor", 'container!=""')
    periods = s.select("cadvisor")
    threshold = _ratio(s.thresholds.cpu_throttling_percent)
    return [
        alert(
            s,
            "CPUThrottlingHigh",
            f"""
sum by (namespace, pod, container) (
  increase(container_cpu_cfs_throttled_periods_total{throttled}[5m])
)
/ on (namespace, pod, container)
sum by (namespace, pod, container) (increase(container_cpu_cfs_periods_total{periods}[5m]))
> {threshold}""",
            "info",
            "Processes experience elevated CPU throttling.",
            "{{ $value | humanizePercentage }} throttling of CPU in namespace "
            "{{ $labels.namespace }} for container {{ $labels.container }} in pod "
            "{{ $labels.pod }}.",
            "15m",
        )
    ]


def replicas_mismatch(s: Scope) -> list[Rule]:
    ksm = s.select("kube_state_metrics")
    wait = s.thresholds.replicas_mismatch_for
    return [
        alert(
            s,
            "KubeDeploymentReplicasMismatch",
            f"""
(kube_deployment_spec_replicas{ksm} > kube_deployment_status_replicas_available{ksm})
and (changes(kube_deployment_status_replicas_updated{ksm}[10m]) == 0)""",
            "warning",
            "Deployment has not matched the expected number of replicas.",
            "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the "
            f"expected number of replicas for longer than {wait}.",
            wait,
        ),
        alert(
            s,
            "KubeStatefulSetReplicasMismatch",
            f"""
(kube_statefulset_status_replicas_ready{ksm} != kube_statefulset_status_replicas{ksm})
and (changes(kube_statefulset_status_replicas_updated{ksm}[10m]) == 0)""",
            "warning",
            "StatefulSet has not matched the expected number of replicas.",
            "StatefulSet {{ $labels.namespace }}/{{ $labels.statefulset }} has not matched the "
            f"expected number of replicas for longer than {wait}.",
            wait,
        ),
    ]


def job_failed(s: Scope) -> list[Rule]:
    ksm = s.select("kube_state_metrics")
    return [
        alert(
            s,
            "KubeJobFailed",
            f"kube_job_failed{ksm} > 0",
            "warning",
            "Job failed to complete.",
            "Job {{ $labels.namespace }}/{{ $labels.job_name }} failed to complete. Removing "
            "the failed Job after investigation clears this alert.",
            s.thresholds.job_failed_for,
        )
    ]


# -- quota (kubernetes-mixin: kubernetes-resources) ---------------------------------------------


def quota_ratio(s: Scope) -> list[Rule]:
    """A recording rule: used / hard per quota resource. kube-state-metrics' figures where
    they are scraped; otherwise the kube-scheduler's pod requests and limits over the hard
    limits Mooring rendered (the same numbers the ResourceQuota holds)."""
    used = s.select("kube_state_metrics", 'type="used"')
    hard = s.select("kube_state_metrics", 'type="hard"')
    parts = [
        f"sum by (namespace, resource) (kube_resourcequota{used})\n"
        f"/ on (namespace, resource)\n"
        f"(sum by (namespace, resource) (kube_resourcequota{hard}) > 0)"
    ]
    for resource, scheduler_name in SCHEDULER_RESOURCES.items():
        limit = s.quota.get(resource)
        if not limit:
            continue
        metric = (
            "kube_pod_resource_request"
            if resource.startswith("requests.")
            else ("kube_pod_resource_limit")
        )
        pods = s.select("scheduler", f'resource="{scheduler_name}"')
        parts.append(
            f'label_replace(sum by (namespace) ({metric}{pods}) / {limit}, "resource", '
            f'"{resource}", "", "")'
        )
    if s.cluster_wide:
        return [{"record": QUOTA_RATIO, "expr": parts[0]}]
    return [
        {
            "record": QUOTA_RATIO,
            "expr": "\nor\n".join(f"({p})" for p in parts),
            "labels": {"tenant": s.tenant, "namespace": s.namespace},
        }
    ]


def quota(s: Scope) -> list[Rule]:
    ratio = QUOTA_RATIO if s.cluster_wide else f'{QUOTA_RATIO}{{namespace="{s.namespace}"}}'
    almost = _ratio(s.thresholds.quota_almost_full_percent)
    said = (
        "Namespace {{ $labels.namespace }} is using {{ $value | humanizePercentage }} of its "
        "{{ $labels.resource }} quota."
    )
    return [
        alert(
            s,
            "KubeQuotaAlmostFull",
            f"{ratio} > {almost} < 1",
            "info",
            "Namespace quota is going to be full.",
            said,
            "15m",
        ),
        alert(
            s,
            "KubeQuotaFullyUsed",
            f"{ratio} == 1",
            "info",
            "Namespace quota is fully used.",
            said,
            "15m",
        ),
        alert(
            s,
            "KubeQuotaExceeded",
            f"{ratio} > 1",
            "warning",
            "Namespace quota has exceeded the limits.",
            said,
            "15m",
        ),
    ]


# -- storage (kubernetes-mixin: kubernetes-storage) -------------------------------------------


def volume_filling_up(s: Scope) -> list[Rule]:
    kubelet = s.select("kubelet")
    ksm_ro = s.select("kube_state_metrics", 'access_mode="ReadOnlyMany"')
    ksm_excluded = s.select("kube_state_metrics", 'label_excluded_from_alerts="true"')
    unless = f"""
unless on (namespace, persistentvolumeclaim)
kube_persistentvolumeclaim_access_mode{ksm_ro} == 1
unless on (namespace, persistentvolumeclaim)
kube_persistentvolumeclaim_labels{ksm_excluded} == 1"""
    critical = _ratio(s.thresholds.volume_critical_free_percent)
    warning = _ratio(s.thresholds.volume_free_percent)
    return [
        alert(
            s,
            "KubePersistentVolumeFillingUp",
            f"""
(kubelet_volume_stats_available_bytes{kubelet} / kubelet_volume_stats_capacity_bytes{kubelet})
< {critical}
and kubelet_volume_stats_used_bytes{kubelet} > 0{unless}""",
            "critical",
            "PersistentVolume is filling up.",
            "The volume claimed by {{ $labels.persistentvolumeclaim }} in namespace "
            "{{ $labels.namespace }} is only {{ $value | humanizePercentage }} free.",
            "1m",
        ),
        alert(
            s,
            "KubePersistentVolumeFillingUp",
            f"""
(kubelet_volume_stats_available_bytes{kubelet} / kubelet_volume_stats_capacity_bytes{kubelet})
< {warning}
and kubelet_volume_stats_used_bytes{kubelet} > 0
and predict_linear(kubelet_volume_stats_available_bytes{kubelet}[6h], 4 * 24 * 3600) < 0{unless}""",
            "warning",
            "PersistentVolume is filling up.",
            "Based on recent sampling, the volume claimed by {{ $labels.persistentvolumeclaim }} "
            "in namespace {{ $labels.namespace }} is expected to fill up within four days. "
            "Currently {{ $value | humanizePercentage }} is available.",
            "1h",
        ),
    ]


# -- Mooring's own ------------------------------------------------------------------------------


def guardrail_violations(s: Scope) -> list[Rule]:
    if not s.first:  # tenant-wide: once, in the tenant's first namespace
        return []
    mooring = s.select("mooring", f'tenant="{s.tenant}"', namespace=False)
    return [
        alert(
            s,
            "MooringGuardrailViolations",
            f"sum by (tenant, rule, mode) (mooring_guardrail_violations{mooring}) > 0",
            "warning",
            "Workloads of the tenant violate guardrails.",
            "{{ $value }} workload(s) of tenant {{ $labels.tenant }} violate guardrail "
            "{{ $labels.rule }} (mode {{ $labels.mode }}); see the PolicyReports in its "
            "namespaces.",
            "15m",
        )
    ]


def database_not_ready(s: Scope) -> list[Rule]:
    mooring = s.select("mooring")
    return [
        alert(
            s,
            "MooringDatabaseNotReady",
            f"max by (namespace, database) (mooring_database_ready{mooring}) == 0",
            "critical",
            "A managed database is not ready.",
            "Database {{ $labels.namespace }}/{{ $labels.database }} has not been Ready for "
            "10 minutes; applications cannot rely on it.",
            "10m",
        )
    ]


def database_backup_overdue(s: Scope) -> list[Rule]:
    cronjobs = s.select("kube_state_metrics", 'cronjob=~".+-backup"')
    hours = s.thresholds.backup_overdue_hours or 0
    return [
        alert(
            s,
            "MooringDatabaseBackupOverdue",
            f"time() - kube_cronjob_status_last_successful_time{cronjobs} > {hours * 3600}",
            "warning",
            "A managed database's backup is overdue.",
            "The last successful backup of {{ $labels.namespace }}/{{ $labels.cronjob }} is "
            f"older than {hours} hours.",
            "15m",
        )
    ]


def budget_forecast(s: Scope) -> list[Rule]:
    """BUDGET: the cost work's mooring_tenant_budget_forecast_ratio (the month's forecast
    over the monthly budget, published by the operator's cost loop); silent without it."""
    if not s.first:
        return []
    mooring = s.select("mooring", f'tenant="{s.tenant}"', namespace=False)
    threshold = _ratio(s.thresholds.budget_forecast_percent)
    return [
        alert(
            s,
            "MooringTenantBudgetForecastExceeded",
            f"max by (tenant) (mooring_tenant_budget_forecast_ratio{mooring}) > {threshold}",
            "warning",
            "The tenant's spend is forecast to exceed its budget.",
            "Tenant {{ $labels.tenant }} is forecast to spend {{ $value | humanizePercentage }} "
            "of its monthly budget.",
            "1h",
        )
    ]


BASELINE: tuple[Alert, ...] = (
    crash_looping,  # KubePodCrashLooping (mixin)
    container_waiting,  # KubeContainerWaiting (mixin)
    pod_not_ready,  # KubePodNotReady (mixin)
    oom_killed,  # MooringContainerOOMKilled: restarts whose last reason is OOMKilled
    memory_near_limit,  # MooringPodMemoryNearLimit: working set vs limit (kubelet, scheduler)
    cpu_throttling,  # CPUThrottlingHigh (mixin)
    replicas_mismatch,  # KubeDeploymentReplicasMismatch, KubeStatefulSetReplicasMismatch (mixin)
    job_failed,  # KubeJobFailed (mixin)
    quota_ratio,  # recording: used/hard per quota resource (kube-state-metrics or scheduler)
    quota,  # KubeQuotaAlmostFull, KubeQuotaFullyUsed, KubeQuotaExceeded (mixin)
    volume_filling_up,  # KubePersistentVolumeFillingUp critical and predicted (mixin)
    guardrail_violations,  # MooringGuardrailViolations: the audit's standing violations
    database_not_ready,  # MooringDatabaseNotReady
    database_backup_overdue,  # MooringDatabaseBackupOverdue: the backup CronJob's last success
    budget_forecast,  # BUDGET: MooringTenantBudgetForecastExceeded (cost metrics)
)


def baseline_rules(scope: Scope) -> list[Rule]:
    """Pure: the baseline rules of one namespace, recording rules first."""
    rules = [rule for make in BASELINE for rule in make(scope)]
    return [r for r in rules if "record" in r] + [r for r in rules if "alert" in r]


def alert_names() -> list[str]:
    """Every baseline alert's name (each has a runbook in docs/runbooks/)."""
    probe = Scope("t", "t-dev", "dev", DEFAULT_THRESHOLDS, Selectors(), "https://x", {}, True)
    return sorted({r["alert"] for r in baseline_rules(probe) if "alert" in r})
