"""The cost recording rules' text and which part of a window a report reads from them.

Pure. The rules' figures against a real Prometheus: tests/services/test_cost_recorded.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mooring.core.cost.recorded import (
    NAMESPACE_GROUPINGS,
    Coverage,
    by_namespace,
    clip,
    derived_recordings,
    group_name,
    heartbeat,
    hours,
    metric,
    read_at,
    recordings,
    rule_group,
    rules,
    split,
)
from mooring.core.cost.window import HOUR, Bucket, Window

START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=2), HOUR, "2d")


def step_end(hours_after_start: int) -> int:
    return int((START + timedelta(hours=hours_after_start)).timestamp())


def covered(first: int, last: int, count: int | None = None) -> Coverage:
    return Coverage(step_end(first), step_end(last), last - first + 1 if count is None else count)


# -- the rules -----------------------------------------------------------------------------------


def test_the_group_runs_every_step_and_every_name_carries_the_step() -> None:
    group = rule_group(timedelta(minutes=5))
    assert (group["name"], group["interval"]) == ("mooring-cost-5m", "5m")
    assert {r["record"].rsplit(":", 1)[1] for r in group["rules"]} == {"5m"}


def test_every_base_rule_reads_the_aligned_instant_half_a_step_back() -> None:
    for rule in (r.rule(HOUR) for r in recordings(HOUR)):
        assert rule["expr"].startswith("last_over_time((")
        assert rule["expr"].endswith(")[1h:1h] offset 30m)"), rule["record"]


def test_the_rules_record_allocated_requested_used_and_capacity_per_resource() -> None:
    base = [r.rule(HOUR) for r in recordings(HOUR)]
    recorded = {(r["record"], r.get("labels", {}).get("resource")) for r in base}
    assert recorded == {
        ("mooring_cost:step_end_seconds:1h", None),
        ("namespace_node:mooring_cost_allocated:1h", "cpu"),
        ("namespace_node:mooring_cost_allocated:1h", "memory"),
        ("namespace_node:mooring_cost_allocated:1h", "gpu"),
        ("namespace_node:mooring_cost_requested:1h", "cpu"),
        ("namespace_node:mooring_cost_requested:1h", "memory"),
        ("namespace_node:mooring_cost_used:1h", "cpu"),
        ("namespace_node:mooring_cost_used:1h", "memory"),
        ("node:mooring_cost_capacity:1h", "cpu"),
        ("node:mooring_cost_capacity:1h", "memory"),
        ("node:mooring_cost_capacity:1h", "gpu"),
    }


def test_the_derived_rules_follow_the_base_rules_in_the_same_group() -> None:
    names = [r["record"] for r in rule_group(HOUR)["rules"]]
    assert names[-5:] == [
        "mooring_cost:namespace_step_end_seconds:1h",
        "namespace:mooring_cost_allocated:1h",
        "namespace:mooring_cost_requested:1h",
        "namespace:mooring_cost_used:1h",
        "node:mooring_cost_allocated:1h",
    ]
    assert names[: len(names) - 5] == [r["record"] for r in rules(HOUR)][: len(names) - 5]
    assert len(names) == 16


def test_the_derived_rules_sum_the_base_sample_of_their_own_evaluation() -> None:
    exprs = {r["record"]: r["expr"] for r in rules(HOUR) if "labels" not in r}
    assert exprs["namespace:mooring_cost_allocated:1h"] == (
        "sum by (namespace, resource) "
        "(last_over_time(namespace_node:mooring_cost_allocated:1h[30m]))"
    )
    assert exprs["node:mooring_cost_allocated:1h"] == (
        "sum by (node, resource) (last_over_time(namespace_node:mooring_cost_allocated:1h[30m]))"
    )
    assert exprs["mooring_cost:namespace_step_end_seconds:1h"] == (
        "last_over_time(mooring_cost:step_end_seconds:1h[30m])"
    )
    assert all(r.derived for r in derived_recordings(timedelta(minutes=5)))
    assert "[150s]" in derived_recordings(timedelta(minutes=5))[1].expression


def test_the_base_rules_are_those_of_older_installs() -> None:
    # Histories backfilled before the derived rules keep their names and expressions.
    assert recordings(HOUR)[0].record == "mooring_cost:step_end_seconds:1h"
    assert not any(r.derived for r in recordings(HOUR))
    assert len(recordings(HOUR)) == 11


def test_allocation_is_per_namespace_and_node_from_both_request_sources() -> None:
    (allocated_cpu,) = [
        r["expr"]
        for r in rules(HOUR)
        if r["record"] == metric("allocated", HOUR) and r["labels"]["resource"] == "cpu"
    ]
    assert "sum by (namespace, node) (" in allocated_cpu
    # kube-state-metrics' requests per container while they are scraped, else the
    # scheduler's per pod; usage a rate over the step, as the raw path
    assert "and on () group(kube_pod_container_resource_requests)" in allocated_cpu
    assert "unless on () group(kube_pod_container_resource_requests)" in allocated_cpu
    assert 'kube_pod_resource_request{resource="cpu",node!=""}' in allocated_cpu
    assert "rate(container_cpu_usage_seconds_total" in allocated_cpu
    assert "[3599s]" in allocated_cpu
    assert "kube_pod_container_status_running) == 1" in allocated_cpu


def test_memory_is_recorded_in_gib() -> None:
    memory = [r["expr"] for r in rules(HOUR) if r.get("labels", {}).get("resource") == "memory"]
    assert memory and all(f"/ {2**30}" in expr for expr in memory)


def test_a_report_reads_resource_hours_as_samples_times_the_step() -> None:
    assert hours("allocated", timedelta(days=1), HOUR) == (
        "sum_over_time(namespace_node:mooring_cost_allocated:1h[86400s])"
    )
    assert hours("used", HOUR, timedelta(minutes=15)).endswith("[3600s]) * 0.25")


def test_the_samples_of_a_step_are_read_one_and_a_half_steps_after_it() -> None:
    assert read_at(START, HOUR) == START + timedelta(minutes=90)


# -- which part is recorded ------------------------------------------------------------------------


@pytest.mark.parametrize("by", NAMESPACE_GROUPINGS)
def test_a_fully_recorded_window_is_read_from_the_recorded_series(by: str) -> None:
    chosen = split(WINDOW, by, covered(1, 48))
    assert (chosen.before, chosen.after) == (None, None)
    assert chosen.recorded == WINDOW
    assert chosen.note.startswith(f"recorded series (Mooring's cost rules, {group_name(HOUR)})")


def test_steps_not_recorded_yet_are_read_raw_after_the_recorded_part() -> None:
    chosen = split(WINDOW, "tenant", covered(-100, 46))  # the last two steps not yet
    assert chosen.recorded is not None and chosen.after is not None
    assert (chosen.recorded.start, chosen.recorded.end) == (WINDOW.start, START + 46 * HOUR)
    assert (chosen.after.start, chosen.after.end) == (START + 46 * HOUR, WINDOW.end)
    assert chosen.before is None
    assert "raw queries for 2026-11-02T22:00:00Z .. 2026-11-03T00:00:00Z (not recorded yet)" in (
        chosen.note
    )


def test_steps_before_the_rules_history_are_read_raw_before_the_recorded_part() -> None:
    chosen = split(WINDOW, "namespace", covered(11, 48))
    assert chosen.before is not None and chosen.recorded is not None
    assert (chosen.before.start, chosen.before.end) == (WINDOW.start, START + 10 * HOUR)
    assert chosen.recorded.start == START + 10 * HOUR
    assert "(before the rules' history)" in chosen.note


@pytest.mark.parametrize("by", ["pod", "container", "controller", "label:team"])
def test_groupings_finer_than_a_namespace_read_raw_series(by: str) -> None:
    chosen = split(WINDOW, by, covered(1, 48))
    assert (chosen.before, chosen.recorded, chosen.after) == (WINDOW, None, None)
    assert f"--by {by} needs pods and containers" in chosen.note


@pytest.mark.parametrize(
    ("coverage", "reason"),
    [
        (None, "no recorded series namespace_node:mooring_cost_allocated:1h"),
        (Coverage(None, None, 0), "no recorded series"),
        (covered(1, 48, count=96), "recorded more than once"),
        (covered(1, 48, count=40), "with gaps"),
    ],
    ids=["no rules", "no step in the window", "backfill overlapping the rules", "a gap"],
)
def test_a_window_the_rules_do_not_cover_once_each_is_read_raw_and_says_why(
    coverage: Coverage | None, reason: str
) -> None:
    chosen = split(WINDOW, "tenant", coverage)
    assert (chosen.before, chosen.recorded, chosen.after) == (WINDOW, None, None)
    assert chosen.note.startswith("raw queries (") and reason in chosen.note


def test_buckets_are_clipped_to_a_part_keeping_their_index() -> None:
    buckets = WINDOW.buckets(timedelta(days=1))
    part = Window(START + 20 * HOUR, START + 30 * HOUR, HOUR, "x")
    assert clip(buckets, part) == [
        (0, Bucket(START + 20 * HOUR, START + 24 * HOUR)),
        (1, Bucket(START + 24 * HOUR, START + 30 * HOUR)),
    ]


def test_the_heartbeat_is_named_for_its_step() -> None:
    assert heartbeat(HOUR) == "mooring_cost:step_end_seconds:1h"
    assert heartbeat(HOUR, derived=True) == "mooring_cost:namespace_step_end_seconds:1h"


def test_per_namespace_reads_resource_hours_of_the_derived_series() -> None:
    assert hours("allocated", timedelta(days=1), HOUR, "namespace") == (
        "sum_over_time(namespace:mooring_cost_allocated:1h[86400s])"
    )
    assert hours("allocated", HOUR, HOUR, "node").startswith("sum_over_time(node:mooring_cost_all")


# -- per namespace, or per namespace and node ------------------------------------------------------


def test_a_window_the_derived_rules_cover_is_read_per_namespace() -> None:
    chosen = by_namespace(WINDOW, covered(1, 48), pools=False)
    assert (chosen.before, chosen.recorded, chosen.after) == (None, WINDOW, None)
    assert chosen.note == "per namespace for 2026-11-01T00:00:00Z .. 2026-11-03T00:00:00Z"


def test_with_node_pools_the_window_is_read_per_namespace_and_node() -> None:
    chosen = by_namespace(WINDOW, covered(1, 48), pools=True)
    assert (chosen.before, chosen.recorded, chosen.after) == (WINDOW, None, None)
    assert "node pools price nodes apart" in chosen.note


def test_steps_before_the_derived_rules_history_are_read_per_namespace_and_node() -> None:
    chosen = by_namespace(WINDOW, covered(30, 47), pools=False)
    assert chosen.before is not None and chosen.recorded is not None and chosen.after is not None
    assert (chosen.before.start, chosen.before.end) == (WINDOW.start, START + 29 * HOUR)
    assert (chosen.recorded.start, chosen.recorded.end) == (START + 29 * HOUR, START + 47 * HOUR)
    assert (chosen.after.start, chosen.after.end) == (START + 47 * HOUR, WINDOW.end)
    assert chosen.note.count("per namespace and node for") == 2


@pytest.mark.parametrize(
    ("coverage", "reason"),
    [
        (None, "no per-namespace series namespace:mooring_cost_allocated:1h"),
        (covered(100, 120), "no per-namespace series"),
        (covered(1, 48, count=96), "recorded more than once"),
        (covered(1, 48, count=40), "with gaps: 40 samples of mooring_cost:namespace_step_end"),
    ],
    ids=["older rules", "none in the window", "recorded twice", "a gap"],
)
def test_derived_steps_not_recorded_once_each_are_read_per_namespace_and_node(
    coverage: Coverage | None, reason: str
) -> None:
    chosen = by_namespace(WINDOW, coverage, pools=False)
    assert (chosen.before, chosen.recorded, chosen.after) == (WINDOW, None, None)
    assert chosen.note.startswith("per namespace and node (") and reason in chosen.note, chosen.note


def test_a_backfill_ends_before_the_rules_first_own_step() -> None:
    from mooring.services.cost_rules import backfill_end

    first = START + 10 * HOUR  # the rules' first evaluation recorded the step ending here
    end = backfill_end(first, HOUR)
    # the backfill's last evaluation may record the step ending an hour earlier, never it
    assert end == first + timedelta(minutes=30) - timedelta(seconds=1)
    last_recorded = (int(end.timestamp()) - 1800) // 3600 * 3600
    assert last_recorded == int((first - HOUR).timestamp())
