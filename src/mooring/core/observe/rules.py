"""Pure: rule groups and rule files from namespace scopes.

One group per namespace for the baseline and one per SLO and namespace. Rules of a
namespace live in that namespace's PrometheusRule (core/render/observe.py), so a Prometheus
that enforces the namespace label on PrometheusRules (enforcedNamespaceLabel) evaluates
them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mooring.api.observe import ObserveSettings, Slo
from mooring.core.observe.baseline import baseline_rules
from mooring.core.observe.scope import Scope, cluster_wide_scope
from mooring.core.observe.slo import slo_groups

PROMETHEUS_RULE = "mooring-baseline"
MONITORING = "monitoring.coreos.com/v1"
Group = dict[str, Any]


def namespace_groups(slos: Sequence[Slo], scope: Scope, interval: str) -> list[Group]:
    """Pure: the baseline group of one namespace, then a group per SLO."""
    return [
        {
            "name": f"mooring-baseline-{scope.namespace}",
            "interval": interval,
            "rules": baseline_rules(scope),
        },
        *slo_groups(list(slos), scope, interval),
    ]


def cluster_wide_rule_file(settings: ObserveSettings) -> dict[str, Any]:
    """Pure: the baseline written once for every namespace, the tenant taken from the
    namespace's label (one group; Mooring's default thresholds only). The benchmark's
    floor: per-tenant thresholds and per-namespace PrometheusRules cannot be had this way."""
    scope = cluster_wide_scope(settings.selectors, settings.runbook_base_url)
    group = {"name": "mooring-baseline", "interval": settings.rule_interval}
    return {"groups": [{**group, "rules": baseline_rules(scope)}]}
