"""Allocation worked by hand: OpenCost's rules and invariants on a small cluster.

The prices are round so that every figure below can be checked with a pencil:
1 per vCPU-hour, 0.10 per GiB-hour, 73 per GiB-month of storage (0.10 per GiB-hour),
0.50 per load-balancer hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mooring.api import names
from mooring.api.cost import Prices
from mooring.core.cost.aggregate import GroupingError, aggregate, by_group
from mooring.core.cost.allocate import Allocation, allocate
from mooring.core.cost.inputs import (
    BalancerHours,
    ClaimHours,
    ContainerHours,
    Inputs,
    NodeHours,
    PodInfo,
    integrate,
)
from mooring.core.cost.objects import balancers, claims, node_capacity, requested_containers
from mooring.core.cost.rates import PriceBook
from mooring.core.cost.window import Window

START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=2), timedelta(hours=1), "2h")
PRICES = Prices(
    currency="EUR",
    cpu_per_vcpu_hour=Decimal(1),
    memory_per_gib_hour=Decimal("0.10"),
    gpu_per_hour=Decimal(2),
    storage_per_gib_month=Decimal(73),
    load_balancer_per_hour=Decimal("0.50"),
)


def container(
    namespace: str,
    pod: str,
    cpu: tuple[list[float | None], list[float | None]],
    memory: tuple[list[float | None], list[float | None]],
) -> ContainerHours:
    """A container from its per-sample (requests, usage), one bucket per sample."""
    cpu_samples = [integrate([r], [u], 1.0) for r, u in zip(*cpu, strict=True)]
    memory_samples = [integrate([r], [u], 1.0) for r, u in zip(*memory, strict=True)]
    return ContainerHours(
        namespace,
        pod,
        "app",
        cpu=[s.allocated for s in cpu_samples],
        memory=[s.allocated for s in memory_samples],
        gpu=[0.0] * len(cpu_samples),
        cpu_requested=sum(s.requested for s in cpu_samples),
        cpu_used=sum(s.used or 0.0 for s in cpu_samples),
        memory_requested=sum(s.requested for s in memory_samples),
        memory_used=sum(s.used or 0.0 for s in memory_samples),
    )


def cluster() -> Inputs:
    """Tenant a: two pods sharing a 10 GiB claim; tenant b: one pod behind a balancer."""
    pods = {
        ("a-dev", "a-1"): PodInfo("a-dev", "a-1", "n1", {"team": "red"}, "Deployment", "api"),
        ("a-dev", "a-2"): PodInfo("a-dev", "a-2", "n1", {"team": "red"}, "Deployment", "api"),
        ("b-dev", "b-1"): PodInfo("b-dev", "b-1", "n1", {}, None, None),
    }
    return Inputs(
        window=WINDOW,
        buckets=WINDOW.buckets(timedelta(hours=1)),
        containers=[
            # requests 1 CPU, uses 0.5 then 1.5: allocated 1 + 1.5 = 2.5 vCPU-hours
            # requests 2 GiB, uses 1 then 3: allocated 2 + 3 = 5 GiB-hours
            container("a-dev", "a-1", ([1, 1], [0.5, 1.5]), ([2, 2], [1, 3])),
            # uses less than it requests: charged for the request, 1 vCPU-h and 2 GiB-h
            container("a-dev", "a-2", ([0.5, 0.5], [0.1, 0.1]), ([1, 1], [0.5, 0.5])),
            container("b-dev", "b-1", ([0.5, 0.5], [0.25, 0.25]), ([1, 1], [0.5, 0.5])),
        ],
        nodes=[NodeHours("n1", {}, cpu=[4, 4], memory=[16, 16], gpu=[0, 0])],
        claims=[ClaimHours("a-dev", "data", None, gib_hours=[10, 10], pods=("a-1", "a-2"))],
        balancers=[BalancerHours("b-dev", "web", hours=[1, 1], pods=("b-1",))],
        pods=pods,
        namespaces={
            "a-dev": {names.LABEL_TENANT: "a", names.LABEL_COST_CENTER: "cc-1"},
            "b-dev": {names.LABEL_TENANT: "b", "team": "blue"},
        },
        usage_measured=True,
    )


@pytest.fixture
def allocation() -> Allocation:
    return allocate(cluster(), PriceBook(PRICES))


def test_max_of_request_and_usage_is_taken_per_sample_not_over_the_window() -> None:
    # Average usage (1.0) equals the request, but the second sample used 1.5.
    result = integrate([1.0, 1.0], [0.5, 1.5], 1.0)
    assert result.allocated == 2.5
    assert result.requested == 2.0
    assert result.used == 2.0


def test_a_sample_without_usage_is_charged_its_request_and_without_request_its_usage() -> None:
    assert integrate([1.0, None], [None, 0.5], 0.5).allocated == 0.75
    assert integrate([1.0], [None], 1.0).used is None


def test_a_container_using_more_than_it_requests_is_charged_for_its_usage(
    allocation: Allocation,
) -> None:
    line = next(line for line in allocation.lines if line.pod == "a-1" and line.kind == "container")
    assert line.cpu == Decimal("2.5")
    assert line.memory == Decimal("0.5")


def test_a_container_using_less_than_it_requests_is_charged_for_its_request(
    allocation: Allocation,
) -> None:
    line = next(line for line in allocation.lines if line.pod == "a-2" and line.kind == "container")
    assert line.cpu == Decimal("1.0")
    assert line.memory == Decimal("0.2")
    assert line.requested == Decimal("1.2")
    assert line.used == Decimal("0.3")


def test_a_claim_is_charged_by_requested_size_and_split_among_the_pods_mounting_it(
    allocation: Allocation,
) -> None:
    shares = {line.pod: line.storage for line in allocation.lines if line.kind == "volume"}
    # 10 GiB x 2 h = 20 GiB-h at 73 per GiB-month of 730 h = 2.00, half each
    assert shares == {"a-1": Decimal(1), "a-2": Decimal(1)}


def test_a_load_balancer_is_charged_by_the_hour_to_the_pods_it_selects(
    allocation: Allocation,
) -> None:
    shares = {
        line.pod: line.load_balancer for line in allocation.lines if line.kind == "load-balancer"
    }
    assert shares == {"b-1": Decimal("1.00")}


def test_idle_is_the_nodes_cost_less_what_was_allocated_and_is_reported_apart(
    allocation: Allocation,
) -> None:
    # capacity: 4 CPU x 2 h x 1 = 8, 16 GiB x 2 h x 0.1 = 3.2
    assert allocation.idle.capacity == Decimal("11.2")
    assert allocation.idle.cpu == Decimal("3.5")  # 8 - (2.5 + 1 + 1)
    assert allocation.idle.memory == Decimal("2.3")  # 3.2 - (0.5 + 0.2 + 0.2)
    assert allocation.idle.total == Decimal("5.8")
    assert sum(allocation.idle.buckets) == Decimal("5.8")


def test_total_is_the_sum_of_the_parts_plus_idle(allocation: Allocation) -> None:
    assert allocation.allocated == Decimal("8.4")
    assert allocation.total == Decimal("14.2")
    report = aggregate(allocation, "tenant")
    assert {row.group: row.total for row in report.rows} == {
        "a": Decimal("6.2"),
        "b": Decimal("2.2"),
    }
    assert report.total == sum(row.total for row in report.rows) + report.idle.total


@pytest.mark.parametrize(
    "by",
    [
        "container",
        "pod",
        "controller",
        "namespace",
        "tenant",
        "environment",
        "cost-center",
        "label:team",
    ],
)
def test_every_grouping_adds_up_to_the_same_total(allocation: Allocation, by: str) -> None:
    report = aggregate(allocation, by)
    assert sum(row.total for row in report.rows) + report.idle.total == Decimal("14.2")
    assert sum(sum(row.buckets) for row in report.rows) == pytest.approx(Decimal("8.4"))


def test_groups_name_what_people_recognise(allocation: Allocation) -> None:
    assert set(by_group(aggregate(allocation, "controller"))) == {
        "a-dev/Deployment/api",
        "b-dev/b-1",
    }
    # The pod's label first, then its namespace's; nothing: a row of its own.
    teams = {row.group: row.total for row in aggregate(allocation, "label:team").rows}
    assert teams == {"red": Decimal("6.2"), "blue": Decimal("2.2")}
    assert set(by_group(aggregate(allocation, "cost-center"))) == {"cc-1", "(none)"}


def test_shared_idle_goes_to_groups_in_proportion_and_adds_back_up(
    allocation: Allocation,
) -> None:
    report = aggregate(allocation, "tenant", share_idle=True)
    rows = by_group(report)
    assert report.idle.total == 0
    assert report.shared_idle == Decimal("5.8")
    assert sum(row.idle_share for row in report.rows) == Decimal("5.8")
    # CPU idle 3.5 by CPU cost (a 3.5, b 1.0); memory idle 2.3 by memory cost (a 0.7, b 0.2)
    expected_a = Decimal("3.5") * Decimal("3.5") / Decimal("4.5") + Decimal("2.3") * Decimal(
        "0.7"
    ) / Decimal("0.9")
    assert rows["a"].idle_share == pytest.approx(expected_a)
    assert report.total == Decimal("14.2")
    assert sum(sum(row.buckets) for row in report.rows) == pytest.approx(Decimal("14.2"))


def test_idle_is_never_negative_usage_beyond_a_node_shows_as_overcommit() -> None:
    inputs = cluster()
    inputs.containers.append(container("b-dev", "b-1", ([1, 1], [6, 6]), ([0, 0], [0, 0])))
    result = allocate(inputs, PriceBook(PRICES))
    assert result.idle.cpu == 0
    # allocated 4.5 + 12 = 16.5 vCPU-h on a node of 8
    assert result.idle.overcommit == Decimal("8.5")
    assert result.idle.total >= 0
    assert result.total == result.allocated + result.idle.total


def test_without_node_capacity_idle_is_unknown_not_zero() -> None:
    inputs = cluster()
    inputs.nodes = []
    result = allocate(inputs, PriceBook(PRICES))
    assert result.idle.known is False
    assert result.total == result.allocated


def test_a_node_pool_prices_its_nodes_apart() -> None:
    prices = PRICES.model_copy(
        update={
            "node_pools": Prices.model_validate(
                {
                    "nodePools": [
                        {"name": "spot", "nodeSelector": {"pool": "spot"}, "cpuPerVcpuHour": 0.25}
                    ]
                }
            ).node_pools
        }
    )
    inputs = cluster()
    inputs.nodes[0].labels = {"pool": "spot"}
    result = allocate(inputs, PriceBook(prices))
    line = next(line for line in result.lines if line.pod == "a-1" and line.kind == "container")
    assert line.cpu == Decimal("0.625")  # 2.5 vCPU-h at 0.25
    assert line.memory == Decimal("0.5")  # memory unset in the pool: the platform's price
    assert line.rates.pool == "spot"


def test_an_unknown_grouping_lists_the_known_ones(allocation: Allocation) -> None:
    with pytest.raises(GroupingError, match="tenant"):
        aggregate(allocation, "team")


def pod(name: str, namespace: str, cpu: str, memory: str, **extra: object) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
            "creationTimestamp": "2026-10-01T00:00:00Z",
        },
        "spec": {
            "nodeName": "n1",
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
            **extra,
        },
        "status": {"phase": "Running", "startTime": "2026-11-01T01:00:00Z"},
    }


def test_without_prometheus_running_pods_are_charged_their_requests_since_they_started() -> None:
    buckets = WINDOW.buckets(timedelta(hours=1))
    pods = [
        pod(
            "p",
            "a-dev",
            "2",
            "4Gi",
            volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        ),
        {**pod("done", "a-dev", "8", "8Gi"), "status": {"phase": "Succeeded"}},
    ]
    containers = requested_containers(pods, WINDOW, buckets)
    assert len(containers) == 1  # a finished pod holds nothing
    assert containers[0].cpu == [0.0, 2.0]  # started at 01:00: the second hour only
    assert containers[0].memory == [0.0, 4.0]
    assert containers[0].cpu_used is None
    node = {
        "metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"capacity": {"cpu": "8", "memory": "32Gi"}},
    }
    assert node_capacity([node], WINDOW, buckets)[0].cpu == [8.0, 8.0]
    pvc = {
        "metadata": {
            "name": "data",
            "namespace": "a-dev",
            "creationTimestamp": "2026-11-01T00:30:00Z",
        },
        "spec": {"resources": {"requests": {"storage": "10Gi"}}, "storageClassName": "fast"},
        "status": {"phase": "Bound"},
    }
    (claim,) = claims([pvc], pods, WINDOW, buckets)
    assert claim.gib_hours == [5.0, 10.0]
    assert claim.pods == ("p",)
    service = {
        "metadata": {
            "name": "web",
            "namespace": "a-dev",
            "creationTimestamp": "2026-10-01T00:00:00Z",
        },
        "spec": {"type": "LoadBalancer", "selector": {"app": "p"}},
    }
    (balancer,) = balancers(
        [service, {**service, "spec": {"type": "ClusterIP"}}], pods, WINDOW, buckets
    )
    assert balancer.pods == ("p",)
    assert balancer.hours == [1.0, 1.0]
