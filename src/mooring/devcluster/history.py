"""Metric history written straight into a Prometheus data folder, for tests and benchmarks.

Side effects: writes OpenMetrics text files and runs Debian's `promtool tsdb
create-blocks-from openmetrics` (Prometheus's own backfilling tool) on them; the blocks land
in the data folder a Prometheus is then started on (with a retention long enough to keep
them). Each file becomes its own blocks, so a month is written as one file per day: promtool
reads a file once per block it makes, and a day fits in one block. `HistoryPrometheus` then
serves the folder: Debian's Prometheus, scraping nothing, keeping everything.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from mooring.devcluster.cluster import free_port, http_ok
from mooring.devcluster.prometheus import prometheus_binary

DAY_SECONDS = 86400


class HistoryError(RuntimeError):
    """promtool is missing or refused the history; says which."""


@dataclass(frozen=True)
class Series:
    """One time series: a metric name, its labels, (unix seconds, value) samples in order."""

    name: str
    labels: Mapping[str, str]
    samples: Sequence[tuple[int, float]]


def _labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}" if inner else ""


def openmetrics(series: Iterable[Series]) -> Iterable[str]:
    """OpenMetrics lines (a family's series together, each family typed once)."""
    typed: set[str] = set()
    for item in series:
        if item.name not in typed:
            typed.add(item.name)
            # "gauge" for counters too: promtool keeps samples as they are, and rate() does
            # not look at metadata.
            yield f"# TYPE {item.name} gauge\n"
        text = f"{item.name}{_labels(item.labels)}"
        for stamp, value in item.samples:
            yield f"{text} {value!r} {stamp}\n"


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        raise HistoryError("Debian's promtool is not installed; run scripts/bootstrap")
    return binary


def write_blocks(files: Sequence[Path], data: Path, jobs: int = 2) -> None:
    """Turn OpenMetrics files into TSDB blocks in `data` (one promtool per file)."""
    data.mkdir(parents=True, exist_ok=True)
    tool = promtool()

    def one(path: Path) -> None:
        done = subprocess.run(
            [tool, "tsdb", "create-blocks-from", "openmetrics", str(path), str(data)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise HistoryError(
                f"promtool refused {path}: {done.stderr.decode(errors='replace')[-2000:]}"
            )

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, files))


def backfill(series: Iterable[Series], data: Path, scratch: Path) -> None:
    """Write `series` (any span of time) into `data` through one OpenMetrics file."""
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "history.om"
    with path.open("w") as handle:
        handle.writelines(openmetrics(series))
        handle.write("# EOF\n")
    write_blocks([path], data)


class HistoryPrometheus:
    """Debian's Prometheus over a data folder of written history, scraping nothing."""

    def __init__(self, data: Path, timeout: float = 60) -> None:
        config = data.parent / "history-prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1m"}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data.parent / "history-prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    prometheus_binary(),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    "--storage.tsdb.retention.time=100y",  # written history is old
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not http_ok(f"{self.url}/-/ready"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HistoryError(
                    f"Prometheus over {data} did not start: "
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
