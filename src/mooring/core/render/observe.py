"""Pure: what a tenant gets to observe its namespaces.

- PrometheusRules (baseline alerts, SLO rules), where the Prometheus Operator's CRDs are;
- AlertmanagerConfigs routing its alerts to its contacts, where that CRD is;
- its Grafana dashboard as a ConfigMap for Grafana's sidecar, always, and as a
  GrafanaDashboard where grafana-operator's CRD is.
Without the operators, `mooring observe render` prints the same rules as a rule file and
the routes as an Alertmanager configuration.
"""

from __future__ import annotations

from mooring.core.observe.dashboards import dashboard_objects
from mooring.core.observe.routing import alertmanager_configs
from mooring.core.observe.rules import prometheus_rules
from mooring.core.render.context import Context, KubeObject


def render(ctx: Context) -> list[KubeObject]:
    objects: list[KubeObject] = []
    if ctx.features.prometheus_operator:
        objects += prometheus_rules(ctx)
    if ctx.features.alertmanager_config:
        objects += alertmanager_configs(ctx)
    objects += dashboard_objects(ctx, ctx.features.grafana_operator)
    return objects
