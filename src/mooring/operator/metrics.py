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
QUEUE_LATENCY = Histogram(
    "mooring_queue_latency_seconds",
    "Time work waits between being seen and being started, by queue (drift: a changed "
    "managed object until its repair starts).",
    ["queue"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DATABASE_READY = Gauge(
    "mooring_database_ready",
    "1 when a managed Database is Ready, 0 otherwise, by namespace and database.",
    ["namespace", "database"],
)

# -- guardrails -------------------------------------------------------------------------------
GUARDRAIL_VIOLATIONS = Gauge(
    "mooring_guardrail_violations",
    "Violations standing in the last audits (not excepted), by rule, tenant and mode.",
    ["rule", "tenant", "mode"],
)
GUARDRAIL_EXCEPTIONS = Gauge(
    "mooring_guardrail_exceptions", "PolicyExceptions by tenant and phase.", ["tenant", "phase"]
)
GUARDRAIL_AUDITS = Counter(
    "mooring_guardrail_audits_total", "Namespace audits by result.", ["result"]
)
GUARDRAIL_AUDIT_LAST_SUCCESS = Gauge(
    "mooring_guardrail_audit_last_success_timestamp_seconds",
    "When the last namespace audit succeeded (Unix time); its age tells whether audits run.",
)
GUARDRAIL_AUDIT_SECONDS = Histogram(
    "mooring_guardrail_audit_duration_seconds",
    "Time to audit one namespace (judge and write its PolicyReport).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GUARDRAIL_CONTEXT_WRITES = Counter(
    "mooring_guardrail_context_writes_total", "GuardrailContexts written (changed)."
)

# -- resync and pacing -----------------------------------------------------------------------
STATUS_WRITES = Counter(
    "mooring_status_writes_total",
    "Status writes the operator made, by kind and why (reconcile: a handler's result; "
    "usage: quota usage changed; repair: a namespace deleted; resync: left behind; "
    "rerender: the platform or installed CRDs changed; cost: status.cost changed).",
    ["kind", "why"],
)
RESYNC_PICKED_UP = Counter(
    "mooring_resync_picked_up_total",
    "Objects found left behind (status behind spec, untouched) and reconciled again, by kind.",
    ["kind"],
)
RESYNC_SECONDS = Histogram(
    "mooring_resync_duration_seconds",
    "Time of one resync look over every kind (picking up what was left behind included).",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
RESYNC_LAST_SECONDS = Gauge(
    "mooring_resync_last_duration_seconds",
    "Time of the last resync look, from what the watches remember or from paged lists.",
    ["source"],
)
API_REFUSALS = Gauge(
    "mooring_api_refusals", "429 answers the operator's API clients got since start.", ["client"]
)
API_IN_FLIGHT_LIMIT = Gauge(
    "mooring_api_in_flight_limit",
    "How many requests at once each API client allows itself now (it adapts to the server).",
    ["client"],
)
# -- cost and budgets (labels: tenant, currency; names documented in docs/cost.md) ----------
TENANT_COST_MONTH_TO_DATE = Gauge(
    "mooring_tenant_cost_month_to_date",
    "A tenant's cost from the 1st of the calendar month (UTC) until the last refresh.",
    ["tenant", "currency"],
)
TENANT_COST_FORECAST = Gauge(
    "mooring_tenant_cost_forecast",
    "A tenant's expected cost for the whole calendar month (month to date plus the last "
    "day's run rate over the hours left).",
    ["tenant", "currency"],
)
TENANT_COST_IDLE_SHARE = Gauge(
    "mooring_tenant_cost_idle_share",
    "The share of idle capacity included in the tenant's month to date (when the platform "
    "shares idle; 0 otherwise).",
    ["tenant", "currency"],
)
TENANT_BUDGET_AMOUNT = Gauge(
    "mooring_tenant_budget_amount",
    "A tenant's monthly budget (spec.budget.amountPerMonth); absent without a budget.",
    ["tenant", "currency"],
)
TENANT_BUDGET_USED_RATIO = Gauge(
    "mooring_tenant_budget_used_ratio",
    "Month to date over the monthly budget (1 = the whole budget spent).",
    ["tenant"],
)
TENANT_BUDGET_FORECAST_RATIO = Gauge(
    "mooring_tenant_budget_forecast_ratio",
    "The month's forecast over the monthly budget (above 1: the budget will be exceeded).",
    ["tenant"],
)
TENANT_BUDGET_CROSSINGS = Counter(
    "mooring_tenant_budget_threshold_crossings_total",
    "Budget thresholds crossed (announced with an Event), by tenant, threshold percent and "
    "what crossed it: the actual cost or the forecast.",
    ["tenant", "threshold", "by"],
)
COST_REFRESHES = Counter(
    "mooring_cost_refreshes_total",
    "Refreshes of every tenant's status.cost, by result.",
    ["result"],
)
COST_REFRESH_SECONDS = Histogram(
    "mooring_cost_refresh_duration_seconds",
    "Time to refresh every tenant's status.cost (queries, allocation, status writes).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
