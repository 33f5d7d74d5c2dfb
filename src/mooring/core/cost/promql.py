"""The PromQL that measures allocation, and the reading of Prometheus's answers.

Pure: text in, text out. The queries are the ones a production Prometheus answers:
- usage from cAdvisor / the kubelet's resource metrics: `container_cpu_usage_seconds_total`
  (a rate over each step) and `container_memory_working_set_bytes` (averaged over it);
- requests from kube-state-metrics (`kube_pod_container_resource_requests`, per container,
  running containers only) where present, else from the kube-scheduler's
  `/metrics/resources` (`kube_pod_resource_request`, per pod: the rule then applies per pod);
- node capacity from kube-state-metrics (`kube_node_status_capacity`) where present.

The rule of `inputs.integrate` in PromQL: at each sample, `(usage > request) or request or
usage` is the larger of the two (either alone when the other is missing), and
`sum_over_time(...[bucket:step])` times the step in hours adds the samples of a bucket
into resource-hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from mooring.core.cost.window import Bucket, format_duration

GIB_BYTES = 2**30
KSM_REQUESTS = "kube_pod_container_resource_requests"
KSM_RUNNING = "kube_pod_container_status_running"
KSM_CAPACITY = "kube_node_status_capacity"
KSM_POD_INFO = "kube_pod_info"
KSM_POD_OWNER = "kube_pod_owner"
KSM_POD_LABELS = "kube_pod_labels"
SCHEDULER_REQUESTS = "kube_pod_resource_request"
CPU_USAGE = "container_cpu_usage_seconds_total"
MEMORY_USAGE = "container_memory_working_set_bytes"
# The pod cgroup ("") and the pause container ("POD") are not containers people run.
CONTAINERS = 'container!="",container!="POD"'
RequestSource = Literal["kube-state-metrics", "kube-scheduler"]
Quantity = Literal["cpu", "memory", "gpu"]


@dataclass(frozen=True)
class Sources:
    """Which of the metrics Prometheus has for the window."""

    requests: RequestSource | None
    usage: bool
    node_capacity: bool
    pod_owners: bool  # kube-state-metrics' kube_pod_owner / kube_pod_labels

    @property
    def per_container(self) -> bool:
        return self.requests != "kube-scheduler"

    @property
    def key_labels(self) -> tuple[str, ...]:
        return ("namespace", "pod", "container") if self.per_container else ("namespace", "pod")

    def describe(self) -> str:
        usage = "usage from cAdvisor/kubelet metrics" if self.usage else "no usage metrics"
        requests = {
            "kube-state-metrics": "requests per container from kube-state-metrics",
            "kube-scheduler": "requests per pod from the kube-scheduler (max(request, usage) "
            "per pod)",
            None: "no request metrics",
        }[self.requests]
        return f"{usage}; {requests}"


def detect(names: Iterable[str]) -> Sources:
    """Sources from the metric names Prometheus holds for the window."""
    present = set(names)
    requests: RequestSource | None = None
    if KSM_REQUESTS in present:
        requests = "kube-state-metrics"
    elif SCHEDULER_REQUESTS in present:
        requests = "kube-scheduler"
    return Sources(
        requests=requests,
        usage=CPU_USAGE in present and MEMORY_USAGE in present,
        node_capacity=KSM_CAPACITY in present,
        pod_owners=KSM_POD_OWNER in present,
    )


def left_open(span: timedelta) -> str:
    """A range of `span` that leaves out its left edge: (t - span, t]. Prometheus 2 counts
    a sample exactly at t - span (3 does not); one second less means the same everywhere,
    so that a sample belongs to one step and one bucket only."""
    return f"{int(span.total_seconds()) - 1}s"


class Queries:
    """Instant-vector expressions, one value per container (or pod) per sample."""

    def __init__(self, sources: Sources, step: timedelta) -> None:
        self.sources = sources
        self.step = step
        self.by = ", ".join(sources.key_labels)

    # -- per sample ---------------------------------------------------------------------------

    def usage(self, quantity: Quantity) -> str | None:
        if not self.sources.usage or quantity == "gpu":
            return None
        window = left_open(self.step)
        if quantity == "cpu":
            inner = f"rate({CPU_USAGE}{{{CONTAINERS}}}[{window}])"
        else:
            inner = f"avg_over_time({MEMORY_USAGE}{{{CONTAINERS}}}[{window}]) / {GIB_BYTES}"
        # One series per container even when two jobs scrape the same kubelet.
        per_container = f"max by (namespace, pod, container) ({inner})"
        if self.sources.per_container:
            return per_container
        return f"sum by (namespace, pod) ({per_container})"

    def request(self, quantity: Quantity) -> str | None:
        source = self.sources.requests
        if source == "kube-state-metrics":
            resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia_com_gpu"}[quantity]
            scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
            return (
                f'max by ({self.by}) ({KSM_REQUESTS}{{resource="{resource}"}}){scale} '
                f"and on ({self.by}) (max by ({self.by}) ({KSM_RUNNING}) == 1)"
            )
        if source == "kube-scheduler":
            resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia.com/gpu"}[quantity]
            scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
            return (
                f'max by ({self.by}) ({SCHEDULER_REQUESTS}{{resource="{resource}",node!=""}})'
                f"{scale}"
            )
        return None

    def allocated(self, quantity: Quantity) -> str | None:
        """max(request, usage) per sample; either alone when the other is missing."""
        request, use = self.request(quantity), self.usage(quantity)
        if request is None:
            return use
        if use is None:
            return request
        return f"(({use}) > ({request})) or ({request}) or ({use})"

    def capacity(self, quantity: Quantity) -> str | None:
        if not self.sources.node_capacity:
            return None
        resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia_com_gpu"}[quantity]
        scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
        return f'max by (node) ({KSM_CAPACITY}{{resource="{resource}"}}){scale}'

    # -- over time -------------------------------------------------------------------------------

    def hours(self, expression: str, span: timedelta) -> str:
        """Resource-hours over the `span` before the evaluation time: the sum of its samples
        (one per step, the one at the span's start left out) times the step in hours."""
        step_hours = self.step.total_seconds() / 3600
        factor = "" if step_hours == 1 else f" * {step_hours!r}"
        return (
            f"sum_over_time(({expression})[{left_open(span)}:{format_duration(self.step)}]){factor}"
        )

    # -- who is who ------------------------------------------------------------------------------

    def pod_nodes(self, span: timedelta) -> str | None:
        """Each pod's node over the window, as (namespace, pod, node) with value 1."""
        window = format_duration(span)
        if self.sources.requests == "kube-state-metrics":
            metric = f'{KSM_POD_INFO}{{node!=""}}'
        elif self.sources.requests == "kube-scheduler":
            metric = f'{SCHEDULER_REQUESTS}{{node!=""}}'
        else:
            return None
        return f"max by (namespace, pod, node) (last_over_time({metric}[{window}]))"

    def pod_owners(self, span: timedelta) -> str | None:
        if not self.sources.pod_owners:
            return None
        return (
            "max by (namespace, pod, owner_kind, owner_name) (last_over_time("
            f'{KSM_POD_OWNER}{{owner_is_controller="true"}}[{format_duration(span)}]))'
        )

    def pod_labels(self, span: timedelta) -> str | None:
        if not self.sources.pod_owners:
            return None
        return f"last_over_time({KSM_POD_LABELS}[{format_duration(span)}])"


# -- plans: which queries cover the buckets ----------------------------------------------------


@dataclass(frozen=True)
class RangePlan:
    """Buckets of equal length as one range query (points at each bucket's end)."""

    first: int  # index of the first bucket covered
    count: int
    span: timedelta  # each bucket's length

    def params(self, buckets: Sequence[Bucket]) -> dict[str, str]:
        start = buckets[self.first].end
        end = buckets[self.first + self.count - 1].end
        return {
            "start": str(int(start.timestamp())),
            "end": str(int(end.timestamp())),
            "step": str(int(self.span.total_seconds())),
        }


def plan(buckets: Sequence[Bucket]) -> list[RangePlan]:
    """Runs of consecutive buckets of the same length (usually one run and a shorter tail)."""
    plans: list[RangePlan] = []
    for index, bucket in enumerate(buckets):
        span = bucket.end - bucket.start
        if plans and plans[-1].span == span and plans[-1].first + plans[-1].count == index:
            last = plans[-1]
            plans[-1] = RangePlan(last.first, last.count + 1, span)
        else:
            plans.append(RangePlan(index, 1, span))
    return plans


# -- answers -----------------------------------------------------------------------------------


def series_key(metric: Mapping[str, str], labels: Sequence[str]) -> tuple[str, ...]:
    return tuple(metric.get(label, "") for label in labels)


def read_buckets(
    result: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    run: RangePlan,
    buckets: Sequence[Bucket],
    into: dict[tuple[str, ...], list[float]],
) -> None:
    """Add a range (matrix) or instant (vector) answer for `run` into per-bucket values."""
    ends = {int(buckets[run.first + i].end.timestamp()): run.first + i for i in range(run.count)}
    count = len(buckets)
    for series in result:
        key = series_key(series.get("metric") or {}, labels)
        values = into.get(key)
        if values is None:
            values = into[key] = [0.0] * count
        points = series.get("values")
        if points is None:
            points = [series["value"]]
        for stamp, text in points:
            index = ends.get(int(float(stamp)))
            if index is None:
                continue
            value = float(text)
            if value == value:  # NaN (an empty subquery) adds nothing
                values[index] += value


def read_vector(
    result: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[tuple[str, ...], float]:
    values: dict[tuple[str, ...], float] = {}
    for series in result:
        value = float(series["value"][1])
        if value == value:
            key = series_key(series.get("metric") or {}, labels)
            values[key] = values.get(key, 0.0) + value
    return values
