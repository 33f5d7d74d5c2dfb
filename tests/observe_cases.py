"""promtool test cases for the baseline alerts: for each, series that fire it and series
that must not (written by hand, as kube-state-metrics, the kubelet, the kube-scheduler and
Mooring's operator would expose them for tenant acme, namespace acme-dev).

The tenant's quota (tests/builders.py, tier small) is 2 CPUs and 4 GiB: the scheduler
fallback of the quota alerts divides by those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NS = "acme-dev"
KSM = f'job="kube-state-metrics", namespace="{NS}"'
KSM_LABELS = {"job": "kube-state-metrics", "namespace": NS}
RULE = {"tenant": "acme", "namespace": NS}
MOORING = 'job="mooring-operator"'


@dataclass(frozen=True)
class Case:
    alert: str
    why: str
    series: dict[str, str]  # series -> promtool values
    eval_time: str
    fires: list[dict[str, str]] = field(default_factory=list)  # expected labels (no alertname)


def warn(**labels: str) -> dict[str, str]:
    return {**RULE, "severity": "warning", **labels}


CASES: list[Case] = [
    Case(
        "KubePodCrashLooping",
        "a container waiting in CrashLoopBackOff",
        {
            f'kube_pod_container_status_waiting_reason{{{KSM}, pod="p", container="c", '
            'reason="CrashLoopBackOff"}': "1x40"
        },
        "20m",
        [warn(**KSM_LABELS, pod="p", container="c", reason="CrashLoopBackOff")],
    ),
    Case(
        "KubePodCrashLooping",
        "a container that stopped crash looping",
        {
            f'kube_pod_container_status_waiting_reason{{{KSM}, pod="p", container="c", '
            'reason="CrashLoopBackOff"}': "0x40"
        },
        "20m",
    ),
    Case(
        "KubeContainerWaiting",
        "a container waiting (ContainerCreating) for more than an hour",
        {
            f'kube_pod_container_status_waiting_reason{{{KSM}, pod="p", container="c", '
            'reason="ContainerCreating"}': "1x90"
        },
        "70m",
        [warn(pod="p", container="c")],
    ),
    Case(
        "KubeContainerWaiting",
        "crash looping is another alert's",
        {
            f'kube_pod_container_status_waiting_reason{{{KSM}, pod="p", container="c", '
            'reason="CrashLoopBackOff"}': "1x90"
        },
        "70m",
    ),
    Case(
        "KubePodNotReady",
        "a ReplicaSet's pod Pending for 20 minutes",
        {
            f'kube_pod_status_phase{{{KSM}, pod="p", phase="Pending"}}': "1x30",
            f'kube_pod_owner{{{KSM}, pod="p", owner_kind="ReplicaSet"}}': "1x30",
        },
        "20m",
        [warn(pod="p")],
    ),
    Case(
        "KubePodNotReady",
        "a Job's pod is left to KubeJobFailed",
        {
            f'kube_pod_status_phase{{{KSM}, pod="p", phase="Pending"}}': "1x30",
            f'kube_pod_owner{{{KSM}, pod="p", owner_kind="Job"}}': "1x30",
        },
        "20m",
    ),
    Case(
        "MooringContainerOOMKilled",
        "a restart whose last termination was OOMKilled",
        {
            f'kube_pod_container_status_restarts_total{{{KSM}, pod="p", container="c"}}': (
                "0 0 0 1 1 1 1 1"
            ),
            f'kube_pod_container_status_last_terminated_reason{{{KSM}, pod="p", container="c", '
            'reason="OOMKilled"}': "1x8",
        },
        "5m",
        [warn(**KSM_LABELS, pod="p", container="c")],
    ),
    Case(
        "MooringContainerOOMKilled",
        "a restart after an ordinary error",
        {
            f'kube_pod_container_status_restarts_total{{{KSM}, pod="p", container="c"}}': (
                "0 0 0 1 1 1 1 1"
            ),
            f'kube_pod_container_status_last_terminated_reason{{{KSM}, pod="p", container="c", '
            'reason="Error"}': "1x8",
        },
        "5m",
    ),
    Case(
        "MooringPodMemoryNearLimit",
        "a working set at 95% of the pod's memory limit",
        {
            'container_memory_working_set_bytes{job="kubelet", metrics_path="/metrics/resource", '
            f'namespace="{NS}", pod="p", container="c"}}': "950x30",
            f'kube_pod_resource_limit{{namespace="{NS}", pod="p", resource="memory"}}': "1000x30",
        },
        "20m",
        [warn(pod="p")],
    ),
    Case(
        "MooringPodMemoryNearLimit",
        "half the limit",
        {
            'container_memory_working_set_bytes{job="kubelet", metrics_path="/metrics/resource", '
            f'namespace="{NS}", pod="p", container="c"}}': "500x30",
            f'kube_pod_resource_limit{{namespace="{NS}", pod="p", resource="memory"}}': "1000x30",
        },
        "20m",
    ),
    Case(
        "CPUThrottlingHigh",
        "half the CPU periods throttled",
        {
            'container_cpu_cfs_throttled_periods_total{job="kubelet", '
            f'metrics_path="/metrics/cadvisor", namespace="{NS}", pod="p", container="c"}}': (
                "0+50x40"
            ),
            'container_cpu_cfs_periods_total{job="kubelet", metrics_path="/metrics/cadvisor", '
            f'namespace="{NS}", pod="p", container="c"}}': "0+100x40",
        },
        "25m",
        [{**RULE, "severity": "info", "pod": "p", "container": "c"}],
    ),
    Case(
        "CPUThrottlingHigh",
        "a tenth of the periods throttled (the threshold is 25%)",
        {
            'container_cpu_cfs_throttled_periods_total{job="kubelet", '
            f'metrics_path="/metrics/cadvisor", namespace="{NS}", pod="p", container="c"}}': (
                "0+10x40"
            ),
            'container_cpu_cfs_periods_total{job="kubelet", metrics_path="/metrics/cadvisor", '
            f'namespace="{NS}", pod="p", container="c"}}': "0+100x40",
        },
        "25m",
    ),
    Case(
        "KubeDeploymentReplicasMismatch",
        "1 of 3 replicas available for half an hour",
        {
            f'kube_deployment_spec_replicas{{{KSM}, deployment="d"}}': "3x40",
            f'kube_deployment_status_replicas_available{{{KSM}, deployment="d"}}': "1x40",
            f'kube_deployment_status_replicas_updated{{{KSM}, deployment="d"}}': "3x40",
        },
        "30m",
        [warn(**KSM_LABELS, deployment="d")],
    ),
    Case(
        "KubeDeploymentReplicasMismatch",
        "all replicas available",
        {
            f'kube_deployment_spec_replicas{{{KSM}, deployment="d"}}': "3x40",
            f'kube_deployment_status_replicas_available{{{KSM}, deployment="d"}}': "3x40",
            f'kube_deployment_status_replicas_updated{{{KSM}, deployment="d"}}': "3x40",
        },
        "30m",
    ),
    Case(
        "KubeStatefulSetReplicasMismatch",
        "1 of 3 replicas ready for half an hour",
        {
            f'kube_statefulset_status_replicas_ready{{{KSM}, statefulset="s"}}': "1x40",
            f'kube_statefulset_status_replicas{{{KSM}, statefulset="s"}}': "3x40",
            f'kube_statefulset_status_replicas_updated{{{KSM}, statefulset="s"}}': "3x40",
        },
        "30m",
        [warn(**KSM_LABELS, statefulset="s")],
    ),
    Case(
        "KubeStatefulSetReplicasMismatch",
        "all replicas ready",
        {
            f'kube_statefulset_status_replicas_ready{{{KSM}, statefulset="s"}}': "3x40",
            f'kube_statefulset_status_replicas{{{KSM}, statefulset="s"}}': "3x40",
            f'kube_statefulset_status_replicas_updated{{{KSM}, statefulset="s"}}': "3x40",
        },
        "30m",
    ),
    Case(
        "KubeJobFailed",
        "a failed Job left for 20 minutes",
        {f'kube_job_failed{{{KSM}, job_name="j", condition="true"}}': "1x30"},
        "20m",
        [warn(**KSM_LABELS, job_name="j", condition="true")],
    ),
    Case(
        "KubeJobFailed",
        "a Job that did not fail",
        {f'kube_job_failed{{{KSM}, job_name="j", condition="true"}}': "0x30"},
        "20m",
    ),
    Case(
        "KubeQuotaAlmostFull",
        "95 of 100 pods (kube-state-metrics)",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "95x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
        [{**RULE, "severity": "info", "resource": "pods"}],
    ),
    Case(
        "KubeQuotaAlmostFull",
        "1.9 of 2 CPUs requested (the kube-scheduler, without kube-state-metrics)",
        {f'kube_pod_resource_request{{namespace="{NS}", pod="p", resource="cpu"}}': "1.9x30"},
        "20m",
        [{**RULE, "severity": "info", "resource": "requests.cpu"}],
    ),
    Case(
        "KubeQuotaAlmostFull",
        "half the quota",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "50x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
    ),
    Case(
        "KubeQuotaFullyUsed",
        "the whole quota",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "100x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
        [{**RULE, "severity": "info", "resource": "pods"}],
    ),
    Case(
        "KubeQuotaFullyUsed",
        "95% of the quota",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "95x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
    ),
    Case(
        "KubeQuotaExceeded",
        "more in use than the quota allows (lowered under running pods)",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "110x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
        [warn(resource="pods")],
    ),
    Case(
        "KubeQuotaExceeded",
        "exactly the quota",
        {
            f'kube_resourcequota{{{KSM}, resource="pods", type="used"}}': "100x30",
            f'kube_resourcequota{{{KSM}, resource="pods", type="hard"}}': "100x30",
        },
        "20m",
    ),
    Case(
        "KubePersistentVolumeFillingUp",
        "2% free (critical)",
        {
            f'kubelet_volume_stats_available_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "2x10",
            f'kubelet_volume_stats_capacity_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "100x10",
            f'kubelet_volume_stats_used_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "98x10",
        },
        "5m",
        [
            {
                **RULE,
                "severity": "critical",
                "job": "kubelet",
                "metrics_path": "/metrics",
                "persistentvolumeclaim": "data",
            }
        ],
    ),
    Case(
        "KubePersistentVolumeFillingUp",
        "under 15% free and falling: full within four days (warning)",
        {
            f'kubelet_volume_stats_available_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "14-0.02x480",
            f'kubelet_volume_stats_capacity_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "100x480",
            f'kubelet_volume_stats_used_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "86+0.02x480",
        },
        "450m",
        [
            {
                **RULE,
                "severity": "warning",
                "job": "kubelet",
                "metrics_path": "/metrics",
                "persistentvolumeclaim": "data",
            }
        ],
    ),
    Case(
        "KubePersistentVolumeFillingUp",
        "10% free and steady",
        {
            f'kubelet_volume_stats_available_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "10x480",
            f'kubelet_volume_stats_capacity_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "100x480",
            f'kubelet_volume_stats_used_bytes{{job="kubelet", metrics_path="/metrics", '
            f'namespace="{NS}", persistentvolumeclaim="data"}}': "90x480",
        },
        "450m",
    ),
    Case(
        "MooringGuardrailViolations",
        "two standing violations of one rule",
        {
            f'mooring_guardrail_violations{{{MOORING}, tenant="acme", rule="r", mode="enforce"}}': (
                "2x30"
            )
        },
        "20m",
        [warn(rule="r", mode="enforce")],
    ),
    Case(
        "MooringGuardrailViolations",
        "another tenant's violations",
        {
            f'mooring_guardrail_violations{{{MOORING}, tenant="other", rule="r", '
            'mode="enforce"}': "2x30"
        },
        "20m",
    ),
    Case(
        "MooringDatabaseNotReady",
        "a database not Ready for a quarter of an hour",
        {f'mooring_database_ready{{{MOORING}, namespace="{NS}", database="orders"}}': "0x20"},
        "15m",
        [{**RULE, "severity": "critical", "database": "orders"}],
    ),
    Case(
        "MooringDatabaseNotReady",
        "a Ready database",
        {f'mooring_database_ready{{{MOORING}, namespace="{NS}", database="orders"}}': "1x20"},
        "15m",
    ),
    Case(
        "MooringDatabaseBackupOverdue",
        "no successful backup for 27 hours",
        {f'kube_cronjob_status_last_successful_time{{{KSM}, cronjob="orders-backup"}}': "0x1700"},
        "1660m",
        [warn(**KSM_LABELS, cronjob="orders-backup")],
    ),
    Case(
        "MooringDatabaseBackupOverdue",
        "a backup every minute",
        {
            f'kube_cronjob_status_last_successful_time{{{KSM}, cronjob="orders-backup"}}': (
                "0+60x1700"
            )
        },
        "1660m",
    ),
    Case(
        "MooringTenantBudgetForecastExceeded",
        "a forecast of 120% of the budget",
        {f'mooring_tenant_budget_forecast_ratio{{{MOORING}, tenant="acme"}}': "1.2x100"},
        "90m",
        [warn()],
    ),
    Case(
        "MooringTenantBudgetForecastExceeded",
        "a forecast of 80%",
        {f'mooring_tenant_budget_forecast_ratio{{{MOORING}, tenant="acme"}}': "0.8x100"},
        "90m",
    ),
]

SLO = {
    "name": "api",
    "objective": "99.9",
    "good": 'http_requests_total{code!~"5.."}',
    "total": "http_requests_total",
}
SLO_LABELS = {**RULE, "slo": "api", "slo_kind": "availability"}
SLO_CASES: list[Case] = [
    Case(
        "MooringSLOErrorBudgetBurn",
        "10% errors against a 99.9% objective: a page and a ticket",
        {
            f'http_requests_total{{namespace="{NS}", code="200"}}': "0+90x120",
            f'http_requests_total{{namespace="{NS}", code="500"}}': "0+10x120",
        },
        "40m",
        [
            {**SLO_LABELS, "severity": "critical", "burn": "page"},
            {**SLO_LABELS, "severity": "warning", "burn": "ticket"},
        ],
    ),
    Case(
        "MooringSLOErrorBudgetBurn",
        "no errors",
        {f'http_requests_total{{namespace="{NS}", code="200"}}': "0+100x120"},
        "40m",
    ),
    Case(
        "MooringSLOErrorBudgetBurn",
        "errors in another tenant's namespace",
        {
            'http_requests_total{namespace="other-dev", code="200"}': "0+90x120",
            'http_requests_total{namespace="other-dev", code="500"}': "0+10x120",
            f'http_requests_total{{namespace="{NS}", code="200"}}': "0+100x120",
        },
        "40m",
    ),
]
