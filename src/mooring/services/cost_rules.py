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


async def first_evaluation(url: str, step: timedelta, now: datetime) -> datetime | None:
    """When Prometheus began evaluating the rules (the end of the first step they
    recorded, within the last 400 days), or None: they have recorded nothing."""
    async with Prometheus(url) as prometheus:
        result = await prometheus.query(f"min_over_time({heartbeat(step)}[400d])", now)
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

    def write(self, recording: Recording, result: Sequence[Series], step: int) -> int:
        written = 0
        for series in result:
            labels = {k: v for k, v in (series.get("metric") or {}).items() if k != "__name__"}
            labels.update(dict(recording.labels))  # a rule's labels win, as in Prometheus
            text = series_text(recording.record, list(labels.items()))
            for stamp, value in series["values"]:
                instant = int(float(stamp)) + step  # the step ending at P is written at P + step
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
) -> int:
    """Every rule's expression over the steps recorded at `instants`, as range queries of up
    to `span` each, written as blocks into `blocks`; how many samples were written."""
    size = int(step.total_seconds())
    runs = chunks(instants, step, span)
    rules = recordings(step)
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
                return await _points(prometheus, recording.expression, run, size)

        for run in runs:
            folder = scratch / f"run-{run[0]}"
            folder.mkdir(parents=True, exist_ok=True)
            writer = _Writer(folder)
            asked = [asyncio.ensure_future(answer(recording, run)) for recording in rules]
            try:
                for recording, future in zip(rules, asked, strict=True):
                    result = await future
                    samples += writer.write(recording, result, size)
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
    prometheus: Prometheus, expression: str, instants: Sequence[int], step: int
) -> list[Series]:
    """The expression at the ends of the steps recorded at `instants` (P = instant - step),
    one range query; halved and asked again while Prometheus finds it too big or slow."""
    params = {
        "start": str(instants[0] - step),
        "end": str(instants[-1] - step),
        "step": str(step),
    }
    try:
        return await prometheus.query_range(expression, params)
    except PrometheusError as error:
        text = str(error)
        if len(instants) < 2 or ("too many samples" not in text and "timed out" not in text):
            raise
    middle = len(instants) // 2
    first = await _points(prometheus, expression, instants[:middle], step)
    second = await _points(prometheus, expression, instants[middle:], step)
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
) -> Backfilled:
    """The rules of `step` as if evaluated (at offset 0) at every multiple of the step in
    [start, end] against the Prometheus at `url`, as TSDB blocks in `output/blocks` (moved
    into the data folder `into`, when given). The rule file is written beside them."""
    if end <= start:
        raise BackfillError(
            f"nothing to backfill: the end {end.isoformat()} is not after the start "
            f"{start.isoformat()}"
        )
    instants = evaluations(start, end, step)
    if not instants:
        raise BackfillError(
            f"nothing to backfill: no multiple of the step {step} between "
            f"{start.isoformat()} and {end.isoformat()}"
        )
    promtool()  # missing: said before any query
    output.mkdir(parents=True, exist_ok=True)
    rules = output / f"mooring-cost-{int(step.total_seconds())}s.rules.yaml"
    rules.write_text(yaml.safe_dump(rule_file(step), sort_keys=False))
    blocks_dir, scratch = output / "blocks", output / "openmetrics"
    for folder in (blocks_dir, scratch):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
    samples = asyncio.run(record(url, instants, step, scratch, blocks_dir, span, progress))
    shutil.rmtree(scratch, ignore_errors=True)
    blocks = sorted(p for p in blocks_dir.iterdir() if (p / "meta.json").is_file())
    if into is not None:
        moved = []
        for block in blocks:
            target = into / block.name
            shutil.move(str(block), target)
            moved.append(target)
        blocks = moved
    return Backfilled(blocks, rules, samples, len(instants))
