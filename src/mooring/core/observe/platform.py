"""Pure: how the platform observes itself, and the collector of its addon catalog.

- The cost recording rules (core/cost/recorded.py), in the same rule file.
- Alerts on Mooring's operator (its /metrics and the API server's admission metrics):
  down, reconcile errors, slow reconciles, queue latency, drift repairs that keep coming,
  admission policy failures, a stale guardrail audit, tenants not Ready.
- The operator's dashboard (same schema as the tenants').
- An OpenTelemetry Collector configuration for the addon catalog's node DaemonSet: OTLP
  in (gRPC and HTTP), the node's container logs in; Prometheus (remote write) and logs
  (OTLP to the log store) out; memory-limited and batched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mooring.api.observe import ObserveSettings
from mooring.core.cost.recorded import rule_group as cost_rule_group
from mooring.core.cost.window import HOUR
from mooring.core.observe.dashboards import _target, dashboard, panel

Rule = dict[str, Any]
PLATFORM_GROUP = "mooring-platform"


def _alert(
    settings: ObserveSettings,
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_: str,
) -> Rule:
    return {
        "alert": name,
        "expr": expr.strip(),
        "for": for_,
        "labels": {"severity": severity, "team": "platform"},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{settings.runbook_base_url.rstrip('/')}/{name}.md",
        },
    }


def platform_alerts(settings: ObserveSettings) -> list[Rule]:
    job = settings.selectors.mooring.strip()
    sel = "{" + job + "}" if job else ""

    def with_(*matchers: str) -> str:
        return "{" + ", ".join([m for m in (job, *matchers) if m]) + "}"

    return [
        _alert(
            settings,
            "MooringOperatorDown",
            f"absent(up{sel}) or max(up{sel}) == 0",
            "critical",
            "Mooring's operator is down.",
            "No Mooring operator has been scraped for 5 minutes: tenants are not reconciled, "
            "drift is not repaired, guardrail contexts are not refreshed.",
            "5m",
        ),
        _alert(
            settings,
            "MooringReconcileErrors",
            f"sum by (kind, step) (increase(mooring_reconcile_errors_total{sel}[10m])) > 0",
            "warning",
            "Mooring keeps failing to reconcile.",
            "{{ $value }} failed {{ $labels.kind }} reconcile step(s) {{ $labels.step }} in the "
            "last 10 minutes; see the objects' conditions and Events.",
            "15m",
        ),
        _alert(
            settings,
            "MooringReconcileSlow",
            "histogram_quantile(0.99, sum by (kind, le) "
            f"(rate(mooring_reconcile_duration_seconds_bucket{sel}[10m]))) > 10",
            "warning",
            "Mooring's reconciles are slow.",
            "The 99th percentile of {{ $labels.kind }} reconciles took {{ $value }} s over 10 "
            "minutes.",
            "15m",
        ),
        _alert(
            settings,
            "MooringQueueLatencyHigh",
            "histogram_quantile(0.99, sum by (queue, le) "
            f"(rate(mooring_queue_latency_seconds_bucket{sel}[10m]))) > 5",
            "warning",
            "Work waits too long in Mooring's queues.",
            "The 99th percentile wait in queue {{ $labels.queue }} is {{ $value }} s: the "
            "operator cannot keep up (CPU, API server throttling).",
            "15m",
        ),
        _alert(
            settings,
            "MooringDriftRepairsFrequent",
            f"sum by (kind) (increase(mooring_drift_repairs_total{sel}[1h])) > 10",
            "warning",
            "Managed objects keep being changed outside Git.",
            "Mooring restored {{ $value }} {{ $labels.kind }} objects in the last hour: a "
            "person or another controller keeps changing them.",
            "15m",
        ),
        _alert(
            settings,
            "MooringAdmissionPolicyFailures",
            "sum by (policy, error_type) (increase("
            "apiserver_validating_admission_policy_check_total"
            '{policy=~"mooring.*", error_type!~"no_error|"}[10m])) > 0',
            "warning",
            "Mooring's admission policies fail to evaluate.",
            "Policy {{ $labels.policy }} failed to evaluate ({{ $labels.error_type }}) "
            "{{ $value }} times in 10 minutes; failures deny requests (fail closed).",
            "10m",
        ),
        _alert(
            settings,
            "MooringAuditStale",
            f"time() - max(mooring_guardrail_audit_last_success_timestamp_seconds{sel}) > 3600",
            "warning",
            "The guardrail audit has not completed for an hour.",
            "The last successful guardrail audit finished {{ $value | humanizeDuration }} ago; "
            "PolicyReports and violation metrics are stale.",
            "10m",
        ),
        _alert(
            settings,
            "MooringTenantsNotReady",
            "max(mooring_tenants" + with_('state="NotReady"') + ") > 0",
            "warning",
            "Some tenants are not Ready.",
            "{{ $value }} tenant(s) are not Ready; `kubectl get tenants` shows which and why.",
            "15m",
        ),
    ]


def platform_rule_file(settings: ObserveSettings, cost_step: timedelta = HOUR) -> dict[str, Any]:
    """Mooring's own alerts, and the cost recording rules at the platform's cost step
    (core/cost/recorded.py: what long cost reports read)."""
    return {
        "groups": [
            {"name": PLATFORM_GROUP, "rules": platform_alerts(settings)},
            cost_rule_group(cost_step),
        ]
    }


def platform_dashboard(settings: ObserveSettings) -> dict[str, Any]:
    job = settings.selectors.mooring.strip()
    sel = "{" + job + "}" if job else ""
    panels = [
        panel(
            "stat",
            "Tenants by state",
            [_target(f"sum by (state) (mooring_tenants{sel})", "{{state}}")],
            (0, 0, 8, 4),
        ),
        panel(
            "stat",
            "Operator up",
            [_target(f"max(up{sel})", "")],
            (8, 0, 8, 4),
            thresholds=((None, "red"), (1, "green")),
        ),
        panel(
            "stat",
            "Guardrail audit age",
            [
                _target(
                    f"time() - max(mooring_guardrail_audit_last_success_timestamp_seconds{sel})",
                    "",
                )
            ],
            (16, 0, 8, 4),
            unit="s",
            thresholds=((None, "green"), (1800, "orange"), (3600, "red")),
        ),
        panel(
            "timeseries",
            "Reconciles by result",
            [
                _target(
                    f"sum by (kind, result) (rate(mooring_reconciles_total{sel}[5m]))",
                    "{{kind}} {{result}}",
                )
            ],
            (0, 4, 12, 8),
            unit="ops",
        ),
        panel(
            "timeseries",
            "Reconcile errors by step",
            [
                _target(
                    f"sum by (kind, step) (increase(mooring_reconcile_errors_total{sel}[5m]))",
                    "{{kind}} {{step}}",
                )
            ],
            (12, 4, 12, 8),
        ),
        panel(
            "timeseries",
            "Reconcile duration p50 / p99",
            [
                _target(
                    "histogram_quantile(0.5, sum by (kind, le) "
                    f"(rate(mooring_reconcile_duration_seconds_bucket{sel}[5m])))",
                    "p50 {{kind}}",
                ),
                _target(
                    "histogram_quantile(0.99, sum by (kind, le) "
                    f"(rate(mooring_reconcile_duration_seconds_bucket{sel}[5m])))",
                    "p99 {{kind}}",
                ),
            ],
            (0, 12, 12, 8),
            unit="s",
        ),
        panel(
            "timeseries",
            "Queue latency p99",
            [
                _target(
                    "histogram_quantile(0.99, sum by (queue, le) "
                    f"(rate(mooring_queue_latency_seconds_bucket{sel}[5m])))",
                    "{{queue}}",
                )
            ],
            (12, 12, 12, 8),
            unit="s",
        ),
        panel(
            "timeseries",
            "Drift repairs by kind",
            [
                _target(
                    f"sum by (kind) (increase(mooring_drift_repairs_total{sel}[5m]))",
                    "{{kind}}",
                )
            ],
            (0, 20, 12, 8),
        ),
        panel(
            "timeseries",
            "Admission policy checks by action",
            [
                _target(
                    "sum by (policy, enforcement_action, error_type) (rate("
                    'apiserver_validating_admission_policy_check_total{policy=~"mooring.*"}[5m]))',
                    "{{policy}} {{enforcement_action}} {{error_type}}",
                )
            ],
            (12, 20, 12, 8),
            unit="ops",
        ),
        panel(
            "table",
            "Guardrail violations by tenant and rule",
            [
                _target(
                    f"sum by (tenant, rule, mode) (mooring_guardrail_violations{sel}) > 0",
                    "{{tenant}} {{rule}}",
                )
            ],
            (0, 28, 24, 8),
        ),
    ]
    return dashboard("mooring-platform", "Mooring platform", panels, [], ["mooring", "platform"])


def otel_collector_config() -> dict[str, Any]:
    """Pure: the node collector of the addon catalog (a DaemonSet, one per node).

    Runs with the node's /var/log/pods mounted read-only; Prometheus scrapes each node's
    collector on :8889 (its pod annotations or a PodMonitor); logs and traces go out as
    OTLP/HTTP to the platform's log and trace store (logging/log-store by default).
    The components are those of tools/observe/otelcol (built from Go modules), which tests run
    `otelcol validate` with."""
    pipeline = ["memory_limiter", "batch"]
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            },
            "filelog": {
                "include": ["/var/log/pods/*/*/*.log"],
                "exclude": ["/var/log/pods/*/otel-collector/*.log"],
                "start_at": "end",
                "include_file_path": True,
                "operators": [{"type": "container", "id": "container-parser"}],
            },
        },
        "processors": {
            "memory_limiter": {
                "check_interval": "1s",
                "limit_percentage": 80,
                "spike_limit_percentage": 25,
            },
            "batch": {"send_batch_size": 8192, "timeout": "5s"},
        },
        "exporters": {
            "prometheus": {
                "endpoint": "0.0.0.0:8889",
                "resource_to_telemetry_conversion": {"enabled": True},
            },
            "otlphttp": {"endpoint": "http://log-store.logging.svc:4318"},
        },
        "service": {
            "telemetry": {"metrics": {"level": "basic"}},
            "pipelines": {
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": pipeline,
                    "exporters": ["prometheus"],
                },
                "logs": {
                    "receivers": ["otlp", "filelog"],
                    "processors": pipeline,
                    "exporters": ["otlphttp"],
                },
                "traces": {
                    "receivers": ["otlp"],
                    "processors": pipeline,
                    "exporters": ["otlphttp"],
                },
            },
        },
    }
