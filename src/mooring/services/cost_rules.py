"""The cost recording rules' history: backfilled with Prometheus's own promtool.

Side effects: queries Prometheus (where the rules' evaluations begin), writes the rule file
and runs `promtool tsdb create-blocks-from rules`, which evaluates the rules against the
Prometheus over past time and writes TSDB blocks; moving the blocks into Prometheus's data
folder is the operator's step (`into`, for a data folder on this machine).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from mooring.core.cost.recorded import heartbeat, rule_file
from mooring.services.prometheus import Prometheus


class BackfillError(RuntimeError):
    """promtool is missing or refused; says which and how to fix it."""


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


def backfill(
    url: str,
    start: datetime,
    end: datetime,
    output: Path,
    step: timedelta = timedelta(hours=1),
    into: Path | None = None,
) -> Backfilled:
    """The rules of `step` evaluated over [start, end] against the Prometheus at `url`, as
    TSDB blocks in `output` (moved into the data folder `into`, when given)."""
    if end <= start:
        raise BackfillError(
            f"nothing to backfill: the end {end.isoformat()} is not after the start "
            f"{start.isoformat()}"
        )
    output.mkdir(parents=True, exist_ok=True)
    rules = output / f"mooring-cost-{int(step.total_seconds())}s.rules.yaml"
    rules.write_text(yaml.safe_dump(rule_file(step), sort_keys=False))
    blocks_dir = output / "blocks"
    if blocks_dir.exists():
        shutil.rmtree(blocks_dir)
    blocks_dir.mkdir()
    done = subprocess.run(
        [
            promtool(),
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={url}",
            f"--start={int(start.timestamp())}",
            f"--end={int(end.timestamp())}",
            f"--output-dir={blocks_dir}",
            "--quiet",
            str(rules),
        ],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackfillError(
            f"promtool could not backfill {rules} from {url}: "
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    blocks = sorted(p for p in blocks_dir.iterdir() if (p / "meta.json").is_file())
    if into is not None:
        moved = []
        for block in blocks:
            target = into / block.name
            shutil.move(str(block), target)
            moved.append(target)
        blocks = moved
    return Backfilled(blocks, rules)
