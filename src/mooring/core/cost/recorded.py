"""Allocation pre-aggregated by Prometheus recording rules, and when reports may read it.

Pure: rule text and query text in, the choice of path out.

A report over 30 days for 10,000 containers cannot be asked of raw samples within seconds
(tens of millions of samples through `[30d:1h]` subqueries). Production cost tools keep
coarse aggregates instead; Mooring ships recording rules that keep them in Prometheus:

- one group, `mooring-cost-<step>`, evaluated every `step` (1h by default, the default
  `spec.cost.stepMinutes`);
- each rule records, per namespace and node, the figure the raw path computes for one
  sample (per container: max(request, usage), requested, used; per pod where requests
  are only the kube-scheduler's), for CPU (cores), memory (GiB) and GPUs; and the nodes'
  capacity. One sample stands for one step: resource-hours = value x step in hours. The
  step is in the rule's name (`...:1h`), so a report at another step never reads it.
- the sample a rule writes at time t stands for the step ending at the last multiple of
  the step at or before t - step/2 (the expression reads that instant through
  `last_over_time((...)[step:step] offset step/2)`: subquery points are aligned to
  multiples of the step since the epoch). So whatever offset Prometheus gives the group
  (a hash of its name), and whatever start promtool's backfill is given, each step is
  recorded once, at the same aligned instants as the raw path's samples, with the same
  expression: the figures are the raw path's exactly. The half step keeps the aligned
  evaluations of a backfill (offset 0) away from the edges the reads use.
- a heartbeat, `mooring_cost:step_end_seconds:<step>`, holds the end of the step each
  evaluation stood for: reports find which steps are recorded from it (once each, none
  missing), and read the recorded series for those steps only.
- after them in the same group, the derived rules: the same figures summed per namespace
  (allocated, requested, used) and per node (allocated, for idle), read from the samples
  the rules above wrote in the same evaluation (Prometheus evaluates a group's rules in
  order; a later rule sees an earlier one's samples), with a heartbeat of their own,
  `mooring_cost:namespace_step_end_seconds:<step>`. Where every node is priced alike (no
  node pools), a report reads them: a tenth of the series. Older histories without them
  are read per namespace and node, step range by step range, as before.

Which source of requests: kube-state-metrics' per container where it is scraped at that
instant, else the kube-scheduler's per pod (the raw path decides once per window; both
agree while the sources do not change within the window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mooring.core.cost.promql import (
    CONTAINERS,
    CPU_USAGE,
    GIB_BYTES,
    KSM_CAPACITY,
    KSM_POD_INFO,
    KSM_REQUESTS,
    KSM_RUNNING,
    MEMORY_USAGE,
    SCHEDULER_REQUESTS,
    Quantity,
    left_open,
)
from mooring.core.cost.window import HOUR, Bucket, Window, format_duration

Rule = dict[str, Any]
Group = dict[str, Any]
# Groupings whose rows are namespaces or namespace labels: the recorded series serve them.
NAMESPACE_GROUPINGS = ("namespace", "tenant", "environment", "cost-center")
KINDS = ("allocated", "requested", "used")
RESOURCE_LABEL = {"cpu": "cpu", "memory": "memory", "gpu": "gpu"}


def group_name(step: timedelta) -> str:
    return f"mooring-cost-{format_duration(step)}"


def metric(kind: str, step: timedelta, level: str | None = None) -> str:
    """`namespace_node:mooring_cost_allocated:1h` (allocated, requested or used) and
    `node:mooring_cost_capacity:1h`; with `level` "namespace" or "node", the derived sums
    (`namespace:mooring_cost_allocated:1h`, `node:mooring_cost_allocated:1h`)."""
    if level is None:
        level = "node" if kind == "capacity" else "namespace_node"
    return f"{level}:mooring_cost_{kind}:{format_duration(step)}"


def heartbeat(step: timedelta, derived: bool = False) -> str:
    """The base rules' heartbeat, or (`derived`) the per-namespace rules'."""
    name = "namespace_step_end_seconds" if derived else "step_end_seconds"
    return f"mooring_cost:{name}:{format_duration(step)}"


# -- the rules ---------------------------------------------------------------------------------


def _aligned(expression: str, step: timedelta) -> str:
    """The value `expression` has at the last multiple of `step` at or before t - step/2."""
    whole, half = format_duration(step), format_duration(step / 2)
    return f"last_over_time(({expression})[{whole}:{whole}] offset {half})"


def _usage(quantity: Quantity, step: timedelta) -> str:
    """Per container at a sample, as `promql.Queries.usage` (one series even when two jobs
    scrape the same kubelet)."""
    window = left_open(step)
    if quantity == "cpu":
        inner = f"rate({CPU_USAGE}{{{CONTAINERS}}}[{window}])"
    else:
        inner = f"avg_over_time({MEMORY_USAGE}{{{CONTAINERS}}}[{window}]) / {GIB_BYTES}"
    return f"max by (namespace, pod, container) ({inner})"


def _ksm_request(quantity: Quantity) -> str:
    resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia_com_gpu"}[quantity]
    scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
    by = "namespace, pod, container"
    return (
        f'max by ({by}) ({KSM_REQUESTS}{{resource="{resource}"}}){scale} '
        f"and on ({by}) (max by ({by}) ({KSM_RUNNING}) == 1)"
    )


def _scheduler_request(quantity: Quantity) -> str:
    resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia.com/gpu"}[quantity]
    scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
    return (
        f'max by (namespace, pod) ({SCHEDULER_REQUESTS}{{resource="{resource}",node!=""}}){scale}'
    )


def _larger(request: str, use: str | None, by: str) -> str:
    """max(request, usage) per series, either alone when the other is missing: the raw
    path's `(U > R) or R or U`, with each side evaluated once (marked apart, then the
    larger of the two per key)."""
    if use is None:
        return request
    return (
        f'max by ({by}) (label_replace({use}, "mooring_side", "used", "", "") '
        f'or label_replace({request}, "mooring_side", "requested", "", ""))'
    )


def _per_sample(kind: str, quantity: Quantity, step: timedelta) -> str:
    """One sample's figure per container (kube-state-metrics present) or per pod."""
    use = None if quantity == "gpu" else _usage(quantity, step)
    pod_use = None if use is None else f"sum by (namespace, pod) ({use})"
    ksm, scheduler = _ksm_request(quantity), _scheduler_request(quantity)
    if kind == "allocated":
        per_container = _larger(ksm, use, "namespace, pod, container")
        per_pod = _larger(scheduler, pod_use, "namespace, pod")
    elif kind == "requested":
        per_container, per_pod = ksm, scheduler
    else:
        assert use is not None and pod_use is not None
        per_container, per_pod = use, pod_use
    present = f"group({KSM_REQUESTS})"
    return f"(({per_container}) and on () {present}) or (({per_pod}) unless on () {present})"


def _with_node(expression: str, step: timedelta) -> str:
    """Each series given its pod's node (kube-state-metrics' kube_pod_info, else the
    scheduler's metric; one node per pod even if a pod's name moved within the step),
    summed per namespace and node. A pod of no known node (measured, requesting nothing,
    without kube-state-metrics) is kept with no node, as the raw path keeps it."""
    window = left_open(step)
    nodes = (
        f'group by (namespace, pod, node) (last_over_time({KSM_POD_INFO}{{node!=""}}[{window}])) '
        "or on (namespace, pod) group by (namespace, pod, node) "
        f'(last_over_time({SCHEDULER_REQUESTS}{{node!=""}}[{window}]))'
    )
    unplaced = f"group by (namespace, pod) (last_over_time({CPU_USAGE}{{{CONTAINERS}}}[{window}]))"
    node = f"topk by (namespace, pod) (1, {nodes}) or on (namespace, pod) {unplaced}"
    placed = f"({expression}) * on (namespace, pod) group_left (node) ({node})"
    return f"sum by (namespace, node) ({placed})"


def _capacity(quantity: Quantity) -> str:
    resource = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia_com_gpu"}[quantity]
    scale = f" / {GIB_BYTES}" if quantity == "memory" else ""
    return f'max by (node) ({KSM_CAPACITY}{{resource="{resource}"}}){scale}'


@dataclass(frozen=True)
class Recording:
    """One rule: the series it records, the labels it adds, and what it records for the
    step ending at P: `expression` evaluated at P (the rule reads it through `_aligned`).
    `derived`: a rule over the base rules' series, whose expression is evaluated at the
    instant the rule records (it reads the samples written in the same evaluation)."""

    record: str
    labels: tuple[tuple[str, str], ...]
    expression: str
    derived: bool = False

    def rule(self, step: timedelta) -> Rule:
        expression = self.expression if self.derived else _aligned(self.expression, step)
        rule: Rule = {"record": self.record, "expr": expression}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


def recordings(step: timedelta = HOUR) -> list[Recording]:
    """Pure: what the rules of one step record (see the module's docstring), heartbeat
    first, the rules of one series name next to each other."""
    found = [Recording(heartbeat(step), (), "vector(time())")]
    quantities: tuple[Quantity, ...] = ("cpu", "memory", "gpu")
    for kind in KINDS:
        for quantity in quantities:
            if quantity == "gpu" and kind != "allocated":
                continue  # GPUs are charged as requested: allocated is requested
            found.append(
                Recording(
                    metric(kind, step),
                    (("resource", RESOURCE_LABEL[quantity]),),
                    _with_node(_per_sample(kind, quantity, step), step),
                )
            )
    for quantity in quantities:
        found.append(
            Recording(
                metric("capacity", step),
                (("resource", RESOURCE_LABEL[quantity]),),
                _capacity(quantity),
            )
        )
    return found


def derived_recordings(step: timedelta = HOUR) -> list[Recording]:
    """Pure: the rules over the base rules' series, evaluated after them in the same group:
    per namespace (allocated, requested, used) and per node (allocated, for idle: idle is
    clamped per node), heartbeat first. Each reads the base sample of its own evaluation
    (`last_over_time` over half a step: that sample and no earlier one, whatever the
    lookback and the left edge of Prometheus 2 and 3), so a backfill evaluating them at the
    base samples' instants records what the rules record."""
    half = format_duration(step / 2)

    def latest(name: str) -> str:
        return f"last_over_time({name}[{half}])"

    found = [Recording(heartbeat(step, derived=True), (), latest(heartbeat(step)), True)]
    for kind in KINDS:
        found.append(
            Recording(
                metric(kind, step, "namespace"),
                (),
                f"sum by (namespace, resource) ({latest(metric(kind, step))})",
                True,
            )
        )
    found.append(
        Recording(
            metric("allocated", step, "node"),
            (),
            f"sum by (node, resource) ({latest(metric('allocated', step))})",
            True,
        )
    )
    return found


def rules(step: timedelta = HOUR) -> list[Rule]:
    """Pure: the recording rules of one step, the base rules first, the derived ones after
    them (they read the base rules' samples of the same evaluation)."""
    return [r.rule(step) for r in (*recordings(step), *derived_recordings(step))]


def rule_group(step: timedelta = HOUR) -> Group:
    return {"name": group_name(step), "interval": format_duration(step), "rules": rules(step)}


def rule_file(step: timedelta = HOUR) -> dict[str, Any]:
    """A Prometheus rule file holding the group (for `rule_files:` or promtool)."""
    return {"groups": [rule_group(step)]}


# -- which steps are recorded --------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What the heartbeat says about a window: the first and last step ends recorded in it
    (Unix seconds) and how many samples it holds."""

    first: int | None
    last: int | None
    count: int


def coverage_queries(window: Window, derived: bool = False) -> tuple[dict[str, str], datetime]:
    """The heartbeat's first, last and count over the window, and when to ask (`derived`:
    the per-namespace rules' heartbeat)."""
    span = f"{int((window.end - window.start).total_seconds())}s"
    name = heartbeat(window.step, derived)
    return (
        {
            "first": f"min_over_time({name}[{span}])",
            "last": f"max_over_time({name}[{span}])",
            "count": f"count_over_time({name}[{span}])",
        },
        read_at(window.end, window.step),
    )


def read_at(end: datetime, step: timedelta) -> datetime:
    """When to read the samples of the steps ending up to `end`: one and a half steps
    later (a step ending at P is recorded at an instant in [P + step/2, P + 3 step/2))."""
    return end + step + step / 2


@dataclass(frozen=True)
class Split:
    """How a window is measured: raw before, recorded, raw after (any may be None), and
    why, in one line for the report's source."""

    before: Window | None
    recorded: Window | None
    after: Window | None
    note: str


def _cover(window: Window, coverage: Coverage | None) -> Split | str:
    """The part of `window` a heartbeat's coverage records (note empty), or why none."""
    if coverage is None or coverage.count == 0 or coverage.first is None or coverage.last is None:
        return "none"
    step = int(window.step.total_seconds())
    expected = (coverage.last - coverage.first) // step + 1
    if coverage.count != expected or (coverage.last - coverage.first) % step:
        reason = "recorded more than once" if coverage.count > expected else "with gaps"
        return f"{reason}: {coverage.count} samples of {{heartbeat}} for {expected} steps"
    first = datetime.fromtimestamp(coverage.first, UTC) - window.step  # first recorded start
    last = datetime.fromtimestamp(coverage.last, UTC)
    first, last = max(first, window.start), min(last, window.end)
    if last <= first:
        return "outside"
    before = Window(window.start, first, window.step, window.text) if first > window.start else None
    after = Window(last, window.end, window.step, window.text) if last < window.end else None
    return Split(before, Window(first, last, window.step, window.text), after, "")


def split(window: Window, by: str, coverage: Coverage | None) -> Split:
    """Pure: which part of the window the recorded series measure. `coverage` None: the
    Prometheus has no recorded series for the window's step."""
    raw = Split(window, None, None, "")
    if not by:
        return _note(raw, "raw queries")
    if by not in NAMESPACE_GROUPINGS:
        return _note(
            raw,
            f"raw queries (--by {by} needs pods and containers; recorded "
            "series are per namespace and node)",
        )
    covered = _cover(window, coverage)
    if covered == "none":
        return _note(
            raw,
            f"raw queries (no recorded series {metric('allocated', window.step)} for the "
            "window: install the cost recording rules and backfill them, docs/cost.md)",
        )
    if covered == "outside":
        return _note(raw, "raw queries (no step of the window is recorded)")
    if isinstance(covered, str):
        reason = covered.format(heartbeat=heartbeat(window.step))
        return _note(
            raw,
            f"raw queries (the recorded steps are {reason}; "
            "a backfill that overlaps the rules' own evaluations counts twice)",
        )
    before, recorded, after = covered.before, covered.recorded, covered.after
    assert recorded is not None
    parts = [
        f"recorded series (Mooring's cost rules, {group_name(window.step)}) for {_range(recorded)}"
    ]
    if before:
        parts.append(f"raw queries for {_range(before)} (before the rules' history)")
    if after:
        parts.append(f"raw queries for {_range(after)} (not recorded yet)")
    return Split(before, recorded, after, "; ".join(parts))


def by_namespace(recorded: Window, coverage: Coverage | None, pools: bool) -> Split:
    """Pure: which part of the recorded window the per-namespace series measure (`recorded`
    of the answer); the rest (`before`, `after`) is read per namespace and node. `pools`:
    node pools price nodes apart, so a namespace's cost depends on its nodes: none."""
    whole = Split(recorded, None, None, "")
    if pools:
        return _note(whole, "per namespace and node (node pools price nodes apart)")
    covered = _cover(recorded, coverage)
    if covered in ("none", "outside"):
        name = metric("allocated", recorded.step, "namespace")
        return _note(
            whole,
            f"per namespace and node (no per-namespace series {name}: rules older than "
            "them, docs/cost.md)",
        )
    if isinstance(covered, str):
        return _note(
            whole,
            "per namespace and node (the per-namespace steps are "
            f"{covered.format(heartbeat=heartbeat(recorded.step, derived=True))})",
        )
    assert covered.recorded is not None
    parts = [f"per namespace for {_range(covered.recorded)}"]
    for part in (covered.before, covered.after):
        if part:
            parts.append(f"per namespace and node for {_range(part)}")
    return Split(covered.before, covered.recorded, covered.after, ", ".join(parts))


def _note(value: Split, note: str) -> Split:
    return Split(value.before, value.recorded, value.after, note)


def _range(window: Window) -> str:
    return window.describe().split(" (step")[0]


def clip(buckets: Sequence[Bucket], part: Window) -> list[tuple[int, Bucket]]:
    """The buckets' pieces inside `part`, with the index of the bucket each comes from."""
    pieces: list[tuple[int, Bucket]] = []
    for index, bucket in enumerate(buckets):
        start, end = max(bucket.start, part.start), min(bucket.end, part.end)
        if start < end:
            pieces.append((index, Bucket(start, end)))
    return pieces


# -- reading the recorded series --------------------------------------------------------------


def hours(kind: str, span: timedelta, step: timedelta, level: str | None = None) -> str:
    """Resource-hours per series and resource over the `span` of steps read at `read_at`
    (one sample per step: the sum of the samples times the step in hours). `level`: as
    for `metric`."""
    step_hours = step.total_seconds() / 3600
    factor = "" if step_hours == 1 else f" * {step_hours!r}"
    name = metric(kind, step, level)
    return f"sum_over_time({name}[{int(span.total_seconds())}s]){factor}"


# -- backfilling the rules' history ------------------------------------------------------------


def evaluations(start: datetime, end: datetime, step: timedelta) -> list[int]:
    """Pure: the instants (Unix seconds) a backfill over [start, end] records, as the
    rules evaluated at offset 0 would: every multiple of `step` in it. The sample at t
    stands for the step ending at t - step (the middle of the half-open span of instants
    that record it, `[P + step/2, P + 3 step/2)`, away from the edges the reads use)."""
    size = int(step.total_seconds())
    first = -(-int(start.timestamp()) // size) * size
    return list(range(first, int(end.timestamp()) + 1, size))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_text(name: str, labels: Sequence[tuple[str, str]]) -> str:
    """`name{label="value",...}` as OpenMetrics (and Prometheus's text format) write it."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels))
    return f"{name}{{{inner}}}"
