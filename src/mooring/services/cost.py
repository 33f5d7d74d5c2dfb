"""Cost of what runs: gather (Prometheus and the API server), decide (core.cost), report.

Side effects: reads the cluster (namespaces, nodes, pods, volume claims, Services, the
PlatformConfig) and queries Prometheus. Nothing is written here; the operator writes
tenants' status from `month_figures`.

Where the figures come from is decided once per run and said plainly in `Inputs.notes`:
- Prometheus with Mooring's cost recording rules (core/cost/recorded.py) covering the
  window, for a grouping by namespace, tenant, environment or cost centre: the recorded
  series per namespace and node, and raw queries for the steps not recorded (before the
  rules' history, or the last step or two, not evaluated yet);
- Prometheus with usage and request metrics: OpenCost's allocation, max(request, usage)
  per container (or pod) per sample;
- Prometheus without usage metrics: requests alone, from its history;
- no Prometheus: the requests of the pods running now, since they started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mooring.api import names
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig
from mooring.core.cost import objects
from mooring.core.cost.aggregate import Report, aggregate
from mooring.core.cost.allocate import allocate
from mooring.core.cost.budget import MonthFigures, plan_month
from mooring.core.cost.inputs import ContainerHours, Inputs, NodeHours, PodInfo
from mooring.core.cost.promql import (
    Quantity,
    Queries,
    RangePlan,
    Sources,
    detect,
    plan,
    read_buckets,
    read_vector,
)
from mooring.core.cost.rates import PriceBook
from mooring.core.cost.recorded import (
    NAMESPACE_GROUPINGS,
    Coverage,
    Split,
    by_namespace,
    clip,
    coverage_queries,
    heartbeat,
    read_at,
    split,
)
from mooring.core.cost.recorded import hours as recorded_hours
from mooring.core.cost.window import DAY, Bucket, Window, month_start
from mooring.kube.client import Kube
from mooring.services.prometheus import Prometheus, Series

Obj = dict[str, Any]
# Progress for long queries: (what is being done, done so far, how many in all).
Progress = Callable[[str, int, int], None]
CONCURRENT_QUERIES = 4
RUNNING = "status.phase!=Succeeded,status.phase!=Failed"
PodNodes = dict[tuple[str, str], str]
PodOwners = dict[tuple[str, str], tuple[str, str]]
PodLabels = dict[tuple[str, str], dict[str, str]]
QUANTITIES: tuple[Quantity, ...] = ("cpu", "memory", "gpu")


def _quiet(_what: str, _done: int, _total: int) -> None:
    return None


class NoPlatformError(RuntimeError):
    """The cluster has no PlatformConfig: no prices."""


async def load_platform(kube: Kube) -> PlatformConfig:
    raw = await kube.get_or_none(names.API_VERSION, "PlatformConfig", PLATFORM_CONFIG_NAME)
    if raw is None:
        raise NoPlatformError(
            f"the cluster has no PlatformConfig {PLATFORM_CONFIG_NAME!r}, where prices are "
            "set; apply the platform's platform.yaml (or pass --platform FILE)"
        )
    return PlatformConfig.model_validate(raw)


@dataclass
class Cluster:
    """What the API server says now."""

    namespaces: list[Obj]
    nodes: list[Obj]
    pods: list[Obj]
    claims: list[Obj]
    services: list[Obj]


async def read_cluster(kube: Kube) -> Cluster:
    listings = await asyncio.gather(
        kube.list("v1", "Namespace"),
        kube.list("v1", "Node"),
        # Pods that hold resources now, slimmed page by page.
        kube.list("v1", "Pod", page=500, fields=RUNNING, keep=objects.slim_pod),
        kube.list("v1", "PersistentVolumeClaim", page=500),
        kube.list("v1", "Service", page=500),
    )
    return Cluster(*listings)


# -- Prometheus ---------------------------------------------------------------------------------


# Per key (labels' values), one figure per bucket of the window.
Placed = dict[tuple[str, ...], list[float]]


class _Runner:
    """Runs queries a few at a time and counts them for the progress bar."""

    def __init__(self, prometheus: Prometheus, progress: Progress, total: int) -> None:
        self.prometheus = prometheus
        self.progress = progress
        self.total = total
        self.done = 0
        self.limit = asyncio.Semaphore(CONCURRENT_QUERIES)

    async def run(self, job: Callable[[], Awaitable[list[Series]]]) -> list[Series]:
        async with self.limit:
            result = await job()
        self.done += 1
        self.progress("querying Prometheus", self.done, self.total)
        return result

    async def recorded(
        self,
        text: Callable[[timedelta], str],
        shifted: Sequence[Bucket],
        pieces: Sequence[tuple[int, Bucket]],
        count: int,
        labels: tuple[str, ...],
    ) -> Placed:
        """Recorded series per bucket: the query `text(span)` once per run of equal buckets
        (an instant query for a run of one), each series' values placed among `count`."""

        async def one(run: RangePlan) -> tuple[RangePlan, list[Series]]:
            query = text(run.span)
            if run.count == 1:
                at = shifted[run.first].end
                return run, await self.run(lambda: self.prometheus.query(query, at))
            params = run.params(shifted)
            return run, await self.run(lambda: self.prometheus.query_range(query, params))

        values: dict[tuple[str, ...], list[float]] = {}
        for run, result in await asyncio.gather(*(one(r) for r in plan(shifted))):
            read_buckets(result, labels, run, shifted, values)
        return {key: _placed(found, pieces, count) for key, found in values.items()}

    def per_bucket(
        self, queries: Queries, expression: str, buckets: Sequence[Bucket]
    ) -> list[Awaitable[tuple[RangePlan, list[Series]]]]:
        """One range query per run of equal buckets (an instant query for a run of one)."""

        async def one(run: RangePlan) -> tuple[RangePlan, list[Series]]:
            text = queries.hours(expression, run.span)
            if run.count == 1:
                at = buckets[run.first].end
                return run, await self.run(lambda: self.prometheus.query(text, at))
            params = run.params(buckets)
            return run, await self.run(lambda: self.prometheus.query_range(text, params))

        return [one(run) for run in plan(buckets)]


def queries_needed(sources: Sources, buckets: Sequence[Bucket], owners: bool) -> int:
    runs = len(plan(buckets))
    count = runs * len(QUANTITIES)  # allocated CPU, memory, GPU per bucket
    if sources.usage:
        count += 4  # requested and used CPU and memory over the window
    elif sources.requests:
        count += 2  # requested CPU and memory
    if sources.node_capacity:
        count += runs * len(QUANTITIES)
    count += 1  # pods' nodes
    if owners and sources.pod_owners:
        count += 2
    return count


@dataclass
class Measured:
    """What Prometheus says about the window."""

    sources: Sources
    containers: list[ContainerHours]
    nodes: list[NodeHours]  # empty without kube-state-metrics' node capacity
    pod_nodes: PodNodes
    pod_owners: PodOwners
    pod_labels: PodLabels


async def measure(
    prometheus: Prometheus,
    window: Window,
    buckets: Sequence[Bucket],
    progress: Progress = _quiet,
    owners: bool = False,
) -> Measured:
    """Allocated resource-hours per container and bucket (max(request, usage) per sample),
    requested and used over the window, node capacity, and who pods are. `owners`: also
    kube-state-metrics' pod owners and labels (for --by controller and label:KEY)."""
    sources = detect(await prometheus.metric_names(window.start, window.end))
    if sources.requests is None and not sources.usage:
        return Measured(sources, [], [], {}, {}, {})
    queries = Queries(sources, window.step)
    span = window.end - window.start
    labels = sources.key_labels
    runner = _Runner(prometheus, progress, queries_needed(sources, buckets, owners))
    progress("querying Prometheus", 0, runner.total)

    async def per_bucket(expression: str | None) -> dict[tuple[str, ...], list[float]]:
        values: dict[tuple[str, ...], list[float]] = {}
        if expression is None:
            return values
        for run, result in await asyncio.gather(*runner.per_bucket(queries, expression, buckets)):
            read_buckets(result, labels, run, buckets, values)
        return values

    async def node_bucket(expression: str | None) -> dict[tuple[str, ...], list[float]]:
        values: dict[tuple[str, ...], list[float]] = {}
        if expression is None:
            return values
        for run, result in await asyncio.gather(*runner.per_bucket(queries, expression, buckets)):
            read_buckets(result, ("node",), run, buckets, values)
        return values

    async def total(expression: str | None) -> dict[tuple[str, ...], float] | None:
        if expression is None:
            return None
        text = queries.hours(expression, span)
        return read_vector(await runner.run(lambda: prometheus.query(text, window.end)), labels)

    async def instant(expression: str | None) -> list[Series]:
        if expression is None:
            return []
        return await runner.run(lambda: prometheus.query(expression, window.end))

    # Every query starts now (four run at a time); the results are collected in groups.
    allocated = asyncio.gather(*(per_bucket(queries.allocated(q)) for q in QUANTITIES))
    totals = asyncio.gather(
        total(queries.request("cpu")),
        total(queries.usage("cpu")),
        total(queries.request("memory")),
        total(queries.usage("memory")),
    )
    capacity = asyncio.gather(*(node_bucket(queries.capacity(q)) for q in QUANTITIES))
    who = asyncio.gather(
        instant(queries.pod_nodes(span)),
        instant(queries.pod_owners(span) if owners else None),
        instant(queries.pod_labels(span) if owners else None),
    )
    cpu, memory, gpu = await allocated
    cpu_requested, cpu_used, memory_requested, memory_used = await totals
    node_cpu, node_memory, node_gpu = await capacity
    pod_nodes, pod_owners, pod_labels = await who
    count = len(buckets)
    containers: list[ContainerHours] = []
    for key in sorted(set(cpu) | set(memory) | set(gpu)):
        namespace, pod = key[0], key[1]
        container = key[2] if len(key) > 2 else ""
        containers.append(
            ContainerHours(
                namespace,
                pod,
                container,
                cpu=cpu.get(key) or [0.0] * count,
                memory=memory.get(key) or [0.0] * count,
                gpu=gpu.get(key) or [0.0] * count,
                cpu_requested=(cpu_requested or {}).get(key, 0.0),
                cpu_used=None if cpu_used is None else cpu_used.get(key, 0.0),
                memory_requested=(memory_requested or {}).get(key, 0.0),
                memory_used=None if memory_used is None else memory_used.get(key, 0.0),
            )
        )
    nodes: list[NodeHours] = []
    for key in sorted(set(node_cpu) | set(node_memory)):
        nodes.append(
            NodeHours(
                key[0],
                {},
                node_cpu.get(key) or [0.0] * count,
                node_memory.get(key) or [0.0] * count,
                node_gpu.get(key) or [0.0] * count,
            )
        )
    placed = {
        (m.get("namespace", ""), m.get("pod", "")): m.get("node", "")
        for m in (s.get("metric") or {} for s in pod_nodes)
    }
    owned = {
        (m.get("namespace", ""), m.get("pod", "")): (
            m.get("owner_kind", ""),
            m.get("owner_name", ""),
        )
        for m in (s.get("metric") or {} for s in pod_owners)
    }
    labelled = {
        (m.get("namespace", ""), m.get("pod", "")): {
            k.removeprefix("label_"): v for k, v in m.items() if k.startswith("label_")
        }
        for m in (s.get("metric") or {} for s in pod_labels)
    }
    return Measured(sources, containers, nodes, placed, owned, labelled)


# -- recorded series ----------------------------------------------------------------------------


async def recorded_coverage(
    prometheus: Prometheus, window: Window, derived: bool = False
) -> Coverage | None:
    """Which steps of the window the cost rules recorded (None: no heartbeat at all);
    `derived`: the per-namespace rules."""
    texts, at = coverage_queries(window, derived)
    names = await prometheus.metric_names(window.start, at)
    if heartbeat(window.step, derived) not in names:
        return None
    first, last, count = await asyncio.gather(*(prometheus.query(t, at) for t in texts.values()))

    def value(result: list[Series]) -> int | None:
        return int(float(result[0]["value"][1])) if result else None

    return Coverage(value(first), value(last), value(count) or 0)


@dataclass
class Recorded:
    """What the recorded series say about part of a window, per namespace and node."""

    containers: list[ContainerHours]
    nodes: list[NodeHours]
    used: bool  # usage was recorded (else the rules found no usage metrics)
    # Per namespace: what the containers were allocated per node (their lines have none).
    node_allocated: list[NodeHours] = field(default_factory=list)


async def measure_recorded(
    prometheus: Prometheus,
    part: Window,
    pieces: Sequence[tuple[int, Bucket]],
    count: int,
    progress: Progress = _quiet,
) -> Recorded:
    """Allocated resource-hours per namespace and node and bucket, requested and used over
    `part`, node capacity per bucket, from the recorded series. `pieces`: the buckets'
    parts inside `part`, with the index of their bucket among `count`."""
    step = part.step
    shift = read_at(part.end, step) - part.end
    # Each piece read where its steps' samples are: one and a half steps after its end.
    shifted = [Bucket(b.start + shift, b.end + shift) for _, b in pieces]
    runner = _Runner(prometheus, progress, 2 * len(plan(shifted)) + 2)
    progress("querying Prometheus (recorded)", 0, runner.total)

    def per_bucket(kind: str, labels: tuple[str, ...]) -> Awaitable[Placed]:
        return runner.recorded(
            lambda span: recorded_hours(kind, span, step), shifted, pieces, count, labels
        )

    async def total(kind: str) -> dict[tuple[str, ...], float]:
        text = recorded_hours(kind, part.end - part.start, step)
        at = part.end + shift
        result = await runner.run(lambda: prometheus.query(text, at))
        return read_vector(result, ("namespace", "node", "resource"))

    allocated, capacity, requested, used = await asyncio.gather(
        per_bucket("allocated", ("namespace", "node", "resource")),
        per_bucket("capacity", ("node", "resource")),
        total("requested"),
        total("used"),
    )
    zero = [0.0] * count
    places = sorted({key[:2] for key in allocated} | {key[:2] for key in requested})
    measured = bool(used)
    containers = [
        ContainerHours(
            namespace,
            "",
            "",
            cpu=allocated.get((namespace, node, "cpu"), zero),
            memory=allocated.get((namespace, node, "memory"), zero),
            gpu=allocated.get((namespace, node, "gpu"), zero),
            cpu_requested=requested.get((namespace, node, "cpu"), 0.0),
            cpu_used=used.get((namespace, node, "cpu"), 0.0) if measured else None,
            memory_requested=requested.get((namespace, node, "memory"), 0.0),
            memory_used=used.get((namespace, node, "memory"), 0.0) if measured else None,
            node=node or None,
        )
        for namespace, node in places
    ]
    return Recorded(containers, _nodes(capacity, count), measured)


def _nodes(values: Mapping[tuple[str, ...], list[float]], count: int) -> list[NodeHours]:
    """Per node, its CPU, memory and GPU hours of each bucket (zero where none)."""
    zero = [0.0] * count
    return [
        NodeHours(
            node,
            {},
            values.get((node, "cpu"), zero),
            values.get((node, "memory"), zero),
            values.get((node, "gpu"), zero),
        )
        for node in sorted({key[0] for key in values})
    ]


async def measure_namespaces(
    prometheus: Prometheus,
    part: Window,
    pieces: Sequence[tuple[int, Bucket]],
    count: int,
    progress: Progress = _quiet,
) -> Recorded:
    """As `measure_recorded`, from the per-namespace series: allocated resource-hours per
    namespace and bucket, requested and used over `part`, and per node (for idle) the
    allocated and the capacity per bucket. Only where prices do not depend on the node."""
    step = part.step
    shift = read_at(part.end, step) - part.end
    shifted = [Bucket(b.start + shift, b.end + shift) for _, b in pieces]
    runner = _Runner(prometheus, progress, 3 * len(plan(shifted)) + 2)
    progress("querying Prometheus (recorded)", 0, runner.total)

    def per_bucket(kind: str, level: str, labels: tuple[str, ...]) -> Awaitable[Placed]:
        return runner.recorded(
            lambda span: recorded_hours(kind, span, step, level), shifted, pieces, count, labels
        )

    async def total(kind: str) -> dict[tuple[str, ...], float]:
        text = recorded_hours(kind, part.end - part.start, step, "namespace")
        at = part.end + shift
        result = await runner.run(lambda: prometheus.query(text, at))
        return read_vector(result, ("namespace", "resource"))

    allocated, on_nodes, capacity, requested, used = await asyncio.gather(
        per_bucket("allocated", "namespace", ("namespace", "resource")),
        per_bucket("allocated", "node", ("node", "resource")),
        per_bucket("capacity", "node", ("node", "resource")),
        total("requested"),
        total("used"),
    )
    zero = [0.0] * count
    measured = bool(used)
    containers = [
        ContainerHours(
            namespace,
            "",
            "",
            cpu=allocated.get((namespace, "cpu"), zero),
            memory=allocated.get((namespace, "memory"), zero),
            gpu=allocated.get((namespace, "gpu"), zero),
            cpu_requested=requested.get((namespace, "cpu"), 0.0),
            cpu_used=used.get((namespace, "cpu"), 0.0) if measured else None,
            memory_requested=requested.get((namespace, "memory"), 0.0),
            memory_used=used.get((namespace, "memory"), 0.0) if measured else None,
        )
        for namespace in sorted({key[0] for key in allocated} | {key[0] for key in requested})
    ]
    return Recorded(containers, _nodes(capacity, count), measured, _nodes(on_nodes, count))


def _placed(values: list[float], pieces: Sequence[tuple[int, Bucket]], count: int) -> list[float]:
    full = [0.0] * count
    for (index, _), value in zip(pieces, values, strict=True):
        full[index] += value
    return full


def _add_nodes(into: dict[str, NodeHours], nodes: Sequence[NodeHours]) -> None:
    for node in nodes:
        known = into.get(node.name)
        if known is None:
            into[node.name] = node
            continue
        known.cpu = [a + b for a, b in zip(known.cpu, node.cpu, strict=True)]
        known.memory = [a + b for a, b in zip(known.memory, node.memory, strict=True)]
        known.gpu = [a + b for a, b in zip(known.gpu, node.gpu, strict=True)]


# -- gather -----------------------------------------------------------------------------------


async def gather_inputs(
    kube: Kube | None,
    window: Window,
    buckets: list[Bucket],
    prometheus_url: str | None,
    progress: Progress = _quiet,
    owners: bool = True,
    cluster: Cluster | None = None,
    by: str = "",
    pools: bool = True,
) -> Inputs:
    """Everything allocation needs for the window, from the cluster (read now, unless
    `cluster` was read already) and Prometheus. `by`: the report's grouping; by namespace,
    tenant, environment or cost centre, the recorded series serve the steps they cover.
    `pools`: the platform prices node pools apart (then the per-namespace series, which
    do not say on which nodes a namespace ran, are not read)."""
    reading: asyncio.Future[Cluster] | None = None
    if cluster is None:
        assert kube is not None, "a cluster to read, or what was read of it"
        progress("reading the cluster", 0, 1)
        # Read while Prometheus answers: the pods are needed only once its answers are in.
        reading = asyncio.ensure_future(read_cluster(kube))

    async def pods_now() -> dict[tuple[str, str], PodInfo]:
        read = cluster if reading is None else await reading
        assert read is not None
        return objects.pods_by_key(read.pods)

    pods = asyncio.ensure_future(pods_now())
    inputs = Inputs(window, buckets)
    measured_any = False
    try:
        if prometheus_url is None:
            inputs.notes.append(
                "No Prometheus configured (spec.cost.prometheusUrl, or --prometheus): cost "
                "is allocated from the requests of the pods running now, since they started; "
                "pods that ended are not counted and usage is not measured."
            )
        else:
            async with Prometheus(prometheus_url) as prometheus:
                measured_any = await measure_window(
                    prometheus, prometheus_url, inputs, pods, by, owners, progress, pools
                )
        current = await pods
    finally:
        for pending in (reading, pods):
            if pending is not None and not pending.done():
                pending.cancel()
    if reading is not None:
        cluster = reading.result()
        progress("reading the cluster", 1, 1)
    assert cluster is not None
    inputs.namespaces = objects.namespace_labels(cluster.namespaces)
    node_labels = {
        str(n["metadata"]["name"]): dict(n["metadata"].get("labels") or {}) for n in cluster.nodes
    }
    if not measured_any:
        inputs.containers = objects.requested_containers(cluster.pods, window, buckets)
        inputs.pods = dict(current)
    if not inputs.nodes:
        inputs.nodes = objects.node_capacity(cluster.nodes, window, buckets)
        inputs.notes.append(
            "Node capacity from the nodes that exist now (no kube-state-metrics "
            "kube_node_status_capacity): nodes removed during the window are not in idle."
        )
    else:
        for node in inputs.nodes:
            node.labels = node_labels.get(node.name, {})
    inputs.claims = objects.claims(cluster.claims, cluster.pods, window, buckets)
    inputs.balancers = objects.balancers(cluster.services, cluster.pods, window, buckets)
    if inputs.claims or inputs.balancers:
        inputs.notes.append(
            "Volume claims and load balancers: those that exist now, from their creation."
        )
    return inputs


async def measure_window(
    prometheus: Prometheus,
    url: str,
    inputs: Inputs,
    current: Mapping[tuple[str, str], PodInfo] | Awaitable[Mapping[tuple[str, str], PodInfo]],
    by: str,
    owners: bool,
    progress: Progress,
    pools: bool = True,
) -> bool:
    """Fill `inputs` from Prometheus: the recorded series for the steps they cover (when
    the grouping allows; per namespace where those series cover them and `pools` is
    False, else per namespace and node), raw queries for the rest. False: Prometheus had
    nothing. `current`: the pods the API server has now (or their coming, read meanwhile)."""
    window, buckets = inputs.window, inputs.buckets
    coverage = None
    if by in NAMESPACE_GROUPINGS:
        coverage = await recorded_coverage(prometheus, window)
    chosen: Split = split(window, by, coverage)
    count = len(buckets)
    nodes: dict[str, NodeHours] = {}
    described: list[str] = []
    usage = False
    node_allocated: dict[str, NodeHours] = {}
    levels: Split | None = None

    async def recorded_parts() -> list[Recorded]:
        nonlocal levels
        if chosen.recorded is None:
            return []
        whole = chosen.recorded
        derived = None if pools else await recorded_coverage(prometheus, whole, derived=True)
        levels = by_namespace(whole, derived, pools)
        parts = [(levels.before, False), (levels.recorded, True), (levels.after, False)]
        return list(
            await asyncio.gather(
                *(
                    (measure_namespaces if per_namespace else measure_recorded)(
                        prometheus, part, clip(buckets, part), count, progress
                    )
                    for part, per_namespace in parts
                    if part is not None
                )
            )
        )

    async def raw_part(raw: Window) -> tuple[list[tuple[int, Bucket]], Measured]:
        pieces = clip(buckets, raw)
        return pieces, await measure(prometheus, raw, [b for _, b in pieces], progress, owners)

    # The recorded and the raw parts are asked at once; their answers are added in order.
    recorded_answers, raw_answers = await asyncio.gather(
        recorded_parts(),
        asyncio.gather(*(raw_part(raw) for raw in (chosen.before, chosen.after) if raw)),
    )
    for recorded in recorded_answers:
        inputs.containers.extend(recorded.containers)
        _add_nodes(nodes, recorded.nodes)
        _add_nodes(node_allocated, recorded.node_allocated)
        usage = usage or recorded.used
    raws: list[Measured] = []
    for pieces, measured in raw_answers:
        sources = measured.sources
        if sources.requests is None and not sources.usage:
            continue
        described.append(sources.describe())
        usage = usage or sources.usage
        for container in measured.containers:
            container.cpu = _placed(container.cpu, pieces, count)
            container.memory = _placed(container.memory, pieces, count)
            container.gpu = _placed(container.gpu, pieces, count)
        for node in measured.nodes:
            node.cpu = _placed(node.cpu, pieces, count)
            node.memory = _placed(node.memory, pieces, count)
            node.gpu = _placed(node.gpu, pieces, count)
        inputs.containers.extend(measured.containers)
        _add_nodes(nodes, measured.nodes)
        raws.append(measured)
    known = current if isinstance(current, Mapping) else await current
    for measured in raws:
        _pods_from_prometheus(inputs, known, measured)
    if chosen.recorded is None and not described:
        inputs.notes.append(
            f"Prometheus at {url} has no container usage or request metrics for this "
            "window: cost is allocated from the requests of the pods running now, since "
            "they started."
        )
        return False
    for key, info in known.items():
        inputs.pods.setdefault(key, info)
    inputs.nodes = [nodes[name] for name in sorted(nodes)]
    inputs.node_allocated = [node_allocated[name] for name in sorted(node_allocated)]
    inputs.usage_measured = usage
    sources_text = "; ".join(dict.fromkeys(described))
    if chosen.recorded is None:
        inputs.notes.append(f"From Prometheus at {url}: {sources_text}; {chosen.note}.")
    else:
        also = f" (raw: {sources_text})" if sources_text else ""
        # How the recorded part was read, said beside it (before the raw parts).
        first, sep, rest = chosen.note.partition("; ")
        how = f" ({levels.note})" if levels is not None and levels.note else ""
        inputs.notes.append(f"From Prometheus at {url}: {first}{how}{sep}{rest}{also}.")
    if not usage:
        inputs.notes.append(
            "No usage metrics (container_cpu_usage_seconds_total, "
            "container_memory_working_set_bytes): allocation from requests alone."
        )
    return True


def _pods_from_prometheus(
    inputs: Inputs, current: Mapping[tuple[str, str], PodInfo], measured: Measured
) -> None:
    """Who each measured pod is: the API server's view when it still exists, else what
    Prometheus remembers (its node; its owner and labels from kube-state-metrics)."""
    for container in measured.containers:
        key = container.key
        if key in inputs.pods:
            continue
        info = current.get(key)
        node = measured.pod_nodes.get(key)
        if info is None:
            kind, name = measured.pod_owners.get(key, (None, None))
            info = PodInfo(
                key[0],
                key[1],
                node or None,
                measured.pod_labels.get(key, {}),
                kind or None,
                name or None,
            )
        elif info.node is None and node:
            info = PodInfo(
                info.namespace,
                info.name,
                node,
                info.labels,
                info.controller_kind,
                info.controller_name,
            )
        inputs.pods[key] = info


# -- decide -------------------------------------------------------------------------------------


async def cost_report(
    kube: Kube,
    platform: PlatformConfig,
    window: Window,
    by: str,
    share_idle: bool,
    prometheus_url: str | None,
    progress: Progress = _quiet,
    bucket: timedelta | None = None,
) -> Report:
    """The allocation over the window, grouped `by`."""
    buckets = window.buckets(bucket)
    owners = by == "controller" or by.startswith("label:")
    pools = bool(platform.spec.prices.node_pools)
    inputs = await gather_inputs(
        kube, window, buckets, prometheus_url, progress, owners, by=by, pools=pools
    )
    progress("allocating", 0, 1)
    result = aggregate(allocate(inputs, PriceBook(platform.spec.prices)), by, share_idle)
    progress("allocating", 1, 1)
    return result


@dataclass
class DayCost:
    """One tenant's cost over one whole day (with its idle share when idle is shared)."""

    total: Decimal
    idle_share: Decimal


@dataclass
class MonthCache:
    """Whole days of the month already measured, per tenant: a refresh measures only the
    last day. Lost with the process (the next refresh measures the month again); emptied
    when the month, the prices or the cost settings change."""

    key: tuple[str, int | None, int] | None = None
    days: dict[date, dict[str, DayCost]] = field(default_factory=dict)


def _groups(report: Report, bucket: int) -> dict[str, DayCost]:
    return {
        row.group: DayCost(
            row.buckets[bucket], row.idle_buckets[bucket] if row.idle_buckets else Decimal(0)
        )
        for row in report.rows
    }


async def month_figures(
    cluster: Cluster, platform: PlatformConfig, now: datetime, cache: MonthCache | None = None
) -> tuple[dict[str, MonthFigures], str]:
    """Every tenant's month so far (with its idle share when the platform shares idle),
    and where the figures come from, given the cluster as read now. With a `cache`, whole
    days measured before are not measured again."""
    settings = platform.spec.cost
    step = timedelta(minutes=settings.step_minutes)
    cache = cache if cache is not None else MonthCache()
    key = (month_start(now).strftime("%Y-%m"), platform.metadata.generation, settings.step_minutes)
    if cache.key != key:
        cache.key, cache.days = key, {}
    month = plan_month(now, step, cache.days.keys())
    book = PriceBook(platform.spec.prices)

    async def measured(window: Window, buckets: list[Bucket]) -> Report:
        inputs = await gather_inputs(
            None,
            window,
            buckets,
            settings.prometheus_url,
            owners=False,
            cluster=cluster,
            by="tenant",
            pools=bool(platform.spec.prices.node_pools),
        )
        return aggregate(allocate(inputs, book), "tenant", settings.share_idle)

    if month.days:
        first = datetime(month.days[0].year, month.days[0].month, month.days[0].day, tzinfo=UTC)
        window = Window(first, month.today, step, "days")
        report = await measured(window, window.buckets(DAY))
        for index, bucket in enumerate(report.inputs.buckets):
            cache.days[bucket.start.date()] = _groups(report, index)
    window = Window(month.recent[0].start, month.end, step, "recent")
    recent = await measured(window, list(month.recent))
    today = _groups(recent, len(month.recent) - 1)
    tenants = set(today) | {name for day in cache.days.values() for name in day}
    figures: dict[str, MonthFigures] = {}
    for name in tenants:
        past = [day[name] for day in cache.days.values() if name in day]
        now_ = today.get(name, DayCost(Decimal(0), Decimal(0)))
        row = next((r for r in recent.rows if r.group == name), None)
        figures[name] = MonthFigures(
            month_to_date=sum((d.total for d in past), now_.total),
            recent=sum(row.buckets, Decimal(0)) if row else Decimal(0),
            recent_hours=month.recent_hours,
            idle_share=sum((d.idle_share for d in past), now_.idle_share)
            if settings.share_idle
            else None,
        )
    return figures, source_summary(recent.inputs)


def source_summary(inputs: Inputs) -> str:
    """One line for status.cost.source."""
    return inputs.notes[0] if inputs.notes else ""
