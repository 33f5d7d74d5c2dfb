"""Pure: Grafana dashboards as JSON (Grafana 11.0's dashboard schema). The objects that
deliver a tenant's (a ConfigMap for Grafana's dashboard sidecar, a GrafanaDashboard where
grafana-operator is installed) are made in core/render/observe.py.

A tenant's dashboard overviews its namespaces: CPU and memory requested vs used vs quota,
restarts, pod phases, alerts firing, guardrail violations, cost (once the cost metrics
exist) and the error budget of each SLO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mooring.api.observe import Slo
from mooring.core.observe.baseline import QUOTA_RATIO
from mooring.core.observe.slo import RATIO

GRAFANA_VERSION = "11.0"  # the schema tests validate against (tests/fixtures/grafana-...)
SCHEMA_VERSION = 36
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
Panel = dict[str, Any]


def _target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def panel(
    kind: str,
    title: str,
    targets: Sequence[dict[str, Any]],
    grid: tuple[int, int, int, int],
    unit: str = "short",
    description: str = "",
    thresholds: Sequence[tuple[float | None, str]] = ((None, "green"),),
) -> Panel:
    x, y, w, h = grid
    result: Panel = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {
                    "mode": "absolute",
                    # Grafana reads the first step as the base whatever its value; the
                    # schema wants a number, and these series are never negative.
                    "steps": [{"color": color, "value": v or 0} for v, color in thresholds],
                },
            },
            "overrides": [],
        },
        "options": {},
    }
    if description:
        result["description"] = description
    return result


def _number_panels(panels: list[Panel]) -> list[Panel]:
    return [{**p, "id": i + 1} for i, p in enumerate(panels)]


def dashboard(
    uid: str,
    title: str,
    panels: list[Panel],
    variables: list[dict[str, Any]],
    tags: Sequence[str],
) -> dict[str, Any]:
    """Pure: a dashboard with a datasource variable first."""
    datasource = {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {"text": "Prometheus", "value": "prometheus"},
    }
    return {
        "uid": uid,
        "title": title,
        "tags": list(tags),
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "templating": {"list": [datasource, *variables]},
        "annotations": {"list": []},
        "panels": _number_panels(panels),
    }


# -- the tenant's dashboard ---------------------------------------------------------------------


def _namespaces_variable(namespaces: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "custom",
        "name": "namespace",
        "label": "Namespace",
        "query": ",".join(namespaces),
        "multi": True,
        "current": {"text": list(namespaces), "value": list(namespaces)},
        "options": [{"text": n, "value": n, "selected": True} for n in namespaces],
    }


def _slo_panels(slos: Sequence[Slo], tenant: str, top: int) -> list[Panel]:
    panels = []
    for index, slo in enumerate(slos):
        selector = f'{{tenant="{tenant}", slo="{slo.name}", namespace=~"$namespace"}}'
        panels.append(
            panel(
                "stat",
                f"SLO {slo.name}: error budget left ({slo.objective}% over {slo.window})",
                [
                    _target(
                        f"1 - ({RATIO}{slo.window}{selector} / {slo.budget})",
                        "{{namespace}}",
                    )
                ],
                ((index % 3) * 8, top + (index // 3) * 6, 8, 6),
                unit="percentunit",
                description=slo.description or f"{slo.kind} SLO {slo.name}",
                thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
            )
        )
    return panels


def overview(tenant: str, namespaces: Sequence[str], slos: Sequence[Slo]) -> dict[str, Any]:
    """Pure: the overview of one tenant's namespaces."""
    ns = 'namespace=~"$namespace"'
    panels = [
        panel(
            "stat",
            "Alerts firing",
            [
                _target(
                    f'count(ALERTS{{tenant="{tenant}", alertstate="firing", {ns}}}) or vector(0)',
                    "",
                )
            ],
            (0, 0, 6, 4),
            thresholds=((None, "green"), (1, "red")),
        ),
        panel(
            "stat",
            "Guardrail violations",
            [_target(f'sum(mooring_guardrail_violations{{tenant="{tenant}"}}) or vector(0)', "")],
            (6, 0, 6, 4),
            thresholds=((None, "green"), (1, "orange")),
        ),
        panel(
            "stat",
            "Cost this month (forecast)",
            [
                _target(
                    f'sum by (currency) (mooring_tenant_cost_forecast{{tenant="{tenant}"}})',
                    "{{currency}}",
                )
            ],
            (12, 0, 6, 4),
            description="The month's forecast from Mooring's cost metrics (empty until cost "
            "reporting runs).",
        ),
        panel(
            "stat",
            "Pods by phase",
            [_target(f"sum by (phase) (kube_pod_status_phase{{{ns}}} > 0)", "{{phase}}")],
            (18, 0, 6, 4),
        ),
        panel(
            "timeseries",
            "CPU: requested, used, quota",
            [
                _target(
                    f'sum by (namespace) (kube_pod_resource_request{{{ns}, resource="cpu"}})',
                    "requested {{namespace}}",
                ),
                _target(
                    "sum by (namespace) (rate(container_cpu_usage_seconds_total"
                    f'{{{ns}, container!=""}}[5m]))',
                    "used {{namespace}}",
                ),
                _target(
                    f'sum by (namespace) (kube_resourcequota{{{ns}, resource="requests.cpu", '
                    'type="hard"})',
                    "quota {{namespace}}",
                ),
            ],
            (0, 4, 12, 8),
            unit="cores",
        ),
        panel(
            "timeseries",
            "Memory: requested, used, quota",
            [
                _target(
                    f'sum by (namespace) (kube_pod_resource_request{{{ns}, resource="memory"}})',
                    "requested {{namespace}}",
                ),
                _target(
                    "sum by (namespace) (container_memory_working_set_bytes"
                    f'{{{ns}, container!=""}})',
                    "used {{namespace}}",
                ),
                _target(
                    f'sum by (namespace) (kube_resourcequota{{{ns}, resource="requests.memory", '
                    'type="hard"})',
                    "quota {{namespace}}",
                ),
            ],
            (12, 4, 12, 8),
            unit="bytes",
        ),
        panel(
            "bargauge",
            "Quota used",
            [
                _target(
                    f"max by (namespace, resource) ({QUOTA_RATIO}{{{ns}}})",
                    "{{namespace}} {{resource}}",
                )
            ],
            (0, 12, 12, 8),
            unit="percentunit",
            thresholds=((None, "green"), (0.9, "orange"), (1, "red")),
        ),
        panel(
            "timeseries",
            "Container restarts (1h)",
            [
                _target(
                    "sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total"
                    f"{{{ns}}}[1h])) > 0",
                    "{{namespace}}/{{pod}}",
                )
            ],
            (12, 12, 12, 8),
        ),
        panel(
            "table",
            "Alerts firing",
            [_target(f'ALERTS{{tenant="{tenant}", alertstate="firing", {ns}}}', "{{alertname}}")],
            (0, 20, 24, 6),
        ),
    ]
    panels += _slo_panels(slos, tenant, top=26)
    return dashboard(
        f"mooring-tenant-{tenant}",
        f"Tenant {tenant}",
        panels,
        [_namespaces_variable(namespaces)],
        ["mooring", "tenant", tenant],
    )
