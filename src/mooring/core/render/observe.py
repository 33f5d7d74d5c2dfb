"""Pure: what a tenant gets to observe its namespaces.

- PrometheusRules (baseline alerts, SLO rules), one per namespace, where the Prometheus
  Operator's CRDs are;
- AlertmanagerConfigs routing its alerts to its contacts, where that CRD is;
- its Grafana dashboard as a ConfigMap for Grafana's sidecar, always, and as a
  GrafanaDashboard where grafana-operator's CRD is.
Without the operators, `mooring observe render` prints the same rules as a rule file and
the routes as an Alertmanager configuration. The rules themselves are core/observe's.
"""

from __future__ import annotations

import json
from typing import Any

from mooring.api import names
from mooring.api.observe import DEFAULT_THRESHOLDS, Thresholds
from mooring.api.quantity import parse_quantity
from mooring.core.observe.dashboards import overview
from mooring.core.observe.routing import ALERTMANAGER_CONFIG, MONITORING_ALPHA, operator_spec
from mooring.core.observe.rules import MONITORING, PROMETHEUS_RULE, Group, namespace_groups
from mooring.core.observe.scope import Scope
from mooring.core.render.context import Context, KubeObject
from mooring.core.render.quotas import hard

DASHBOARD_CONFIGMAP = "mooring-dashboard"
GRAFANA_DASHBOARD = "mooring-dashboard"
GRAFANA_API = "grafana.integreatly.org/v1beta1"
GRAFANA_FOLDER = "Mooring tenants"


def thresholds(ctx: Context) -> Thresholds:
    """Mooring's defaults, under the platform's, the tier's and the tenant's."""
    result = DEFAULT_THRESHOLDS
    for layer in (
        ctx.platform.observe.alert_thresholds,
        ctx.tier.alert_thresholds,
        ctx.tenant.spec.observe.alert_thresholds,
    ):
        result = layer.over(result)
    return result


def scopes(ctx: Context) -> list[Scope]:
    """One Scope per environment namespace, in the tenant's order."""
    complete = thresholds(ctx)
    settings = ctx.platform.observe
    return [
        Scope(
            tenant=ctx.tenant.name,
            namespace=ctx.tenant.namespace(environment),
            environment=environment.name,
            thresholds=complete,
            selectors=settings.selectors,
            runbook_base_url=settings.runbook_base_url,
            quota={k: parse_quantity(v) for k, v in hard(ctx.quota(environment)).items()},
            first=index == 0,
        )
        for index, environment in enumerate(ctx.tenant.spec.environments)
    ]


def rule_groups(ctx: Context) -> list[Group]:
    """Every rule group of the tenant (the plain rule file's `groups`)."""
    slos = ctx.tenant.spec.observe.slos
    interval = ctx.platform.observe.rule_interval
    return [group for scope in scopes(ctx) for group in namespace_groups(slos, scope, interval)]


def rule_file(ctx: Context) -> dict[str, Any]:
    """A Prometheus rule file, for a Prometheus without the operator."""
    return {"groups": rule_groups(ctx)}


def prometheus_rules(ctx: Context) -> list[KubeObject]:
    """One PrometheusRule per namespace, labelled for the platform's ruleSelector."""
    objects = []
    slos = ctx.tenant.spec.observe.slos
    for scope, environment in zip(scopes(ctx), ctx.tenant.spec.environments, strict=True):
        meta = ctx.metadata(PROMETHEUS_RULE, environment)
        meta["labels"] = {**ctx.platform.observe.rule_labels, **meta["labels"]}
        objects.append(
            {
                "apiVersion": MONITORING,
                "kind": "PrometheusRule",
                "metadata": meta,
                "spec": {
                    "groups": namespace_groups(slos, scope, ctx.platform.observe.rule_interval)
                },
            }
        )
    return objects


def alertmanager_configs(ctx: Context) -> list[KubeObject]:
    """An AlertmanagerConfig per namespace (the Prometheus Operator confines each to its
    namespace's alerts); none when the tenant names no contacts."""
    contacts = ctx.tenant.spec.observe.contacts
    if contacts.empty():
        return []
    objects = []
    for environment in ctx.tenant.spec.environments:
        meta = ctx.metadata(ALERTMANAGER_CONFIG, environment)
        meta["labels"] = {**ctx.platform.observe.alertmanager_config_labels, **meta["labels"]}
        objects.append(
            {
                "apiVersion": MONITORING_ALPHA,
                "kind": "AlertmanagerConfig",
                "metadata": meta,
                "spec": operator_spec(ctx.tenant.name, contacts),
            }
        )
    return objects


def tenant_dashboard(ctx: Context) -> dict[str, Any]:
    """The tenant's dashboard: its namespaces, quota, alerts, violations, cost, SLOs."""
    namespaces = [ctx.tenant.namespace(e) for e in ctx.tenant.spec.environments]
    return overview(ctx.tenant.name, namespaces, ctx.tenant.spec.observe.slos)


def dashboard_objects(ctx: Context) -> list[KubeObject]:
    """The dashboard as a sidecar ConfigMap (always) and a GrafanaDashboard (where
    grafana-operator is installed), in the tenant's first namespace."""
    environment = ctx.tenant.spec.environments[0]
    text = json.dumps(tenant_dashboard(ctx), sort_keys=True, indent=1)
    meta = ctx.metadata(DASHBOARD_CONFIGMAP, environment)
    meta["labels"] = {**meta["labels"], names.LABEL_GRAFANA_DASHBOARD: "1"}
    meta["annotations"] = {names.ANNOTATION_GRAFANA_FOLDER: GRAFANA_FOLDER}
    objects: list[KubeObject] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {f"mooring-tenant-{ctx.tenant.name}.json": text},
        }
    ]
    if ctx.features.grafana_operator:
        objects.append(
            {
                "apiVersion": GRAFANA_API,
                "kind": "GrafanaDashboard",
                "metadata": ctx.metadata(GRAFANA_DASHBOARD, environment),
                "spec": {
                    "instanceSelector": {
                        "matchLabels": dict(ctx.platform.observe.grafana_instance_labels)
                    },
                    "allowCrossNamespaceImport": True,
                    "folder": GRAFANA_FOLDER,
                    "resyncPeriod": "10m",
                    "json": text,
                },
            }
        )
    return objects


def render(ctx: Context) -> list[KubeObject]:
    objects: list[KubeObject] = []
    if ctx.features.prometheus_operator:
        objects += prometheus_rules(ctx)
    if ctx.features.alertmanager_config:
        objects += alertmanager_configs(ctx)
    objects += dashboard_objects(ctx)
    return objects
