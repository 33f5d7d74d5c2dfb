"""Pure: a tenant's rule groups, as PrometheusRules (Prometheus Operator) or a rule file.

One group per namespace for the baseline and one per SLO and namespace. Rules of a
namespace live in that namespace's PrometheusRule, so a Prometheus that enforces the
namespace label on PrometheusRules (enforcedNamespaceLabel) evaluates them unchanged.
"""

from __future__ import annotations

from typing import Any

from mooring.core.observe.baseline import baseline_rules
from mooring.core.observe.scope import Scope, scopes
from mooring.core.observe.slo import slo_groups
from mooring.core.render.context import Context, KubeObject

PROMETHEUS_RULE = "mooring-baseline"
MONITORING = "monitoring.coreos.com/v1"
Group = dict[str, Any]


def namespace_groups(ctx: Context, scope: Scope) -> list[Group]:
    return [
        {"name": f"mooring-baseline-{scope.namespace}", "rules": baseline_rules(scope)},
        *slo_groups(ctx.tenant.spec.observe.slos, scope),
    ]


def rule_groups(ctx: Context) -> list[Group]:
    """Pure: every rule group of the tenant (the plain rule file's `groups`)."""
    return [group for scope in scopes(ctx) for group in namespace_groups(ctx, scope)]


def rule_file(ctx: Context) -> dict[str, Any]:
    """Pure: a Prometheus rule file for a Prometheus without the operator."""
    return {"groups": rule_groups(ctx)}


def prometheus_rules(ctx: Context) -> list[KubeObject]:
    """Pure: one PrometheusRule per namespace, labelled for the platform's ruleSelector."""
    objects = []
    for scope, environment in zip(scopes(ctx), ctx.tenant.spec.environments, strict=True):
        meta = ctx.metadata(PROMETHEUS_RULE, environment)
        meta["labels"] = {**ctx.platform.observe.rule_labels, **meta["labels"]}
        objects.append(
            {
                "apiVersion": MONITORING,
                "kind": "PrometheusRule",
                "metadata": meta,
                "spec": {"groups": namespace_groups(ctx, scope)},
            }
        )
    return objects
