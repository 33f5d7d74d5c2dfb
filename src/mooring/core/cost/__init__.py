"""Pure cost model: what runs costs, what a pull request will cost, budgets.

- `window`: windows (24h, 7d, month, 2026-11-01..2026-11-15), steps and chart buckets;
- `inputs`: resource-hours per container, node, claim and balancer; the per-sample rule;
- `objects`: inputs from Kubernetes objects (requests of running pods, nodes, claims...);
- `promql`: the same rule in PromQL, and the reading of Prometheus's answers;
- `rates`: prices per node pool, StorageClass and load balancer;
- `allocate`: OpenCost's allocation (max(request, usage), volumes, balancers, idle);
- `aggregate`: groups (tenant, namespace, label:KEY...), idle apart or shared;
- `budget`: month to date, forecast, thresholds crossed;
- `estimate`: a repository's monthly cost before it runs (quotas, requests), and its diff.
"""
