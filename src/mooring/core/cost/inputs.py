"""What allocation takes in: resource-hours per container and bucket, node capacity, volume
claims and load balancers, and who is who (pods, namespaces). And the per-sample rule.

Pure data. Quantities are measurements (floats, as Prometheus gives them); money is made of
them only by `allocate`, in Decimal.

The rule (OpenCost's): at every sample, a container is allocated the larger of what it
requests and what it uses; allocated resource-hours are the sum over samples of that
maximum times the step. `integrate` is the rule over samples; the PromQL in `promql.py`
says the same to Prometheus (and a test holds the two to the same figures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mooring.core.cost.window import Bucket, Window

Key = tuple[str, str]  # (namespace, pod)


@dataclass
class ContainerHours:
    """One container (or a whole pod, when requests are known per pod only: container "";
    or all of a namespace's containers on one node, from the recorded series: pod "")."""

    namespace: str
    pod: str
    container: str
    cpu: list[float]  # allocated vCPU-hours per bucket: sum of max(request, usage) x step
    memory: list[float]  # allocated GiB-hours per bucket
    gpu: list[float]  # GPU-hours per bucket (requested: GPUs are not shared)
    cpu_requested: float = 0.0  # vCPU-hours over the window
    cpu_used: float | None = None  # None: no usage measured
    memory_requested: float = 0.0  # GiB-hours over the window
    memory_used: float | None = None
    # The node, when known without the pod (recorded series are per namespace and node:
    # pod and container are then ""). Per namespace (pod "", node None): the namespace's
    # containers on every node, whose allocation per node is in `Inputs.node_allocated`.
    node: str | None = None

    @property
    def key(self) -> Key:
        return (self.namespace, self.pod)


@dataclass
class NodeHours:
    """A node's capacity over each bucket (resource-hours it could give)."""

    name: str
    labels: dict[str, str]
    cpu: list[float]  # vCPU-hours
    memory: list[float]  # GiB-hours
    gpu: list[float]  # GPU-hours


@dataclass
class ClaimHours:
    """A PersistentVolumeClaim: its requested size over time, split among mounting pods."""

    namespace: str
    name: str
    storage_class: str | None
    gib_hours: list[float]
    pods: tuple[str, ...] = ()


@dataclass
class BalancerHours:
    """A Service of type LoadBalancer: its hours, split among the pods it selects."""

    namespace: str
    name: str
    hours: list[float]
    pods: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodInfo:
    """Who a pod is: its node, labels and controller (Deployment, StatefulSet, ...)."""

    namespace: str
    name: str
    node: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    controller_kind: str | None = None
    controller_name: str | None = None


@dataclass
class Inputs:
    """Everything allocation needs for one window."""

    window: Window
    buckets: list[Bucket]
    containers: list[ContainerHours] = field(default_factory=list)
    nodes: list[NodeHours] = field(default_factory=list)
    # Allocated resource-hours per node and bucket of the containers listed without their
    # node (the recorded series per namespace): what idle subtracts per node.
    node_allocated: list[NodeHours] = field(default_factory=list)
    claims: list[ClaimHours] = field(default_factory=list)
    balancers: list[BalancerHours] = field(default_factory=list)
    pods: dict[Key, PodInfo] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    # Where the figures come from and what they leave out, said plainly in every report.
    notes: list[str] = field(default_factory=list)
    usage_measured: bool = False


@dataclass(frozen=True)
class Integral:
    """Resource-hours of one container over a run of samples."""

    allocated: float
    requested: float
    used: float | None


def integrate(
    requests: Sequence[float | None], usage: Sequence[float | None], step_hours: float
) -> Integral:
    """Pure: the rule over samples. A sample without a request counts as requesting 0, one
    without usage as using 0 (a container that is not there uses nothing)."""
    if len(requests) != len(usage):
        raise ValueError("requests and usage must have one value per sample")
    allocated = requested = used = 0.0
    measured = False
    for request, use in zip(requests, usage, strict=True):
        request_value = request or 0.0
        use_value = use or 0.0
        measured = measured or use is not None
        allocated += max(request_value, use_value) * step_hours
        requested += request_value * step_hours
        used += use_value * step_hours
    return Integral(allocated, requested, used if measured else None)
