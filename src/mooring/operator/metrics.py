"""Prometheus metrics the operator serves on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "mooring_reconciles_total", "Reconciles by kind and result.", ["kind", "result"]
)
RECONCILE_ERRORS = Counter(
    "mooring_reconcile_errors_total", "Failed reconcile steps by kind and step.", ["kind", "step"]
)
RECONCILE_SECONDS = Histogram(
    "mooring_reconcile_duration_seconds",
    "Time to reconcile one object.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DRIFT_REPAIRS = Counter(
    "mooring_drift_repairs_total", "Managed objects restored after drift, by kind.", ["kind"]
)
TENANTS = Gauge("mooring_tenants", "Tenants by state (Ready, NotReady).", ["state"])
