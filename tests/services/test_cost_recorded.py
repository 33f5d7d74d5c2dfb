"""Mooring's cost recording rules against a real Prometheus (Debian's), backfilled by
`mooring cost backfill` (the rules' expressions as range queries, written with Debian's
promtool `tsdb create-blocks-from openmetrics`) over history written with promtool: the
backfill records what Prometheus's own evaluation of the rules records (promtool's
`tsdb create-blocks-from rules`, series by series and step by step); a report read from
the recorded series gives the raw queries' figures, namespace by namespace and bucket by
bucket; a window recorded in part is read as recorded part + raw rest, with the same
figures.

The history is test_cost_prometheus's: six hours of minute samples, usage above the
request in some hours and below in others, a pod measured but requesting nothing, one
requesting but never measured; kube-state-metrics' requests per container, or the
kube-scheduler's per pod.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from mooring.api.platform import PlatformConfig
from mooring.core.cost.aggregate import Report, aggregate
from mooring.core.cost.allocate import allocate
from mooring.core.cost.rates import PriceBook
from mooring.core.cost.recorded import (
    derived_recordings,
    group_name,
    heartbeat,
    metric,
    recordings,
)
from mooring.core.cost.window import HOUR, Bucket, Window
from mooring.devcluster.history import HistoryPrometheus, backfill
from mooring.services.cost import Cluster, gather_inputs
from mooring.services.cost_rules import backfill as backfill_rules
from mooring.services.cost_rules import promtool
from mooring.services.prometheus import Prometheus, Series
from tests.builders import platform_body
from tests.services.test_cost_prometheus import HOURS, START, history

END = START + timedelta(hours=HOURS)
WINDOW = Window(START, END, HOUR, "6h")
NAMESPACES = [
    {"metadata": {"name": "a", "labels": {"mooring.dev/tenant": "ta"}}},
    {"metadata": {"name": "b", "labels": {"mooring.dev/tenant": "tb"}}},
]
PLATFORM = PlatformConfig.model_validate(
    platform_body(prices={"cpuPerVcpuHour": 0.031611, "memoryPerGibHour": 0.004237})
)


def rules_by_promtool(url: str, until: datetime, root: Path, data: Path) -> None:
    """The reference: Prometheus's own evaluation of the rules over the past (promtool's
    `tsdb create-blocks-from rules`, one query per rule and two-hour block)."""
    rules = root / "rules.yaml"
    # The base rules alone: promtool's rule backfill does not support rules over rules
    # being backfilled (the derived ones are held to sums of the base ones below).
    group = {
        "name": group_name(HOUR),
        "interval": "1h",
        "rules": [r.rule(HOUR) for r in recordings(HOUR)],
    }
    rules.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    blocks = root / "promtool-blocks"
    subprocess.run(
        [
            promtool(),
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={url}",
            f"--start={int(START.timestamp())}",
            f"--end={int(until.timestamp())}",
            f"--output-dir={blocks}",
            "--quiet",
            str(rules),
        ],
        check=True,
        capture_output=True,
    )
    for block in blocks.iterdir():
        shutil.move(str(block), data / block.name)


def serve(
    root: Path,
    scheduler: bool,
    recorded_until: int | None,
    by_promtool: bool = False,
    derived: tuple[int, int] | None = None,
) -> tuple[HistoryPrometheus, str]:
    """History in a fresh Prometheus; the rules backfilled from it up to `recorded_until`
    hours after the start (None: none; `by_promtool`: promtool's rule backfill), then
    served together; `derived` (from, until hours after the start): the derived rules
    backfilled from the base ones over that span (None: the rules of older installs)."""
    data = root / "data"
    backfill(history(scheduler), data, root / "scratch")
    server = HistoryPrometheus(data)
    if recorded_until is None:
        return server, server.url
    until = START + timedelta(hours=recorded_until)
    if by_promtool:
        rules_by_promtool(server.url, until, root, data)
    else:
        done = backfill_rules(server.url, START, until, root / "rules", into=data)
        assert done.steps == recorded_until + 1 and done.blocks
    server.stop()
    server = HistoryPrometheus(data)  # loads the new blocks at once
    if derived is None:
        return server, server.url
    first, last = (START + timedelta(hours=h) for h in derived)
    done = backfill_rules(server.url, first, last, root / "derived", into=data, rules="derived")
    assert done.steps == derived[1] - derived[0] + 1 and done.blocks
    server.stop()
    server = HistoryPrometheus(data)
    return server, server.url


@pytest.fixture(scope="module", params=["kube-state-metrics", "kube-scheduler"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """URLs of six Prometheus over the same history: no rules, the whole window recorded
    (the last step is recorded an hour and a half after it ends) with the derived rules,
    half of it recorded, the whole window recorded by promtool's rule backfill (base rules
    only), the whole window by the base rules only (an older install), the whole window by
    the base rules and its second part only by the derived rules (installed later)."""
    scheduler = request.param == "kube-scheduler"
    whole = HOURS + 2
    started = [
        (
            name,
            serve(tmp_path_factory.mktemp(name), scheduler, until, name == "promtool", derived),
        )
        for name, until, derived in (
            ("raw", None, None),
            ("recorded", whole, (0, whole)),
            ("half", 3, (0, 3)),
            ("promtool", whole, None),
            ("older", whole, None),
            ("later", whole, (3, whole)),
        )
    ]
    yield {name: url for name, (_, url) in started}
    for _, (server, _) in started:
        server.stop()


def recorded_steps(url: str) -> dict[tuple[str, ...], dict[int, str]]:
    """Every recorded series (name and labels) and its value per step (the end of the step
    each sample stands for: it is written between half a step and a step and a half after)."""

    async def run() -> list[Series]:
        async with Prometheus(url) as client:
            return await client.query(
                '{__name__=~".*mooring_cost.*:1h"}[24h]', END + timedelta(hours=12)
            )

    found: dict[tuple[str, ...], dict[int, str]] = {}
    for series in asyncio.run(run()):
        key = tuple(f"{k}={v}" for k, v in sorted(series["metric"].items()))
        for stamp, value in series["values"]:
            step_end = (int(float(stamp)) - 1800) // 3600 * 3600
            assert step_end not in found.setdefault(key, {}), f"{key} twice at {step_end}"
            found[key][step_end] = value
    return found


def test_the_backfill_records_what_prometheus_evaluating_the_rules_records(
    servers: dict[str, str],
) -> None:
    everything, reference = (
        recorded_steps(servers["recorded"]),
        recorded_steps(servers["promtool"]),
    )
    derived = {r.record for r in derived_recordings(HOUR)}
    ours = {k: v for k, v in everything.items() if name_of(k) not in derived}
    assert set(ours) == set(reference)  # the same series: names and labels
    names = {dict(item.split("=", 1) for item in key)["__name__"] for key in ours}
    assert {heartbeat(HOUR), metric("allocated", HOUR), metric("used", HOUR)} <= names
    window = {int((START + timedelta(hours=h)).timestamp()) for h in range(1, HOURS + 1)}
    for key, steps in reference.items():
        # promtool's first and last evaluations depend on the group's offset; the window's
        # steps are recorded by both
        common = set(steps) & set(ours[key])
        assert window & set(steps) <= common, key
        assert {p: ours[key][p] for p in common} == {p: steps[p] for p in common}, key


def name_of(key: tuple[str, ...]) -> str:
    return dict(item.split("=", 1) for item in key)["__name__"]


def test_the_derived_rules_record_the_base_rules_sums_step_by_step(
    servers: dict[str, str],
) -> None:
    found = recorded_steps(servers["recorded"])
    expected: dict[tuple[str, ...], dict[int, float]] = {}
    sums = {
        metric(kind, HOUR): [(metric(kind, HOUR, "namespace"), "namespace")]
        for kind in ("requested", "used")
    }
    sums[metric("allocated", HOUR)] = [
        (metric("allocated", HOUR, "namespace"), "namespace"),
        (metric("allocated", HOUR, "node"), "node"),
    ]
    for key, steps in found.items():
        labels = dict(item.split("=", 1) for item in key)
        for derived, by in sums.get(labels["__name__"], []):
            target = tuple(
                f"{k}={v}"
                for k, v in sorted(
                    {"__name__": derived, "resource": labels["resource"]}.items()
                    | ({by: labels[by]}.items() if labels.get(by) else set())
                )
            )
            per_step = expected.setdefault(target, {})
            for step, value in steps.items():
                per_step[step] = per_step.get(step, 0.0) + float(value)
    derived_names = {r.record for r in derived_recordings(HOUR)}
    recorded = {k: v for k, v in found.items() if name_of(k) in derived_names}
    heartbeats = [k for k in recorded if name_of(k) == heartbeat(HOUR, derived=True)]
    assert len(heartbeats) == 1
    base_beat = found[(f"__name__={heartbeat(HOUR)}",)]
    assert recorded.pop(heartbeats[0]) == base_beat  # the same steps, once each
    assert set(recorded) == set(expected)
    for key, sums_by_step in expected.items():
        assert set(recorded[key]) == set(sums_by_step), key
        for step, total in sums_by_step.items():
            assert float(recorded[key][step]) == pytest.approx(total, rel=1e-12), key


def report(url: str, by: str, buckets: list[Bucket], pools: bool = False) -> Report:
    cluster = Cluster(NAMESPACES, [], [], [], [])

    async def run() -> Report:
        inputs = await gather_inputs(
            None, WINDOW, buckets, url, owners=False, cluster=cluster, by=by, pools=pools
        )
        return aggregate(allocate(inputs, PriceBook(PLATFORM.spec.prices)), by)

    return asyncio.run(run())


def figures(result: Report) -> dict[str, tuple[Decimal, ...]]:
    return {
        row.group: (row.cpu, row.memory, row.requested, row.used or Decimal(-1), *row.buckets)
        for row in result.rows
    }


def close(a: dict[str, tuple[Decimal, ...]], b: dict[str, tuple[Decimal, ...]]) -> None:
    assert set(a) == set(b)
    for group in a:
        assert [float(x) for x in a[group]] == pytest.approx(
            [float(x) for x in b[group]], rel=1e-9, abs=1e-12
        ), group


SPLITS = {
    "one bucket per hour": [1] * 6,
    "two buckets": [3, 3],
    "unequal buckets": [4, 2],
}


def buckets_of(sizes: list[int]) -> list[Bucket]:
    result, cursor = [], START
    for size in sizes:
        result.append(Bucket(cursor, cursor + timedelta(hours=size)))
        cursor += timedelta(hours=size)
    return result


@pytest.mark.parametrize("by", ["namespace", "tenant"])
@pytest.mark.parametrize("split", list(SPLITS), ids=list(SPLITS))
def test_recorded_series_give_the_raw_queries_figures(
    servers: dict[str, str], by: str, split: str
) -> None:
    buckets = buckets_of(SPLITS[split])
    raw = report(servers["raw"], by, buckets)
    recorded = report(servers["recorded"], by, buckets)
    assert "raw queries (no recorded series" in raw.inputs.notes[0]
    assert "recorded series (Mooring's cost rules, mooring-cost-1h)" in recorded.inputs.notes[0]
    assert "raw queries for" not in recorded.inputs.notes[0]
    assert "(per namespace for " in recorded.inputs.notes[0], recorded.inputs.notes[0]
    # read per namespace: no pod, no node; the allocation per node beside them, for idle
    assert all(c.pod == "" and c.node is None for c in recorded.inputs.containers)
    assert recorded.inputs.node_allocated
    close(figures(recorded), figures(raw))
    assert float(recorded.idle.total) == pytest.approx(float(raw.idle.total), rel=1e-9)
    assert float(recorded.total) == pytest.approx(float(raw.total), rel=1e-9)


@pytest.mark.parametrize(
    ("server", "pools", "per_namespace", "said"),
    [
        ("older", False, False, "no per-namespace series"),
        ("later", False, True, "per namespace and node for"),
        ("recorded", True, False, "node pools price nodes apart"),
    ],
    ids=["base rules only", "derived rules installed later", "node pools"],
)
def test_steps_without_per_namespace_series_are_read_per_namespace_and_node(
    servers: dict[str, str], server: str, pools: bool, per_namespace: bool, said: str
) -> None:
    buckets = buckets_of(SPLITS["unequal buckets"])
    raw = report(servers["raw"], "tenant", buckets)
    found = report(servers[server], "tenant", buckets, pools=pools)
    note = found.inputs.notes[0]
    assert said in note, note
    assert "raw queries for" not in note, note
    lines = found.inputs.containers
    assert all(c.pod == "" for c in lines)
    assert any(c.node for c in lines)  # per namespace and node
    assert bool(found.inputs.node_allocated) == per_namespace  # per namespace too
    close(figures(found), figures(raw))
    assert float(found.idle.total) == pytest.approx(float(raw.idle.total), rel=1e-9)


@pytest.mark.parametrize("split", list(SPLITS), ids=list(SPLITS))
def test_a_window_recorded_in_part_is_read_as_recorded_part_and_raw_rest(
    servers: dict[str, str], split: str
) -> None:
    buckets = buckets_of(SPLITS[split])
    raw = report(servers["raw"], "namespace", buckets)
    half = report(servers["half"], "namespace", buckets)
    note = half.inputs.notes[0]
    assert "recorded series (Mooring's cost rules, mooring-cost-1h) for" in note
    assert "(not recorded yet)" in note, note
    assert {c.pod == "" for c in half.inputs.containers} == {True, False}  # both paths
    close(figures(half), figures(raw))


def test_groupings_by_pod_read_the_raw_series_and_say_why(servers: dict[str, str]) -> None:
    result = report(servers["recorded"], "pod", buckets_of([6]))
    assert "raw queries (--by pod needs pods and containers" in result.inputs.notes[0]
    assert all(c.pod for c in result.inputs.containers)


def test_the_heartbeat_records_each_step_once(servers: dict[str, str]) -> None:
    async def run() -> list[dict[str, object]]:
        async with Prometheus(servers["recorded"]) as client:
            return await client.query(f"{heartbeat(HOUR)}[12h]", END + 4 * HOUR)

    (series,) = asyncio.run(run())
    ends = [int(float(value)) for _, value in series["values"]]  # type: ignore[attr-defined]
    assert ends == sorted(set(ends))
    assert {int((START + timedelta(hours=h)).timestamp()) for h in range(1, HOURS + 1)} <= set(ends)


def test_mooring_cost_rules_prints_a_rule_file_promtool_accepts(tmp_path: Path) -> None:
    import subprocess

    from click.testing import CliRunner

    from mooring.cli.main import cli
    from mooring.services.cost_rules import promtool

    for step in ("1h", "5m"):
        printed = CliRunner().invoke(cli, ["cost", "rules", "--step", step])
        assert printed.exit_code == 0, printed.output
        path = tmp_path / f"{step}.yaml"
        path.write_text(printed.output)
        checked = subprocess.run(
            [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS: 16 rules found" in checked.stdout


def test_mooring_cost_backfill_writes_blocks_and_says_what_it_recorded(
    servers: dict[str, str], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from mooring.cli.main import cli

    def run(start: datetime, end: datetime) -> tuple[int, str]:
        done = CliRunner().invoke(
            cli,
            [
                "cost",
                "backfill",
                "--prometheus",
                servers["raw"],
                "--start",
                start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--end",
                end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--output-dir",
                str(tmp_path / "out"),
            ],
        )
        return done.exit_code, done.output

    code, output = run(START + timedelta(minutes=30), END + timedelta(minutes=30))
    assert code == 0, output
    assert f"recorded {HOURS} steps" in output, output
    assert any((block / "meta.json").is_file() for block in (tmp_path / "out/blocks").iterdir())
    code, output = run(END, START)
    assert code != 0
    assert "nothing to backfill: the end" in output, output


def test_mooring_cost_backfill_of_the_derived_rules_reads_the_base_rules_series(
    servers: dict[str, str], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from mooring.cli.main import cli

    def run(url: str) -> tuple[int, str]:
        done = CliRunner().invoke(
            cli,
            [
                "cost",
                "backfill",
                "--rules",
                "derived",
                "--prometheus",
                url,
                "--start",
                START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--end",
                (END + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--output-dir",
                str(tmp_path / "out"),
            ],
        )
        return done.exit_code, done.output

    code, output = run(servers["older"])  # the base rules' history, no derived one
    assert code == 0, output
    assert f"recorded {HOURS + 1} steps" in output, output
    assert any((block / "meta.json").is_file() for block in (tmp_path / "out/blocks").iterdir())
    code, output = run(servers["raw"])  # no base rules' history to derive from
    assert code != 0
    assert "holds no base cost rules' samples" in output, output


def test_prometheus_evaluating_the_group_gives_the_derived_rules_the_base_samples_of_the_same_evaluation(  # noqa: E501
    tmp_path: Path,
) -> None:
    """The derived rules rely on Prometheus evaluating a group's rules in order, a later
    rule seeing an earlier one's samples of the same evaluation: the derived heartbeat
    (over the base heartbeat) then holds the same step at the same instant, every time."""
    import time

    from mooring.core.cost.recorded import rule_file
    from mooring.devcluster.cluster import free_port, http_ok
    from mooring.devcluster.prometheus import prometheus_binary

    step = timedelta(seconds=10)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file(step), sort_keys=False))
    config = {"global": {"evaluation_interval": "10s"}, "rule_files": ["rules.yaml"]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"{url}/-/ready") and time.monotonic() < deadline:
            time.sleep(0.2)

        async def beats() -> dict[str, list[tuple[float, str]]]:
            async with Prometheus(url) as client:
                result = await client.query(
                    '{__name__=~"mooring_cost:.*step_end_seconds:10s"}[5m]', datetime.now(UTC)
                )
            return {
                s["metric"]["__name__"]: [(float(t), v) for t, v in s["values"]] for s in result
            }

        found: dict[str, list[tuple[float, str]]] = {}
        while time.monotonic() < deadline + 40:
            found = asyncio.run(beats())
            if len(found.get(heartbeat(step), [])) >= 3:
                break
            time.sleep(2)
        base = found.get(heartbeat(step), [])
        assert len(base) >= 3, found
        derived = dict(found.get(heartbeat(step, derived=True), []))
        # every evaluation but the last (it may be under way): the same step, same instant
        assert [(t, derived.get(t)) for t, _ in base[:-1]] == base[:-1], found
    finally:
        process.terminate()
        process.wait(timeout=30)
