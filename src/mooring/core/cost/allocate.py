"""Allocation: what each container, volume share and load-balancer share cost, and idle.

Pure. OpenCost's rules, in our words:
- a container costs its allocated resource-hours (max(request, usage) per sample, see
  `inputs.integrate`) times its node's rates;
- a PersistentVolumeClaim costs its requested GiB-hours at its StorageClass's price,
  split evenly among the pods that mount it (the whole namespace's when none does);
- a Service of type LoadBalancer costs its hours at the load-balancer price, split evenly
  among the pods it selects;
- idle is, per node and resource, the node's capacity cost minus what its containers were
  allocated; never negative: a node whose containers were given more than it has (usage
  above capacity) shows that excess as `overcommit` instead. Idle is reported apart.

The identity every report keeps: total = sum of the lines + idle, exactly (Decimal with
room enough that no sum rounds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from operator import add
from typing import Literal

from mooring.core.cost.inputs import ContainerHours, Inputs, NodeHours
from mooring.core.cost.rates import PriceBook, Rates

LineKind = Literal["container", "volume", "load-balancer"]
ZERO = Decimal(0)
# Sums of products of 17-digit measurements and prices stay exact with 60 digits.
MONEY = Context(prec=60)
UNMOUNTED = "(unmounted)"
NO_PODS = "(no pods)"


@contextmanager
def money() -> Iterator[None]:
    """Decimal arithmetic with room enough that no sum in a report rounds."""
    with localcontext(MONEY):
        yield


def dec(value: float) -> Decimal:
    """A measurement as the Decimal it prints as (no binary tail)."""
    return Decimal(repr(value))


@dataclass
class Line:
    """One charged thing over the window."""

    namespace: str
    pod: str
    name: str  # the container, the volume claim or the Service
    kind: LineKind
    node: str | None
    rates: Rates
    storage_class: str | None = None
    # Cost over the window, per resource.
    cpu: Decimal = ZERO
    memory: Decimal = ZERO
    gpu: Decimal = ZERO
    storage: Decimal = ZERO
    load_balancer: Decimal = ZERO
    # What was requested and what was used, at the same prices (CPU, memory and GPU for
    # containers; volumes and load balancers are used as they are requested: nobody
    # measures them here). None: a container's usage was not measured.
    requested: Decimal = ZERO
    used: Decimal | None = None
    # Resource-hours per bucket, for charts: vCPU, GiB, GPU, GiB of storage, balancer hours;
    # and the price of one hour of each.
    hours: dict[str, list[float]] = field(default_factory=dict)
    hourly: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return self.cpu + self.memory + self.gpu + self.storage + self.load_balancer


@dataclass
class Idle:
    """Capacity nobody was allocated, over the window (never negative)."""

    cpu: Decimal = ZERO
    memory: Decimal = ZERO
    gpu: Decimal = ZERO
    capacity: Decimal = ZERO  # what the nodes cost
    overcommit: Decimal = ZERO  # allocated beyond a node's capacity
    buckets: list[Decimal] = field(default_factory=list)
    known: bool = True  # False: no node capacity was available, idle is unknown

    @property
    def total(self) -> Decimal:
        return self.cpu + self.memory + self.gpu


@dataclass
class Allocation:
    inputs: Inputs
    currency: str
    lines: list[Line]
    idle: Idle

    @property
    def allocated(self) -> Decimal:
        with money():
            return sum((line.total for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        with money():
            return self.allocated + self.idle.total


def allocate(inputs: Inputs, book: PriceBook) -> Allocation:
    """Pure: price every container, volume share and load-balancer share; compute idle."""
    with money():
        nodes = {node.name: node for node in inputs.nodes}
        lines = [_container(c, inputs, nodes, book) for c in inputs.containers]
        for claim in inputs.claims:
            share = _split(
                book.storage_cost(claim.storage_class, dec(sum(claim.gib_hours))), claim.pods
            )
            for pod, cost in share:
                lines.append(
                    Line(
                        claim.namespace,
                        pod,
                        claim.name,
                        "volume",
                        _node_of(inputs, claim.namespace, pod),
                        book.default,
                        claim.storage_class,
                        storage=cost,
                        requested=cost,
                        used=cost,
                        hours={"storage": _divided(claim.gib_hours, len(claim.pods))},
                        hourly={"storage": book.storage_cost(claim.storage_class, Decimal(1))},
                    )
                )
        for balancer in inputs.balancers:
            total = dec(sum(balancer.hours)) * book.load_balancer_hour
            for pod, cost in _split(total, balancer.pods):
                lines.append(
                    Line(
                        balancer.namespace,
                        pod,
                        balancer.name,
                        "load-balancer",
                        _node_of(inputs, balancer.namespace, pod),
                        book.default,
                        load_balancer=cost,
                        requested=cost,
                        used=cost,
                        hours={"balancer": _divided(balancer.hours, len(balancer.pods))},
                        hourly={"balancer": book.load_balancer_hour},
                    )
                )
        idle = _idle(inputs, lines, book)
        return Allocation(inputs, book.currency, lines, idle)


def _node_of(inputs: Inputs, namespace: str, pod: str) -> str | None:
    info = inputs.pods.get((namespace, pod))
    return info.node if info else None


def _container(
    container: ContainerHours, inputs: Inputs, nodes: dict[str, NodeHours], book: PriceBook
) -> Line:
    node = container.node or _node_of(inputs, container.namespace, container.pod)
    known = nodes.get(node) if node else None
    rates = book.node(known.labels if known else None)
    cpu_hours, memory_hours, gpu_hours = (
        dec(sum(container.cpu)),
        dec(sum(container.memory)),
        dec(sum(container.gpu)),
    )
    gpu = gpu_hours * rates.gpu
    requested = (
        dec(container.cpu_requested) * rates.cpu
        + dec(container.memory_requested) * rates.memory
        + gpu
    )
    used = None
    if container.cpu_used is not None and container.memory_used is not None:
        used = dec(container.cpu_used) * rates.cpu + dec(container.memory_used) * rates.memory + gpu
    return Line(
        container.namespace,
        container.pod,
        container.container,
        "container",
        node,
        rates,
        cpu=cpu_hours * rates.cpu,
        memory=memory_hours * rates.memory,
        gpu=gpu,
        requested=requested,
        used=used,
        hours={"cpu": container.cpu, "memory": container.memory, "gpu": container.gpu},
        hourly={"cpu": rates.cpu, "memory": rates.memory, "gpu": rates.gpu},
    )


def _split(total: Decimal, pods: tuple[str, ...]) -> list[tuple[str, Decimal]]:
    """`total` in equal shares among `pods`; the last takes the remainder, so the shares
    add up to `total` exactly. No pods: one share for the namespace."""
    if not pods:
        return [(UNMOUNTED, total)]
    share = total / len(pods)
    shares = [(pod, share) for pod in pods[:-1]]
    shares.append((pods[-1], total - share * (len(pods) - 1)))
    return shares


def _divided(values: list[float], parts: int) -> list[float]:
    return [v / parts for v in values] if parts > 1 else list(values)


def _idle(inputs: Inputs, lines: list[Line], book: PriceBook) -> Idle:
    buckets = len(inputs.buckets)
    if not inputs.nodes:
        return Idle(buckets=[ZERO] * buckets, known=False)
    allocated: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"cpu": ZERO, "memory": ZERO, "gpu": ZERO}
    )
    per_bucket: dict[str, list[list[float]]] = defaultdict(
        lambda: [[0.0] * buckets for _ in range(3)]
    )
    for line in lines:
        if line.kind != "container" or line.node is None:
            continue
        sums = allocated[line.node]
        sums["cpu"] += line.cpu
        sums["memory"] += line.memory
        sums["gpu"] += line.gpu
        hours = per_bucket[line.node]
        for index, resource in enumerate(("cpu", "memory", "gpu")):
            hours[index] = list(map(add, hours[index], line.hours[resource]))
    # Containers given per namespace (no node): their allocation per node, priced as a
    # line on that node would be.
    known = {node.name: node for node in inputs.nodes}
    for given in inputs.node_allocated:
        if not given.name:
            continue  # measured on no known node: not in any node's idle, as lines
        node_rates = book.node(known[given.name].labels if given.name in known else None)
        sums = allocated[given.name]
        sums["cpu"] += dec(sum(given.cpu)) * node_rates.cpu
        sums["memory"] += dec(sum(given.memory)) * node_rates.memory
        sums["gpu"] += dec(sum(given.gpu)) * node_rates.gpu
        hours = per_bucket[given.name]
        for index, values in enumerate((given.cpu, given.memory, given.gpu)):
            hours[index] = list(map(add, hours[index], values))
    idle = Idle(buckets=[ZERO] * buckets)
    for node in inputs.nodes:
        rates = book.node(node.labels)
        used = allocated.get(node.name, {"cpu": ZERO, "memory": ZERO, "gpu": ZERO})
        node_hours = per_bucket.get(node.name, [[0.0] * buckets for _ in range(3)])
        for index, (resource, capacity, rate) in enumerate(
            (
                ("cpu", node.cpu, rates.cpu),
                ("memory", node.memory, rates.memory),
                ("gpu", node.gpu, rates.gpu),
            )
        ):
            cost = dec(sum(capacity)) * rate
            idle.capacity += cost
            left = cost - used[resource]
            if left < 0:
                idle.overcommit -= left
                left = ZERO
            setattr(idle, resource, getattr(idle, resource) + left)
            for b in range(buckets):
                spare = dec(capacity[b] - node_hours[index][b]) * rate
                if spare > 0:
                    idle.buckets[b] += spare
    return idle
