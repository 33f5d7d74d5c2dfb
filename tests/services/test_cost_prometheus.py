"""The PromQL of allocation against a real Prometheus (Debian's), on history written with
promtool: the same figures as the core's per-sample rule, sample by sample.

Six hours of minute samples, values changing on the hour; sample k (at k o'clock) covers
the hour before it. The convention of the history below makes every series' samples in
(t - 1h, t] carry the value of that hour, so the expected per-sample values are the
per-hour lists, which the core's `integrate` turns into resource-hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mooring.core.cost.inputs import integrate
from mooring.core.cost.window import Bucket, Window
from mooring.devcluster.history import HistoryPrometheus, Series, backfill
from mooring.services.cost import measure
from mooring.services.prometheus import Prometheus

START = datetime(2026, 11, 1, tzinfo=UTC)
HOURS = 6
GIB = 2**30
Hourly = list[float | None]

# container -> (cpu request, cpu usage, memory request GiB, memory usage GiB) per hour;
# None: no series that hour.
CONTAINERS: dict[tuple[str, str, str], tuple[Hourly, Hourly, Hourly, Hourly]] = {
    # uses more than it requests in some hours, less in others
    ("a", "p1", "app"): (
        [1.0] * 6,
        [0.5, 0.5, 1.5, 1.5, 0.2, 2.0],
        [2.0] * 6,
        [1.0, 1.0, 3.0, 3.0, 1.0, 1.0],
    ),
    # always under its request
    ("a", "p2", "app"): ([0.5] * 6, [0.1] * 6, [1.0] * 6, [0.5] * 6),
    # measured but requesting nothing
    ("b", "p3", "app"): ([None] * 6, [0.25] * 6, [None] * 6, [0.25] * 6),
    # requests for two hours, never measured (no usage series at all)
    ("a", "p4", "app"): (
        [None, None, 2.0, 2.0, None, None],
        [None] * 6,
        [None, None, 4.0, 4.0, None, None],
        [None] * 6,
    ),
}


def minute_series(
    name: str, labels: dict[str, str], hourly: Hourly, counter: bool = False, scale: float = 1
) -> Series:
    """Minute samples; the sample at minute m carries hour (m - 1) // 60's value (a counter
    adds that hour's rate for the minute)."""
    samples: list[tuple[int, float]] = []
    total = 0.0
    for minute in range(1, HOURS * 60 + 1):
        value = hourly[(minute - 1) // 60]
        if value is None:
            continue
        total += value * 60
        stamp = int(START.timestamp()) + minute * 60
        samples.append((stamp, total if counter else value * scale))
    return Series(name, labels, samples)


def history(scheduler: bool) -> list[Series]:
    series: dict[str, list[Series]] = {}

    def add(item: Series) -> None:
        if item.samples:
            series.setdefault(item.name, []).append(item)

    for (namespace, pod, container), (cpu_r, cpu_u, mem_r, mem_u) in CONTAINERS.items():
        labels = {"namespace": namespace, "pod": pod, "container": container}
        add(minute_series("container_cpu_usage_seconds_total", labels, cpu_u, counter=True))
        add(minute_series("container_memory_working_set_bytes", labels, mem_u, scale=GIB))
        running = [1.0 if r is not None else None for r in cpu_r]
        if scheduler:
            pod_labels = {"namespace": namespace, "pod": pod, "node": "n1", "scheduler": "s"}
            add(
                minute_series("kube_pod_resource_request", {**pod_labels, "resource": "cpu"}, cpu_r)
            )
            add(
                minute_series(
                    "kube_pod_resource_request",
                    {**pod_labels, "resource": "memory"},
                    mem_r,
                    scale=GIB,
                )
            )
        else:
            add(
                minute_series(
                    "kube_pod_container_resource_requests", {**labels, "resource": "cpu"}, cpu_r
                )
            )
            add(
                minute_series(
                    "kube_pod_container_resource_requests",
                    {**labels, "resource": "memory"},
                    mem_r,
                    scale=GIB,
                )
            )
            add(minute_series("kube_pod_container_status_running", labels, running))
            add(
                minute_series(
                    "kube_pod_info", {"namespace": namespace, "pod": pod, "node": "n1"}, [1.0] * 6
                )
            )
    if not scheduler:
        for resource, value in (("cpu", 4.0), ("memory", 16.0 * GIB)):
            add(
                minute_series(
                    "kube_node_status_capacity", {"node": "n1", "resource": resource}, [value] * 6
                )
            )
    return [item for group in series.values() for item in group]


@pytest.fixture(scope="module", params=["kube-state-metrics", "kube-scheduler"])
def prometheus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("prometheus")
    backfill(history(request.param == "kube-scheduler"), root / "data", root / "scratch")
    server = HistoryPrometheus(root / "data")
    yield request.param, server.url
    server.stop()


WINDOW = Window(START, START + timedelta(hours=HOURS), timedelta(hours=1), "6h")
SPLITS = {
    "two equal buckets (one range query)": [3, 3],
    "unequal buckets (instant queries)": [4, 2],
    "one bucket per sample": [1] * 6,
}


def buckets_of(sizes: list[int]) -> list[Bucket]:
    result, cursor = [], START
    for size in sizes:
        result.append(Bucket(cursor, cursor + timedelta(hours=size)))
        cursor += timedelta(hours=size)
    return result


def expected(values: tuple[Hourly, Hourly], sizes: list[int]) -> list[float]:
    """The core's rule over each bucket's samples."""
    result, first = [], 0
    for size in sizes:
        requests, usage = values[0][first : first + size], values[1][first : first + size]
        result.append(integrate(requests, usage, 1.0).allocated)
        first += size
    return result


def pod_level(key: tuple[str, str, str]) -> tuple[Hourly, Hourly, Hourly, Hourly]:
    return CONTAINERS[key]  # one container per pod: per pod and per container agree


@pytest.mark.parametrize("split", list(SPLITS), ids=list(SPLITS))
def test_prometheus_allocates_what_the_core_rule_computes_sample_by_sample(
    prometheus: tuple[str, str], split: str
) -> None:
    source, url = prometheus
    sizes = SPLITS[split]

    async def run() -> object:
        async with Prometheus(url) as client:
            return await measure(client, WINDOW, buckets_of(sizes))

    measured = asyncio.run(run())
    assert measured.sources.requests == source  # type: ignore[attr-defined]
    found = {(c.namespace, c.pod, c.container or "app"): c for c in measured.containers}  # type: ignore[attr-defined]
    assert set(found) == set(CONTAINERS)
    for key, (cpu_r, cpu_u, mem_r, mem_u) in CONTAINERS.items():
        container = found[key]
        assert container.cpu == pytest.approx(expected((cpu_r, cpu_u), sizes), rel=1e-9), key
        assert container.memory == pytest.approx(expected((mem_r, mem_u), sizes), rel=1e-9), key
        whole = integrate(cpu_r, cpu_u, 1.0)
        assert container.cpu_requested == pytest.approx(whole.requested, rel=1e-9), key
        assert container.cpu_used == pytest.approx(whole.used or 0.0, rel=1e-9), key


def test_p1_is_charged_its_usage_in_the_hours_it_used_more(prometheus: tuple[str, str]) -> None:
    _, url = prometheus

    async def run() -> object:
        async with Prometheus(url) as client:
            return await measure(client, WINDOW, buckets_of([6]))

    measured = asyncio.run(run())
    p1 = next(c for c in measured.containers if c.pod == "p1")  # type: ignore[attr-defined]
    # max(1, usage) per hour: 1 + 1 + 1.5 + 1.5 + 1 + 2 = 8 vCPU-hours; the average usage
    # (1.033) against the request would say 6.2
    assert p1.cpu == pytest.approx([8.0])
    assert p1.memory == pytest.approx([2 + 2 + 3 + 3 + 2 + 2])


def test_node_capacity_and_pod_placement_come_from_kube_state_metrics(
    prometheus: tuple[str, str],
) -> None:
    source, url = prometheus

    async def run() -> object:
        async with Prometheus(url) as client:
            return await measure(client, WINDOW, buckets_of([6]))

    measured = asyncio.run(run())
    assert measured.pod_nodes[("a", "p1")] == "n1"  # type: ignore[attr-defined]
    if source == "kube-state-metrics":
        (node,) = measured.nodes  # type: ignore[attr-defined]
        assert (node.name, node.cpu, node.memory) == ("n1", [24.0], [96.0])
    else:
        assert measured.nodes == []  # type: ignore[attr-defined]


# -- the operator's month: whole days measured once ------------------------------------------

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)


def steady(
    name: str, labels: dict[str, str], value: float, hours: int, counter: bool = False
) -> Series:
    """Minute samples from the 1st of November, a steady value (or rate, for a counter)."""
    stamp0 = int(MONTH_START.timestamp())
    return Series(
        name,
        labels,
        [
            (stamp0 + minute * 60, value * minute * 60 if counter else value)
            for minute in range(1, hours * 60 + 1)
        ],
    )


@pytest.fixture(scope="module")
def month_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """30 hours of one container requesting 1 CPU and using half of it, from Nov 1."""
    root = tmp_path_factory.mktemp("month")
    labels = {"namespace": "a", "pod": "p1", "container": "app"}
    series = [
        steady("container_cpu_usage_seconds_total", labels, 0.5, 30, counter=True),
        steady("container_memory_working_set_bytes", labels, GIB / 2, 30),
        steady("kube_pod_container_resource_requests", {**labels, "resource": "cpu"}, 1.0, 30),
        steady("kube_pod_container_resource_requests", {**labels, "resource": "memory"}, GIB, 30),
        steady("kube_pod_container_status_running", labels, 1.0, 30),
    ]
    backfill(series, root / "data", root / "scratch")
    server = HistoryPrometheus(root / "data")
    yield server.url
    server.stop()


def test_the_operators_month_measures_whole_days_once_with_the_same_figures(
    month_prometheus: str,
) -> None:
    from decimal import Decimal

    from mooring.api.platform import PlatformConfig
    from mooring.services.cost import Cluster, MonthCache, month_figures
    from tests.builders import platform_body

    body = platform_body(
        prices={"cpuPerVcpuHour": 1, "memoryPerGibHour": 0},
        cost={"prometheusUrl": month_prometheus},
    )
    platform = PlatformConfig.model_validate(body)
    namespace = {"metadata": {"name": "a", "labels": {"mooring.dev/tenant": "ta"}}}
    cluster = Cluster([namespace], [], [], [], [])
    cache = MonthCache()
    at = datetime(2026, 11, 2, 6, tzinfo=UTC)

    async def figures(now: datetime, with_cache: MonthCache | None) -> object:
        return (await month_figures(cluster, platform, now, with_cache))[0]["ta"]

    asyncio.run(figures(at - timedelta(hours=3), cache))  # measures (and keeps) the 1st
    assert list(cache.days) == [START.date()]
    cached = asyncio.run(figures(at, cache))
    fresh = asyncio.run(figures(at, None))
    # 1 CPU requested (more than the 0.5 used) for 30 hours at 1 per vCPU-hour
    assert float(cached.month_to_date) == pytest.approx(30.0)  # type: ignore[attr-defined]
    assert float(fresh.month_to_date) == pytest.approx(30.0)  # type: ignore[attr-defined]
    # the last 24 hours: 24; the forecast adds 24/24 per hour for the 690 hours left
    assert float(cached.recent) == pytest.approx(24.0)  # type: ignore[attr-defined]
    assert cached.recent_hours == Decimal(24)  # type: ignore[attr-defined]
