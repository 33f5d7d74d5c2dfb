"""The cost recording rules' history: computed from the raw samples Prometheus holds and
written as TSDB blocks with Prometheus's own promtool.

Side effects: queries Prometheus (where the rules' evaluations begin; the rules'
expressions over past time, as range queries), writes OpenMetrics files and runs
`promtool tsdb create-blocks-from openmetrics` on them; moving the blocks into
Prometheus's data folder is the operator's step (`into`, for a data folder on this
machine).

Why not `promtool tsdb create-blocks-from rules`: it sends one query per rule and per
two-hour block (promtool 2.42's fixed block length), each over every series of the raw
history: some 4,000 queries for 30 days of 11 rules, and as many blocks for Prometheus to
compact. Here each rule's expression is asked once per day (a range query at the rules'
step, up to a day of points per series), and its answer written at the instants the rule
would have written it: the same expression, so the same values and labels, and one
sample per step (see `core.cost.recorded.evaluations`). Prometheus still evaluates each
expression at every step, which is most of the time (36 minutes for 30 days at 10,000
pods, docs/benchmarks.md).

The derived rules (per namespace and per node, over the base rules' series) are
backfilled the same way, second (`rules="derived"`), once Prometheus holds the base rules'
history: their expressions read the base series, not the raw samples, so this is cheap.
"""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import yaml

from mooring.core.cost.recorded import (
    Recording,
    derived_recordings,
    evaluations,
    heartbeat,
    recordings,
    rule_file,
    series_text,
)
from mooring.core.cost.window import DAY, HOUR
from mooring.services.prometheus import Prometheus, PrometheusError, Series

# promtool 2.42 writes OpenMetrics input as blocks of two hours (aligned to the epoch) and
# reads a file once per block it makes: one file per block.
BLOCK_SECONDS = 7200
# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 11_000
CONCURRENT_QUERIES = 2
CONCURRENT_PROMTOOLS = 2
# (what is being done, done so far, how many in all).
Progress = Callable[[str, int, int], None]


def _quiet(_what: str, _done: int, _total: int) -> None:
    return None


class BackfillError(RuntimeError):
    """promtool is missing or refused, or there is nothing to backfill; says which and how
    to fix it."""


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        raise BackfillError(
            "promtool is not installed (Debian: apt-get install prometheus; or a "
            "Prometheus release's promtool)"
        )
    return binary


RULES = ("base", "derived")


async def base_instants(url: str, start: datetime, end: datetime, step: timedelta) -> list[int]:
    """The instants (Unix seconds) in [start, end] at which the base rules wrote their
    samples (their heartbeat's timestamps): where the derived rules are evaluated, as the
    rules do, one group evaluation after another. Multiples of the step for a backfilled
    history; the group's own phase for a history the rules recorded as they ran."""
    span = f"{int((end - start).total_seconds()) + 1}s"
    async with Prometheus(url) as prometheus:
        result = await prometheus.query(f"{heartbeat(step)}[{span}]", end)
    low, high = start.timestamp(), end.timestamp()
    return sorted(
        {
            int(float(stamp))
            for series in result
            for stamp, _ in series.get("values") or []
            if low <= float(stamp) <= high
        }
    )


def even(instants: Sequence[int], size: int) -> list[list[int]]:
    """Pure: `instants` cut where two in a row are not one step apart (a range query asks
    evenly spaced instants)."""
    runs: list[list[int]] = []
    for instant in instants:
        if runs and instant - runs[-1][-1] == size:
            runs[-1].append(instant)
        else:
            runs.append([instant])
    return runs


RULES = ("base", "derived")


async def base_recorded(url: str, start: datetime, end: datetime, step: timedelta) -> int:
    """How many steps the base rules recorded at the instants a backfill over [start, end]
    writes (all of them: the derived rules can be backfilled from them)."""
    instants = evaluations(start, end, step)
    if not instants:
        return 0
    span = f"{instants[-1] - instants[0] + 1}s"
    at = datetime.fromtimestamp(instants[-1], UTC)
    async with Prometheus(url) as prometheus:
        result = await prometheus.query(f"count_over_time({heartbeat(step)}[{span}])", at)
    return int(float(result[0]["value"][1])) if result else 0


async def first_evaluation(
    url: str, step: timedelta, now: datetime, derived: bool = False
) -> datetime | None:
    """When Prometheus began evaluating the rules (the end of the first step they
    recorded, within the last 400 days), or None: they have recorded nothing. `derived`:
    the per-namespace rules (installed later than the base ones on older platforms)."""
    async with Prometheus(url) as prometheus:
        result = await prometheus.query(f"min_over_time({heartbeat(step, derived)}[400d])", now)
    if not result:
        return None
    return datetime.fromtimestamp(int(float(result[0]["value"][1])), UTC)


def backfill_end(first_step_end: datetime, step: timedelta) -> datetime:
    """The last instant a backfill may evaluate so that it records only steps before the
    rules' own first one (a step ending at P is recorded from P + step/2 on)."""
    return first_step_end + step / 2 - timedelta(seconds=1)


@dataclass
class Backfilled:
    blocks: list[Path]
    rule_file: Path
    samples: int  # written, heartbeat included
    steps: int  # recorded


def chunks(instants: Sequence[int], step: timedelta, span: timedelta) -> list[list[int]]:
    """The instants cut into runs of at most `span` (whole blocks and whole steps, at most
    11,000 points), aligned to the epoch so that no block's file is shared by two runs."""
    size = int(step.total_seconds())
    unit = math.lcm(BLOCK_SECONDS, size)
    length = max(unit, int(span.total_seconds()) // unit * unit)
    while length > unit and length // size > MAX_POINTS:
        length -= unit
    runs: dict[int, list[int]] = {}
    for instant in instants:
        runs.setdefault(instant // length, []).append(instant)
    return list(runs.values())


class _Writer:
    """The OpenMetrics files of one run of instants, one per two-hour block, each
    family's series together (the rules of one name follow each other)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[int, IO[str]] = {}
        self.family: dict[int, str] = {}

    def write(self, recording: Recording, result: Sequence[Series], lag: int) -> int:
        """`lag`: from the instant asked to the instant written (a step for the base rules:
        the step ending at P is written at P + step; 0 for the derived ones)."""
        written = 0
        for series in result:
            labels = {k: v for k, v in (series.get("metric") or {}).items() if k != "__name__"}
            labels.update(dict(recording.labels))  # a rule's labels win, as in Prometheus
            text = series_text(recording.record, list(labels.items()))
            for stamp, value in series["values"]:
                instant = int(float(stamp)) + lag
                out = self._file(instant // BLOCK_SECONDS, recording.record)
                out.write(f"{text} {value} {instant}\n")
                written += 1
        return written

    def _file(self, block: int, family: str) -> IO[str]:
        out = self.files.get(block)
        if out is None:
            out = self.files[block] = (self.folder / f"block-{block}.om").open("w")
        if self.family.get(block) != family:
            self.family[block] = family
            out.write(f"# TYPE {family} gauge\n")
        return out

    def close(self) -> list[Path]:
        paths = []
        for out in self.files.values():
            out.write("# EOF\n")
            out.close()
            paths.append(Path(out.name))
        return paths


async def _blocks(paths: Sequence[Path], blocks: Path, limit: asyncio.Semaphore) -> None:
    """promtool turns each file into its block (files removed once done)."""

    async def one(path: Path) -> None:
        async with limit:
            process = await asyncio.create_subprocess_exec(
                promtool(),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(path),
                str(blocks),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, error = await process.communicate()
        if process.returncode != 0:
            raise BackfillError(
                f"promtool refused {path} (kept for a look): "
                f"{error.decode(errors='replace')[-2000:]}"
            )
        path.unlink()

    await asyncio.gather(*(one(path) for path in paths))


async def record(
    url: str,
    instants: Sequence[int],
    step: timedelta,
    scratch: Path,
    blocks: Path,
    span: timedelta = DAY,
    progress: Progress = _quiet,
    rules: Sequence[Recording] = (),
) -> int:
    """Every rule's expression (of `rules`, else the base rules) over the steps recorded at
    `instants`, as range queries of up to `span` each, written as blocks into `blocks`;
    how many samples were written."""
    size = int(step.total_seconds())
    runs = [even_run for run in chunks(instants, step, span) for even_run in even(run, size)]
    rules = list(rules) or recordings(step)
    total, done, samples = len(runs) * len(rules), 0, 0
    queries, promtools = (
        asyncio.Semaphore(CONCURRENT_QUERIES),
        asyncio.Semaphore(CONCURRENT_PROMTOOLS),
    )
    converting: list[asyncio.Task[None]] = []
    progress("recording the rules' history", 0, total)
    async with Prometheus(url, timeout=900) as prometheus:

        async def answer(recording: Recording, run: Sequence[int]) -> list[Series]:
            async with queries:
                lag = 0 if recording.derived else size
                return await _points(prometheus, recording.expression, run, lag, size)

        for run in runs:
            folder = scratch / f"run-{run[0]}"
            folder.mkdir(parents=True, exist_ok=True)
            writer = _Writer(folder)
            asked = [asyncio.ensure_future(answer(recording, run)) for recording in rules]
            try:
                for recording, future in zip(rules, asked, strict=True):
                    result = await future
                    samples += writer.write(recording, result, 0 if recording.derived else size)
                    del result
                    done += 1
                    progress("recording the rules' history", done, total)
            finally:
                for future in asked:
                    future.cancel()
                paths = writer.close()
            converting.append(asyncio.ensure_future(_blocks(paths, blocks, promtools)))
            # At most one run waits for promtool while the next one is asked.
            if len(converting) > 1:
                await converting.pop(0)
        await asyncio.gather(*converting)
    return samples


async def _points(
    prometheus: Prometheus, expression: str, instants: Sequence[int], lag: int, step: int
) -> list[Series]:
    """The expression at `lag` before each of `instants` (the base rules: the ends of the
    steps recorded there, P = instant - step; the derived ones: the instants themselves),
    one range query; halved and asked again while Prometheus finds it too big or slow."""
    params = {
        "start": str(instants[0] - lag),
        "end": str(instants[-1] - lag),
        "step": str(step),
    }
    try:
        return await prometheus.query_range(expression, params)
    except PrometheusError as error:
        text = str(error)
        if len(instants) < 2 or ("too many samples" not in text and "timed out" not in text):
            raise
    middle = len(instants) // 2
    first = await _points(prometheus, expression, instants[:middle], lag, step)
    second = await _points(prometheus, expression, instants[middle:], lag, step)
    return first + second


def backfill(
    url: str,
    start: datetime,
    end: datetime,
    output: Path,
    step: timedelta = HOUR,
    into: Path | None = None,
    span: timedelta = DAY,
    progress: Progress = _quiet,
    rules: str = "base",
) -> Backfilled:
    """The rules of `step` as if evaluated (at offset 0) at every multiple of the step in
    [start, end] (the derived rules: at the base rules' samples in it) against the
    Prometheus at `url`, as TSDB blocks in `output/blocks` (moved
    into the data folder `into`, when given). The rule file is written beside them.
    `rules`: "base" (from the raw samples) or "derived" (from the base rules' series,
    which Prometheus must hold over the span: backfill them first, and load them)."""
    if rules not in RULES:
        raise BackfillError(f"unknown rules {rules!r}: base or derived")
    if end <= start:
        raise BackfillError(
            f"nothing to backfill: the end {end.isoformat()} is not after the start "
            f"{start.isoformat()}"
        )
    if rules == "derived":
        instants = asyncio.run(base_instants(url, start, end, step))
        if not instants:
            raise BackfillError(
                f"nothing to backfill: Prometheus at {url} holds no base cost rules' samples "
                f"({heartbeat(step)}) between {start.isoformat()} and {end.isoformat()}; "
                "backfill them first (--rules base), move their blocks in, then the derived"
            )
    else:
        instants = evaluations(start, end, step)
    if not instants:
        raise BackfillError(
            f"nothing to backfill: no multiple of the step {step} between "
            f"{start.isoformat()} and {end.isoformat()}"
        )
    promtool()  # missing: said before any query
    output.mkdir(parents=True, exist_ok=True)
    rule_path = output / f"mooring-cost-{int(step.total_seconds())}s.rules.yaml"
    rule_path.write_text(yaml.safe_dump(rule_file(step), sort_keys=False))
    blocks_dir, scratch = output / "blocks", output / "openmetrics"
    for folder in (blocks_dir, scratch):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
    chosen = derived_recordings(step) if rules == "derived" else recordings(step)
    samples = asyncio.run(record(url, instants, step, scratch, blocks_dir, span, progress, chosen))
    shutil.rmtree(scratch, ignore_errors=True)
    blocks = sorted(p for p in blocks_dir.iterdir() if (p / "meta.json").is_file())
    if into is not None:
        moved = []
        for block in blocks:
            target = into / block.name
            shutil.move(str(block), target)
            moved.append(target)
        blocks = moved
    return Backfilled(blocks, rule_path, samples, len(instants))
