"""`mooring cost estimate | report | rules | backfill`: what a pull request will cost,
what runs costs; the recording rules that make long reports fast, and their history.

Exit codes: 0 done; 1 findings (invalid tenant files, or an estimate over --max-increase);
2 usage error or unreadable input (a bad window, an unknown --by, a base revision git
cannot read); 3 the cluster or Prometheus failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from mooring.api import yamldump
from mooring.api.cost import money_text
from mooring.api.platform import PlatformConfig
from mooring.cli import cost_formats, cost_html
from mooring.cli.estimate_formats import FORMATS as ESTIMATE_FORMATS
from mooring.cli.estimate_formats import RENDERERS as ESTIMATE_RENDERERS
from mooring.cli.estimate_formats import Format as EstimateFormat
from mooring.cli.estimate_formats import headline, markdown
from mooring.cli.findings import emit
from mooring.cli.options import all_paths, connect, input_paths, kube_options
from mooring.cli.output import EXIT_FAILED, EXIT_FINDINGS, EXIT_USAGE, err, out, say
from mooring.core.cost.aggregate import BY_NAMES, GroupingError, Report, grouping
from mooring.core.cost.recorded import group_name, heartbeat, rule_file
from mooring.core.cost.window import WindowError, check_step, parse_duration, parse_window
from mooring.core.validate import validate_documents
from mooring.kube.client import Kube, KubeError
from mooring.services.cost import NoPlatformError, cost_report, load_platform
from mooring.services.cost_estimate import GitError, Side, estimate_paths
from mooring.services.cost_rules import BackfillError, backfill_end, first_evaluation
from mooring.services.cost_rules import backfill as backfill_rules
from mooring.services.prometheus import PrometheusError
from mooring.services.sources import read_sources

REPORT_FORMATS = ("table", "csv", "json", "html")


@click.group()
def cost() -> None:
    """What tenants cost: before a pull request merges, and as they run."""


def _amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount; write e.g. 100 or 99.50") from None


def _report_side(side: Side) -> bool:
    """Print a side's unreadable files and findings; True when it could not be estimated."""
    if side.errors or side.findings:
        emit(side.findings, side.errors, "text", console=err)
    return side.failed or side.estimate is None


@cost.command()
@input_paths
@click.option(
    "--base",
    metavar="REF",
    default=None,
    help="Compare with the same paths at this Git revision (the pull request's base branch, "
    "e.g. origin/main): shows what the change adds.",
)
@click.option(
    "--namespace",
    "-n",
    default=None,
    help="Namespace of workload manifests that do not name one.",
)
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(ESTIMATE_FORMATS),
    default="text",
    show_default=True,
    help="text, json, markdown (a pull-request comment) or github (annotations; the Markdown "
    "table also goes to $GITHUB_STEP_SUMMARY when set).",
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append the Markdown summary to this file.",
)
@click.option(
    "--max-increase",
    default=None,
    metavar="AMOUNT",
    help="Exit 1 when the change adds more than AMOUNT per month to the reserved cost.",
)
def estimate(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    base: str | None,
    namespace: str | None,
    fmt: EstimateFormat,
    summary: Path | None,
    max_increase: str | None,
) -> None:
    """What the tenants in PATHS cost per month, before anything runs.

    Reserved: every quota fully used at the PlatformConfig's list prices (the most a tenant
    can cost). Expected: the requests of the workload manifests among PATHS (replicas x
    requests, volume claims, load balancers). With --base, the change against that revision.
    """
    limit = _amount(max_increase)
    try:
        outcome = estimate_paths(all_paths(paths, filenames), base, namespace)
    except GitError as error:
        err.print(f"error: --base {base}: {error}", markup=False)
        sys.exit(EXIT_USAGE)
    failed = _report_side(outcome.head)
    if outcome.base is not None and _report_side(outcome.base):
        say(f"the base revision {base} could not be estimated: its files have errors (above)")
        failed = True
    if outcome.head.errors:
        sys.exit(EXIT_USAGE)
    if failed:
        sys.exit(EXIT_FINDINGS)
    out.print(ESTIMATE_RENDERERS[fmt](outcome), markup=False, highlight=False)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY") if fmt == "github" else None
    for target in (summary, Path(step_summary) if step_summary else None):
        if target is not None:
            with target.open("a", encoding="utf-8") as handle:
                handle.write(markdown(outcome) + "\n")
    if fmt != "json":
        say(headline(outcome))
    increase = sum((c.upper_delta for c in outcome.changes), Decimal(0))
    if limit is not None and increase > limit:
        say(
            f"the change adds {money_text(increase)} {outcome.currency}/month reserved, over "
            f"--max-increase {money_text(limit)}"
        )
        sys.exit(EXIT_FINDINGS)


def _platform(path: Path | None) -> PlatformConfig | None:
    """The PlatformConfig from a file (what-if prices); None: the cluster's."""
    if path is None:
        return None
    sources = read_sources([str(path)])
    parsed, findings = validate_documents(sources.documents)
    if sources.errors or parsed.platform is None or findings:
        emit(findings, sources.errors, "text", console=err)
        err.print(f"error: {path} holds no valid PlatformConfig", markup=False)
        sys.exit(EXIT_USAGE)
    return parsed.platform[0]


class _Bar:
    """Rich progress on stderr while the queries run (only on a terminal)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        task = self.tasks.get(what)
        if task is None:
            task = self.tasks[what] = self.progress.add_task(what, total=total)
        self.progress.update(task, completed=done, total=total)


@cost.command()
@click.option(
    "--window",
    default="7d",
    show_default=True,
    help="24h, 7d, month (this month so far), lastmonth, 2026-11-01..2026-11-15 (days "
    "included) or 2026-11-01T06:00:00Z..2026-11-02T06:00:00Z.",
)
@click.option(
    "--step",
    default=None,
    help="Sample step: max(request, usage) is taken per container at each step "
    "(default: the PlatformConfig's spec.cost.stepMinutes, 1h).",
)
@click.option(
    "--by",
    default="tenant",
    show_default=True,
    help=f"Group by {', '.join(BY_NAMES)} or label:KEY (the pod's label, else its namespace's).",
)
@click.option(
    "--share-idle/--no-share-idle",
    default=None,
    help="Share idle capacity among the groups in proportion to their cost (default: the "
    "PlatformConfig's spec.cost.shareIdle).",
)
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="Output format: table, csv, json, or html (one self-contained page with charts).",
)
@click.option(
    "--write",
    "output",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--prometheus",
    "prometheus_url",
    envvar="MOORING_PROMETHEUS_URL",
    default=None,
    help="Prometheus to read usage from (default: the PlatformConfig's spec.cost.prometheusUrl;"
    " $MOORING_PROMETHEUS_URL).",
)
@click.option(
    "--platform",
    "platform_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Take prices from this PlatformConfig file instead of the cluster's (what-if).",
)
@click.option("--at", default=None, metavar="TIME", help="Report as at this time (RFC 3339).")
@kube_options
def report(
    window: str,
    step: str | None,
    by: str,
    share_idle: bool | None,
    fmt: str,
    output: Path | None,
    prometheus_url: str | None,
    platform_path: Path | None,
    at: str | None,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """What tenants (namespaces, cost centres, labels...) cost over a window.

    OpenCost's allocation: per container and sample, the larger of its request and its
    usage, at its node's prices; volume claims by size, load balancers by the hour; idle
    capacity reported apart (or shared with --share-idle).
    """
    try:
        grouping(by)
    except GroupingError as error:
        raise click.BadParameter(str(error), param_hint="--by") from None
    now = _time(at)
    try:
        result = asyncio.run(
            _report(
                connect(kubeconfig, context),
                platform_path,
                window,
                step,
                by,
                share_idle,
                prometheus_url,
                now,
            )
        )
    except WindowError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_USAGE)
    except NoPlatformError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_USAGE)
    except (KubeError, PrometheusError, OSError) as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
    _print_report(result, fmt, output)


def _time(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time; write RFC 3339, e.g. 2026-11-30T00:00:00Z",
            param_hint="--at",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _report(
    client: Kube,
    platform_path: Path | None,
    window_text: str,
    step: str | None,
    by: str,
    share_idle: bool | None,
    prometheus_url: str | None,
    now: datetime,
) -> Report:
    async with client as kube:
        platform = _platform(platform_path) or await load_platform(kube)
        settings = platform.spec.cost
        sample = parse_duration(step) if step else parse_duration(f"{settings.step_minutes}m")
        window = parse_window(window_text, now, sample)
        bar = _Bar()
        with bar.progress:
            return await cost_report(
                kube,
                platform,
                window,
                by,
                settings.share_idle if share_idle is None else share_idle,
                prometheus_url or settings.prometheus_url,
                bar,
            )


def _print_report(result: Report, fmt: str, output: Path | None) -> None:
    if fmt == "table":
        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                console = Console(file=handle, width=160, highlight=False)
                console.print(cost_formats.table(result))
                for line in cost_formats.footer(result):
                    console.print(f"note: {line}", markup=False)
        else:
            # Not a terminal (a pipe, a file): wide enough that no name is cut.
            console = out if out.is_terminal else Console(file=sys.stdout, width=200)
            console.print(cost_formats.table(result))
            for line in cost_formats.footer(result):
                say(f"note: {line}")
        return
    text = {
        "csv": cost_formats.as_csv,
        "json": cost_formats.as_json,
        "html": cost_html.page,
    }[fmt](result)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        say(f"wrote {output}")
    else:
        out.print(text, end="" if text.endswith("\n") else "\n", markup=False, highlight=False)
    if fmt == "csv":
        for line in cost_formats.footer(result):
            say(f"note: {line}")


@cost.command()
@click.option(
    "--step",
    default="1h",
    show_default=True,
    help="The step the rules record (the reports' --step, spec.cost.stepMinutes).",
)
@click.option(
    "--prometheus-rule",
    "namespace",
    default=None,
    metavar="NAMESPACE",
    help="Print a PrometheusRule (monitoring.coreos.com/v1) in NAMESPACE instead of a rule file.",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="A label of the PrometheusRule (for the Prometheus's ruleSelector); repeatable.",
)
def rules(step: str, namespace: str | None, labels: tuple[str, ...]) -> None:
    """Print Mooring's cost recording rules, for Prometheus's rule_files (or as a
    PrometheusRule).

    They record, every step, each namespace's allocation per node (max(request, usage)
    per container), requested and used, and the nodes' capacity; reports by namespace,
    tenant, environment or cost centre read them instead of raw samples. Backfill their
    history with `mooring cost backfill` once they run.
    """
    sample = _step(step)
    document: dict[str, object] = rule_file(sample)
    if namespace is not None:
        pairs = {}
        for label in labels:
            key, sep, value = label.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{label!r} is not KEY=VALUE", param_hint="--label")
            pairs[key] = value
        document = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": group_name(sample), "namespace": namespace, "labels": pairs},
            "spec": document,
        }
    out.print(yamldump.dump(document), end="", markup=False, highlight=False)


@cost.command()
@click.option(
    "--prometheus",
    "prometheus_url",
    envvar="MOORING_PROMETHEUS_URL",
    required=True,
    help="The Prometheus holding the raw history (and evaluating the rules).",
)
@click.option("--start", required=True, metavar="TIME", help="Backfill from (RFC 3339).")
@click.option(
    "--end",
    default=None,
    metavar="TIME",
    help="Backfill up to (RFC 3339; default: just before the rules' own first evaluation, "
    "so that no step is recorded twice).",
)
@click.option("--step", default="1h", show_default=True, help="The rules' step.")
@click.option(
    "--output-dir",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the blocks are written, under blocks/ (then move them into Prometheus's "
    "data folder).",
)
@click.option(
    "--rules",
    "which",
    type=click.Choice(["base", "derived"]),
    default="base",
    show_default=True,
    help="base: the rules per namespace and node, from the raw samples; derived: the rules "
    "per namespace and per node, from the base rules' series (once Prometheus holds them: "
    "backfill base first, move its blocks in, then derived).",
)
@click.option(
    "--hours-per-query",
    default=24,
    show_default=True,
    type=click.IntRange(min=2),
    help="How much history one range query asks for (halved while Prometheus finds a query "
    "too big or too slow).",
)
def backfill(
    prometheus_url: str,
    start: str,
    end: str | None,
    step: str,
    output: Path,
    which: str,
    hours_per_query: int,
) -> None:
    """Record the cost rules' history from the raw samples Prometheus already holds:
    install the rules first, then backfill; move the blocks written into Prometheus's data
    folder (it loads them within a minute). Then the same with `--rules derived`: the
    per-namespace and per-node rules, from the base rules' series (seconds, not minutes).

    Each rule's expression is asked once per day of history (a range query at the rules'
    step), written as OpenMetrics at the instants the rule would have recorded it, and
    turned into TSDB blocks by Prometheus's promtool (`tsdb create-blocks-from
    openmetrics`, one block per two hours). Same figures as promtool's `tsdb
    create-blocks-from rules`, with 12 times fewer queries at a 1 h step.
    """
    sample = _step(step)
    begin = _time(start)
    try:
        if end is not None:
            until = _time(end)
        else:
            derived = which == "derived"
            first = asyncio.run(
                first_evaluation(prometheus_url, sample, datetime.now(UTC), derived)
            )
            if first is None:
                err.print(
                    f"error: Prometheus at {prometheus_url} has not evaluated the cost rules "
                    f"({heartbeat(sample, derived)} has no sample): install them first "
                    "(`mooring cost rules`), or give --end",
                    markup=False,
                )
                sys.exit(EXIT_USAGE)
            until = backfill_end(first, sample)
        say(
            f"backfilling {group_name(sample)} ({which} rules) from {begin.isoformat()} to "
            f"{until.isoformat()}"
        )
        bar = _Bar()
        with bar.progress:
            done = backfill_rules(
                prometheus_url,
                begin,
                until,
                output,
                sample,
                span=timedelta(hours=hours_per_query),
                progress=bar,
                rules=which,
            )
    except (BackfillError, PrometheusError) as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
    say(
        f"recorded {done.steps} steps ({done.samples} samples) as {len(done.blocks)} blocks "
        f"in {output / 'blocks'}: move them into "
        "Prometheus's data folder (--storage.tsdb.path); it loads them within a minute"
        + (
            "; then run this again with --rules derived (the per-namespace series, from these)"
            if which == "base"
            else ""
        )
    )


def _step(text: str) -> timedelta:
    try:
        step = parse_duration(text)
        check_step(step)
    except WindowError as error:
        raise click.BadParameter(str(error), param_hint="--step") from None
    return step
