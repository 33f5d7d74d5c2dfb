"""Cost models: prices (PlatformConfig.spec.prices), cost settings (spec.cost), a tenant's
budget (Tenant.spec.budget) and the cost its status reports (Tenant.status.cost).

Pure models. Money is Decimal. Prices are written as YAML numbers (the CRD says `number`)
and read through their shortest decimal spelling, so 0.031611 is Decimal("0.031611"),
never a binary fraction. Every price field names its unit (`cpuPerVcpuHour`, not `cpu`):
mixing hourly and monthly prices is the classic mistake of cost tools.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from mooring.api.base import DnsLabel, LabelValue, Lenient, Model, unique
from mooring.api.guardrails import check_label_keys

# OpenCost's month (and the clouds'): 365 days x 24 hours / 12 months.
HOURS_PER_MONTH = Decimal(730)
GIB = Decimal(2**30)
MAX_NODE_POOLS = 32
MAX_STORAGE_CLASSES = 64
MAX_THRESHOLDS = 8

CURRENCY_PATTERN = r"^[A-Z]{3}$"
STORAGE_CLASS_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def to_decimal(value: object) -> Decimal:
    """A YAML/JSON number as an exact Decimal; strings, booleans, NaN and infinities refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        # ValueError, not TypeError: pydantic reports only the former as a field error.
        raise ValueError(  # noqa: TRY004
            f"{value!r} is not a number; write an amount as a plain number such as 0.031611 "
            "(not quoted)"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return Decimal(repr(value))
    return Decimal(value)


def _non_negative(value: object) -> Decimal:
    amount = to_decimal(value)
    if amount < 0:
        raise ValueError(f"{amount} is negative; a price is zero or more")
    return amount


def _positive(value: object) -> Decimal:
    amount = to_decimal(value)
    if amount <= 0:
        raise ValueError(f"{amount} must be more than zero")
    return amount


def _as_number(value: Decimal) -> int | float:
    # The Kubernetes form is a JSON number: what was written comes back the same.
    return int(value) if value == value.to_integral_value() else float(value)


# An amount of money (zero or more), written as a number.
Price = Annotated[
    Decimal,
    BeforeValidator(_non_negative),
    PlainSerializer(_as_number, when_used="json"),
    WithJsonSchema({"type": "number", "minimum": 0}),
]
# An amount of money more than zero, written as a number.
Amount = Annotated[
    Decimal,
    BeforeValidator(_positive),
    PlainSerializer(_as_number, when_used="json"),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
]
Currency = Annotated[
    str,
    Field(
        pattern=CURRENCY_PATTERN,
        min_length=3,
        max_length=3,
        description="An ISO 4217 currency code in capitals, such as USD or EUR.",
    ),
]

# OpenCost's list prices (its configs/default.json, "based on GCP us-central1"), in USD.
DEFAULT_CURRENCY = "USD"
DEFAULT_CPU_PER_VCPU_HOUR = Decimal("0.031611")
DEFAULT_MEMORY_PER_GIB_HOUR = Decimal("0.004237")
DEFAULT_GPU_PER_HOUR = Decimal("0.95")
# OpenCost's storage price is 0.00005479452 per GiB-hour: 0.04 per GiB-month of 730 hours.
DEFAULT_STORAGE_PER_GIB_MONTH = Decimal("0.04")
# OpenCost's default.json sets forwarding rules to 0.0; its other prices are GCP
# us-central1's, whose list price for a forwarding rule (a load balancer) is 0.025 per hour.
DEFAULT_LOAD_BALANCER_PER_HOUR = Decimal("0.025")


def _priced(default: Decimal, description: str) -> Decimal:
    """A price field with a default; the schema's default is a number, as the CRD's type."""
    number = _as_number(default)
    return Field(default, description=description, json_schema_extra={"default": number})


class StorageClassPrice(Model):
    """The price of one StorageClass's volumes."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=STORAGE_CLASS_PATTERN,
        description="The StorageClass's name.",
    )
    storage_per_gib_month: Price = Field(
        description="Per GiB of requested size per month (730 hours)."
    )


class NodePool(Model):
    """Nodes priced apart (spot, GPU, dedicated hardware), chosen by their labels.

    Unset prices fall back to the platform's; the first pool that matches a node wins.
    """

    name: DnsLabel = Field(description="The pool's name, as reports show it.")
    node_selector: dict[str, LabelValue] = Field(
        min_length=1,
        max_length=16,
        description="Node labels that select the pool; a node must carry all of them.",
    )
    cpu_per_vcpu_hour: Price | None = Field(
        None, description="Per vCPU per hour on this pool (default: the platform's)."
    )
    memory_per_gib_hour: Price | None = Field(
        None, description="Per GiB of memory per hour on this pool (default: the platform's)."
    )
    gpu_per_hour: Price | None = Field(
        None, description="Per GPU per hour on this pool (default: the platform's)."
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, selector: dict[str, str]) -> dict[str, str]:
        return check_label_keys(selector)


class Prices(Model):
    """What resources cost, in one currency. Defaults: OpenCost's list prices (USD)."""

    currency: Currency = Field(
        DEFAULT_CURRENCY, description="The currency of every price and budget (ISO 4217)."
    )
    cpu_per_vcpu_hour: Price = _priced(
        DEFAULT_CPU_PER_VCPU_HOUR,
        description="Per vCPU (core) per hour. Default 0.031611 (OpenCost's list price).",
    )
    memory_per_gib_hour: Price = _priced(
        DEFAULT_MEMORY_PER_GIB_HOUR,
        description="Per GiB of memory per hour. Default 0.004237 (OpenCost's list price).",
    )
    gpu_per_hour: Price = _priced(
        DEFAULT_GPU_PER_HOUR,
        description="Per GPU per hour. Default 0.95 (OpenCost's list price).",
    )
    storage_per_gib_month: Price = _priced(
        DEFAULT_STORAGE_PER_GIB_MONTH,
        description="Per GiB of a volume claim's requested size per month (730 hours), for "
        "StorageClasses not listed in storageClasses. Default 0.04 (OpenCost's list price).",
    )
    load_balancer_per_hour: Price = _priced(
        DEFAULT_LOAD_BALANCER_PER_HOUR,
        description="Per Service of type LoadBalancer per hour. Default 0.025 (GCP "
        "us-central1's forwarding rule, where OpenCost's other defaults come from).",
    )
    storage_classes: list[StorageClassPrice] = Field(
        default_factory=list,
        max_length=MAX_STORAGE_CLASSES,
        description="Prices of particular StorageClasses.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    node_pools: list[NodePool] = Field(
        default_factory=list,
        max_length=MAX_NODE_POOLS,
        description="Nodes priced apart, chosen by node labels; the first match wins.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("storage_classes")
    @classmethod
    def _unique_classes(cls, classes: list[StorageClassPrice]) -> list[StorageClassPrice]:
        unique(classes, lambda price: price.name, "storage class")
        return classes

    @field_validator("node_pools")
    @classmethod
    def _unique_pools(cls, pools: list[NodePool]) -> list[NodePool]:
        unique(pools, lambda pool: pool.name, "node pool")
        return pools

    def storage_class_month(self, name: str | None) -> Decimal:
        """Per GiB-month of a StorageClass (the default price for unknown or no class)."""
        for price in self.storage_classes:
            if price.name == name:
                return price.storage_per_gib_month
        return self.storage_per_gib_month


class CostSettings(Model):
    """Where the operator and `mooring cost report` read usage, and how idle is shown."""

    prometheus_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="The Prometheus that scrapes container usage (cAdvisor or kubelet "
        "resource metrics) and requests (kube-state-metrics or the kube-scheduler's "
        "/metrics/resources). Without it, cost is allocated from the requests of running "
        "pods alone, and every report says so.",
    )
    share_idle: bool = Field(
        False,
        description="Share idle capacity (nodes' cost not allocated to any container) among "
        "tenants in proportion to their cost. Reports keep idle apart either way.",
    )
    refresh_seconds: int = Field(
        300,
        ge=30,
        le=86400,
        description="How often the operator refreshes every tenant's status.cost.",
    )
    step_minutes: int = Field(
        60,
        ge=1,
        le=1440,
        description="The sample step of allocation: max(request, usage) is taken per "
        "container at each step.",
    )


class Budget(Model):
    """A tenant's monthly budget: the operator reports its use and forecast, and says so
    (an Event, a metric) when a threshold is crossed by the actual cost or by the forecast."""

    amount_per_month: Amount = Field(
        description="What the tenant may spend per calendar month, in `currency`."
    )
    currency: Currency | None = Field(
        None, description="The budget's currency; it must be the platform's (default: it)."
    )
    thresholds_percent: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=lambda: [80, 100],
        min_length=1,
        max_length=MAX_THRESHOLDS,
        description="Percentages of the budget that alert when crossed.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    alert_on_forecast: bool = Field(
        True,
        description="Alert when the month's forecast crosses a threshold, before the actual "
        "cost does.",
    )

    @field_validator("thresholds_percent")
    @classmethod
    def _thresholds(cls, values: list[int]) -> list[int]:
        unique(values, lambda value: value, "threshold")
        return sorted(values)


class CostStatus(Lenient):
    """Written by the operator: the tenant's cost this month and its budget's use."""

    month: str = Field(description="The calendar month (UTC) the figures are for, YYYY-MM.")
    currency: str = Field(description="The currency of every amount here.")
    month_to_date: str = Field(description="Cost from the 1st of the month until updatedAt.")
    forecast: str = Field(description="The month's expected cost, from the recent trend.")
    idle_share: str | None = Field(
        None, description="The share of idle capacity included (when the platform shares it)."
    )
    budget: str | None = Field(None, description="The monthly budget, when one is set.")
    budget_used_percent: int | None = Field(
        None, description="Month to date as a percentage of the budget."
    )
    forecast_percent: int | None = Field(
        None, description="The forecast as a percentage of the budget."
    )
    summary: str = Field(description="COST/BUDGET as printed by kubectl get tenants.")
    source: str = Field(description="Where the figures come from (Prometheus, or requests).")
    updated_at: str = Field(description="When the figures were computed (RFC 3339).")
    crossed: list[str] = Field(
        default_factory=list,
        description="Thresholds already announced this month: actual:80, forecast:100.",
    )

    def dumped(self) -> dict[str, Any]:
        """As written to status.cost."""
        return self.model_dump(by_alias=True, exclude_none=True)


def money_text(amount: Decimal) -> str:
    """An amount as status and reports write it: two decimals ("1234.50")."""
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):f}"
