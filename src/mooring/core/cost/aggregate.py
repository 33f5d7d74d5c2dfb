"""Aggregation: allocation lines grouped by container, pod, controller, namespace, tenant,
environment, cost centre or any label; idle kept apart or shared in proportion.

Pure. Tenant, environment and cost centre are the labels Mooring puts on tenant
namespaces; `label:KEY` reads the pod's label, then its namespace's. What belongs to no
group ("no tenant", "no team label") is a row of its own, never dropped.

Shared idle (when asked): each resource's idle is shared among the rows in proportion to
their cost of that resource (OpenCost's weighted sharing); the last row takes the
remainder, so the shares add back up to the idle exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import add

from mooring.api import names
from mooring.core.cost.allocate import ZERO, Allocation, Idle, Line, dec, money
from mooring.core.cost.inputs import Inputs

BY_NAMES = ("container", "pod", "controller", "namespace", "tenant", "environment", "cost-center")
NONE = "(none)"
RESOURCES = ("cpu", "memory", "gpu")
PriceKey = tuple[tuple[str, Decimal], ...]


class GroupingError(ValueError):
    """An unknown --by; the message lists the known ones."""


@dataclass
class Row:
    """One group's cost over the window."""

    group: str
    cpu: Decimal = ZERO
    memory: Decimal = ZERO
    gpu: Decimal = ZERO
    storage: Decimal = ZERO
    load_balancer: Decimal = ZERO
    idle_share: Decimal = ZERO
    requested: Decimal = ZERO
    used: Decimal | None = ZERO
    buckets: list[Decimal] = field(default_factory=list)  # cost per bucket (with idle share)
    idle_buckets: list[Decimal] = field(default_factory=list)  # idle share per bucket
    lines: int = 0

    @property
    def allocated(self) -> Decimal:
        return self.cpu + self.memory + self.gpu + self.storage + self.load_balancer

    @property
    def total(self) -> Decimal:
        return self.allocated + self.idle_share

    @property
    def efficiency(self) -> Decimal | None:
        """Used over allocated cost, CPU, memory and GPU only (None: not measured)."""
        compute = self.cpu + self.memory + self.gpu
        if self.used is None or compute == 0:
            return None
        return (self.used - self.storage - self.load_balancer) / compute


@dataclass
class Report:
    allocation: Allocation
    by: str
    rows: list[Row]
    idle: Idle  # what is left of idle after sharing (all of it when not shared)
    shared_idle: Decimal = ZERO

    @property
    def inputs(self) -> Inputs:
        return self.allocation.inputs

    @property
    def currency(self) -> str:
        return self.allocation.currency

    @property
    def allocated(self) -> Decimal:
        with money():
            return sum((row.allocated for row in self.rows), ZERO)

    @property
    def total(self) -> Decimal:
        """Rows (with their idle shares) plus unshared idle: the cluster's whole cost."""
        with money():
            return sum((row.total for row in self.rows), ZERO) + self.idle.total


def grouping(by: str) -> Callable[[Line, Inputs], str]:
    """The function that names a line's group for `--by` (a name, or label:KEY)."""
    if by.startswith("label:") and len(by) > len("label:"):
        key = by.removeprefix("label:")
        return lambda line, inputs: _label(line, inputs, key)
    chooser = _GROUPS.get(by)
    if chooser is None:
        raise GroupingError(
            f"cannot group by {by!r}; use one of {', '.join(BY_NAMES)} or label:KEY"
        )
    return chooser


def _namespace_label(inputs: Inputs, namespace: str, key: str) -> str:
    return inputs.namespaces.get(namespace, {}).get(key) or NONE


def _label(line: Line, inputs: Inputs, key: str) -> str:
    info = inputs.pods.get((line.namespace, line.pod))
    if info is not None and key in info.labels:
        return info.labels[key] or NONE
    return _namespace_label(inputs, line.namespace, key)


def _controller(line: Line, inputs: Inputs) -> str:
    info = inputs.pods.get((line.namespace, line.pod))
    if info is None or info.controller_kind is None:
        return f"{line.namespace}/{line.pod}" if line.pod else f"{line.namespace}/{NONE}"
    return f"{line.namespace}/{info.controller_kind}/{info.controller_name}"


_GROUPS: dict[str, Callable[[Line, Inputs], str]] = {
    "container": lambda line, _: f"{line.namespace}/{line.pod}/{line.name}",
    "pod": lambda line, _: f"{line.namespace}/{line.pod}",
    "controller": _controller,
    "namespace": lambda line, _: line.namespace,
    "tenant": lambda line, inputs: _namespace_label(inputs, line.namespace, names.LABEL_TENANT),
    "environment": lambda line, inputs: _namespace_label(
        inputs, line.namespace, names.LABEL_ENVIRONMENT
    ),
    "cost-center": lambda line, inputs: _namespace_label(
        inputs, line.namespace, names.LABEL_COST_CENTER
    ),
}


def aggregate(allocation: Allocation, by: str, share_idle: bool = False) -> Report:
    """Pure: the allocation's lines summed per group, sorted by cost (highest first)."""
    name_of = grouping(by)
    inputs = allocation.inputs
    count = len(inputs.buckets)
    with money():
        rows: dict[str, Row] = {}
        # Hours per (group, prices) and bucket, priced once per group: charts cost little.
        hours: dict[tuple[str, PriceKey], dict[str, list[float]]] = {}
        for line in allocation.lines:
            group = name_of(line, inputs)
            row = rows.get(group)
            if row is None:
                row = rows[group] = Row(group)
            row.cpu += line.cpu
            row.memory += line.memory
            row.gpu += line.gpu
            row.storage += line.storage
            row.load_balancer += line.load_balancer
            row.requested += line.requested
            if row.used is not None:
                row.used = None if line.used is None else row.used + line.used
            row.lines += 1
            _accumulate(hours, group, line, count)
        _price_buckets(rows, hours, count)
        ordered = sorted(rows.values(), key=lambda r: (-r.allocated, r.group))
        report = Report(allocation, by, ordered, allocation.idle)
        if share_idle:
            _share(report)
        return report


def _accumulate(
    hours: dict[tuple[str, PriceKey], dict[str, list[float]]],
    group: str,
    line: Line,
    count: int,
) -> None:
    # Lines with the same prices share one accumulator; it is priced once per group.
    key = tuple(sorted(line.hourly.items()))
    sums = hours.get((group, key))
    if sums is None:
        sums = hours[(group, key)] = {}
    for resource, values in line.hours.items():
        target = sums.get(resource)
        sums[resource] = list(values) if target is None else list(map(add, target, values))


def _price_buckets(
    rows: dict[str, Row], hours: dict[tuple[str, PriceKey], dict[str, list[float]]], count: int
) -> None:
    for row in rows.values():
        row.buckets = [ZERO] * count
    for (group, key), sums in hours.items():
        prices = dict(key)
        row = rows[group]
        for resource, values in sums.items():
            price = prices[resource]
            for b, value in enumerate(values):
                if value:
                    row.buckets[b] += dec(value) * price


def _share(report: Report) -> None:
    """Idle, resource by resource, shared in proportion to each row's cost of it."""
    idle = report.idle
    remaining = Idle(
        capacity=idle.capacity,
        overcommit=idle.overcommit,
        buckets=list(idle.buckets),
        known=idle.known,
    )
    shared = ZERO
    for resource in RESOURCES:
        amount: Decimal = getattr(idle, resource)
        weights = [(row, getattr(row, resource)) for row in report.rows]
        weights = [(row, weight) for row, weight in weights if weight > 0]
        whole = sum((w for _, w in weights), ZERO)
        if amount == 0 or whole == 0:
            setattr(remaining, resource, amount)  # nothing to weigh it by: stays idle
            continue
        given = ZERO
        for row, weight in weights[:-1]:
            part = amount * weight / whole
            row.idle_share += part
            given += part
        weights[-1][0].idle_share += amount - given
        shared += amount
    if shared and idle.total:
        # Charts: each row's share of idle, bucket by bucket, in the same proportion.
        fraction = {row.group: row.idle_share / idle.total for row in report.rows}
        for row in report.rows:
            row.idle_buckets = [fraction[row.group] * spare for spare in idle.buckets]
            row.buckets = [
                value + share for value, share in zip(row.buckets, row.idle_buckets, strict=True)
            ]
        left = remaining.total / idle.total
        remaining.buckets = [spare * left for spare in idle.buckets]
    report.idle = remaining
    report.shared_idle = shared
    report.rows.sort(key=lambda r: (-r.total, r.group))


def by_group(report: Report) -> dict[str, Row]:
    return {row.group: row for row in report.rows}
