"""Pure: what tenants get to observe their namespaces, and how the platform observes itself.

- `scope`: one namespace's thresholds, scrape-job selectors and quota limits;
- `baseline`: the baseline alerts (kubernetes-mixin where it has them, Mooring's own);
- `slo`: SLO recording rules and multi-window, multi-burn-rate alerts;
- `rules`: the groups as PrometheusRules or a plain rule file;
- `routing`: AlertmanagerConfigs, or the route tree of a plain Alertmanager;
- `dashboards`: the tenant's Grafana dashboard (ConfigMap, GrafanaDashboard);
- `platform`: the operator's own alerts and dashboard, the OpenTelemetry Collector config.
"""
