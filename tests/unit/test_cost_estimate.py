"""The monthly cost of a repository before it runs, worked by hand at OpenCost's list prices
(USD): 0.031611 per vCPU-hour, 0.004237 per GiB-hour, 0.04 per GiB-month, 0.025 per
load-balancer hour, 730 hours a month."""

from __future__ import annotations

from decimal import Decimal

from mooring.api.documents import Document, parse_documents
from mooring.core.cost.estimate import compare, estimate
from tests.builders import platform, tenant

WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop-prod}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          resources: {requests: {cpu: 500m, memory: 1Gi}}
        - name: sidecar
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop-prod}
spec: {resources: {requests: {storage: 20Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop-prod}
spec: {type: LoadBalancer, selector: {app: api}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop-prod}
spec: {schedule: "0 3 * * *"}
---
apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: elsewhere}
spec:
  containers: [{name: x, resources: {requests: {cpu: "1", memory: 1Gi}}}]
"""


def workloads() -> list[Document]:
    return parse_documents(WORKLOADS, "apps.yaml")


def test_the_upper_bound_is_every_quota_at_list_price_for_a_month() -> None:
    # small tier per namespace: 2 CPU, 4 GiB, 10 GiB of storage
    # 2 x 0.031611 x 730 = 46.15206; 4 x 0.004237 x 730 = 12.37204; 10 x 0.04 = 0.40
    result = estimate([(tenant("shop", envs=("dev", "prod")), None)], platform().spec)
    assert result.tenants["shop"].upper_bound == Decimal("117.84820")
    assert result.currency == "USD"


def test_the_expected_cost_is_the_requests_of_the_workloads_given() -> None:
    result = estimate([(tenant("shop", envs=("dev", "prod")), None)], platform().spec, workloads())
    shop = result.tenants["shop"]
    # app: (0.5 x 0.031611 + 1 x 0.004237) x 2 replicas x 730 h = 29.26205
    # sidecar, no requests: the tier's default 100m / 64Mi
    #   (0.1 x 0.031611 + 0.0625 x 0.004237) x 2 x 730 = 5.00183225
    # claim: 20 GiB x 0.04 = 0.80; load balancer: 0.025 x 730 = 18.25
    assert shop.expected == Decimal("53.31388225")
    notes = [note.message for note in result.notes]
    assert any("CronJob shop-prod/nightly" in n and "not estimated" in n for n in notes)
    assert any("elsewhere belongs to no tenant" in n for n in notes)
    assert result.tenants["(no tenant)"].expected == Decimal("26.16904")


def test_a_request_left_out_is_the_limit_when_one_is_set() -> None:
    text = WORKLOADS.replace(
        "        - name: sidecar",
        "        - name: sidecar\n          resources: {limits: {cpu: '1'}}",
    )
    result = estimate(
        [(tenant("shop", envs=("prod",)), None)], platform().spec, parse_documents(text, "a.yaml")
    )
    # the sidecar now requests 1 CPU (its limit) and the default 64Mi of memory
    sidecar = (Decimal("0.031611") + Decimal("0.0625") * Decimal("0.004237")) * 2 * 730
    app = Decimal("29.26205")
    assert result.tenants["shop"].expected == app + sidecar + Decimal("0.80") + Decimal("18.25")


def test_a_pull_request_shows_what_it_adds_per_tenant() -> None:
    spec = platform().spec
    base = estimate([(tenant("shop", envs=("dev",)), None)], spec)
    head = estimate([(tenant("shop", envs=("dev", "prod")), None)], spec, workloads())
    changes = {c.tenant: c for c in compare(base, head)}
    assert changes["shop"].upper_delta == Decimal("58.92410")
    assert changes["shop"].expected_delta == Decimal("53.31388225")
    assert changes["(no tenant)"].upper_before is None


def test_prices_of_the_platform_apply_storage_classes_included() -> None:
    spec = platform(
        prices={
            "currency": "EUR",
            "storagePerGibMonth": 0.1,
            "storageClasses": [{"name": "fast", "storagePerGibMonth": 0.5}],
        }
    ).spec
    text = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: a, namespace: shop-dev}
spec: {storageClassName: fast, resources: {requests: {storage: 10Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: b, namespace: shop-dev}
spec: {resources: {requests: {storage: 10Gi}}}
"""
    result = estimate([(tenant("shop"), None)], spec, parse_documents(text, "v.yaml"))
    assert result.currency == "EUR"
    assert result.tenants["shop"].expected == Decimal("6.0")


def test_a_dedicated_database_costs_its_server_and_volumes_a_shared_one_its_backups() -> None:
    from mooring.api.database import Database

    dedicated = Database.model_validate(
        {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "Database",
            "metadata": {"name": "orders", "namespace": "shop-prod"},
            "spec": {
                "plan": "dedicated",
                "storage": "10Gi",
                "resources": {"cpu": "1", "memory": "2Gi"},
            },
        }
    )
    shared = Database.model_validate(
        {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "Database",
            "metadata": {"name": "carts", "namespace": "shop-prod"},
            "spec": {"backup": {"schedule": "@daily", "storage": "5Gi"}},
        }
    )
    result = estimate(
        [(tenant("shop", envs=("prod",)), None)],
        platform().spec,
        databases=[(dedicated, None), (shared, None)],
    )
    # dedicated: (1 x 0.031611 + 2 x 0.004237) x 730 = 29.26205, + 10 GiB x 0.04 = 0.40
    # shared: its 5 GiB backup volume x 0.04 = 0.20
    assert result.tenants["shop"].expected == Decimal("29.86205")
