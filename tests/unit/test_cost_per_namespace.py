"""Allocation from the per-namespace recorded series (containers without their node, and
the allocation per node beside them) gives the figures of the per-namespace-and-node
series: every group, bucket and idle figure, idle clamped per node and bucket.

Pure. Worked with round prices on two nodes, one of them overcommitted in one bucket
and over the window, so that clamping per node (not over the cluster) shows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mooring.api.cost import NodePool, Prices
from mooring.core.cost.aggregate import Report, aggregate
from mooring.core.cost.allocate import allocate
from mooring.core.cost.inputs import ContainerHours, Inputs, NodeHours
from mooring.core.cost.rates import PriceBook
from mooring.core.cost.window import Window

START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=2), timedelta(hours=1), "2h")
PRICES = Prices(
    currency="EUR",
    cpu_per_vcpu_hour=Decimal(1),
    memory_per_gib_hour=Decimal("0.10"),
    gpu_per_hour=Decimal(2),
)
NAMESPACES = {
    "a-dev": {"mooring.dev/tenant": "a"},
    "a-prod": {"mooring.dev/tenant": "a"},
    "b-dev": {"mooring.dev/tenant": "b"},
}
# (namespace, node): allocated CPU, memory, GPU hours per bucket; requested and used CPU,
# memory over the window. n1 has 4 CPUs: a-dev and b-dev take 5 in the second hour.
PLACES: dict[tuple[str, str], tuple[list[float], list[float], list[float], float, float]] = {
    ("a-dev", "n1"): ([1.5, 2.5], [2.0, 6.0], [0.0, 0.0], 3.0, 3.5),
    ("a-dev", "n2"): ([0.5, 0.5], [1.0, 1.0], [1.0, 1.0], 1.0, 0.25),
    ("a-prod", "n2"): ([2.0, 2.25], [4.0, 4.0], [0.0, 0.0], 4.0, 4.25),
    ("b-dev", "n1"): ([2.0, 2.5], [8.0, 8.0], [0.0, 0.0], 4.0, 4.5),
    ("b-dev", ""): ([0.125, 0.25], [0.0, 0.0], [0.0, 0.0], 0.0, 0.375),  # on no known node
}
NODES = [
    NodeHours("n1", {}, [4.0, 4.0], [16.0, 16.0], [0.0, 0.0]),
    NodeHours("n2", {"pool": "spot"}, [8.0, 8.0], [32.0, 32.0], [2.0, 2.0]),
]


def per_namespace_and_node() -> Inputs:
    """As `measure_recorded` gives them: one line per namespace and node."""
    return Inputs(
        WINDOW,
        WINDOW.buckets(),
        containers=[
            ContainerHours(
                namespace,
                "",
                "",
                cpu=cpu,
                memory=memory,
                gpu=gpu,
                cpu_requested=requested,
                cpu_used=used,
                memory_requested=requested * 2,
                memory_used=used * 2,
                node=node or None,
            )
            for (namespace, node), (cpu, memory, gpu, requested, used) in PLACES.items()
        ],
        nodes=NODES,
        namespaces=NAMESPACES,
        usage_measured=True,
    )


def per_namespace() -> Inputs:
    """As `measure_namespaces` gives them: the same figures summed per namespace (as the
    derived rules sum them), and per node."""

    def add(into: dict[str, list[list[float]]], key: str, values: tuple[list[float], ...]) -> None:
        sums = into.setdefault(key, [[0.0, 0.0] for _ in values])
        for target, source in zip(sums, values, strict=True):
            for index, value in enumerate(source):
                target[index] += value

    namespaces: dict[str, list[list[float]]] = {}
    nodes: dict[str, list[list[float]]] = {}
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (namespace, node), (cpu, memory, gpu, requested, used) in PLACES.items():
        add(namespaces, namespace, (cpu, memory, gpu))
        add(nodes, node, (cpu, memory, gpu))
        totals[namespace][0] += requested
        totals[namespace][1] += used
    return Inputs(
        WINDOW,
        WINDOW.buckets(),
        containers=[
            ContainerHours(
                namespace,
                "",
                "",
                cpu=cpu,
                memory=memory,
                gpu=gpu,
                cpu_requested=totals[namespace][0],
                cpu_used=totals[namespace][1],
                memory_requested=totals[namespace][0] * 2,
                memory_used=totals[namespace][1] * 2,
            )
            for namespace, (cpu, memory, gpu) in namespaces.items()
        ],
        nodes=NODES,
        node_allocated=[NodeHours(node, {}, *values) for node, values in nodes.items()],
        namespaces=NAMESPACES,
        usage_measured=True,
    )


def figures(report: Report) -> dict[str, tuple[Decimal | None, ...]]:
    return {
        row.group: (row.cpu, row.memory, row.gpu, row.requested, row.used, *row.buckets)
        for row in report.rows
    }


@pytest.mark.parametrize("share_idle", [False, True], ids=["idle apart", "idle shared"])
@pytest.mark.parametrize("by", ["namespace", "tenant"])
def test_per_namespace_series_give_the_per_namespace_and_node_figures(
    by: str, share_idle: bool
) -> None:
    book = PriceBook(PRICES)
    expected = aggregate(allocate(per_namespace_and_node(), book), by, share_idle)
    found = aggregate(allocate(per_namespace(), book), by, share_idle)
    assert figures(found) == figures(expected)
    for name in ("cpu", "memory", "gpu", "capacity", "overcommit"):
        assert getattr(found.allocation.idle, name) == getattr(expected.allocation.idle, name)
    assert found.idle.buckets == expected.idle.buckets
    assert found.total == expected.total


def test_idle_is_clamped_per_node_not_over_the_cluster() -> None:
    idle = allocate(per_namespace(), PriceBook(PRICES)).idle
    # CPU: n1 4 + 4 capacity, allocated 3.5 + 4.5 + 0.5 (second hour 5 > 4): 0.5
    # overcommitted on n1 while n2 has 16 - 5.25 idle; the node of nothing is left out.
    assert idle.overcommit >= Decimal("0.5")
    assert idle.cpu == Decimal(16) - Decimal("5.25")
    # by bucket: n1's second hour adds nothing (not minus 1)
    assert idle.buckets[1] < idle.buckets[0] + Decimal(4)


def test_node_pools_price_the_per_node_allocation_at_the_node_s_rates() -> None:
    spot = NodePool(name="spot", node_selector={"pool": "spot"}, cpu_per_vcpu_hour=Decimal("0.5"))
    pooled = PRICES.model_copy(update={"node_pools": [spot]})
    idle = allocate(per_namespace(), PriceBook(pooled)).idle
    # n2 (spot): 16 CPU-hours at 0.5 less its 5.25 allocated at 0.5
    assert idle.cpu == (Decimal(16) - Decimal("5.25")) * Decimal("0.5")
