"""Benchmark: `mooring check` over 10,000 generated manifests, beside its peers.

Run: .venv/bin/python benchmarks/guardrails_check.py [--manifests N] [--runs R]

Every tool reads the same files, end to end (process start and YAML parsing included):
- mooring check: the 13 rules the peers implement too (CEL), with the PlatformConfig's
  parameters (the later rules are not in the peers' Rego, so not in the comparison);
- kubeconform: schema validation only, against JSON schemas generated here from the local
  API server's OpenAPI document (the control plane is started for that, once, and cached);
- conftest and gator: the same rules written in Rego (benchmarks/conftest/policy), with the
  same parameters; gator runs them as a Gatekeeper ConstraintTemplate.
The peers are built from their Go modules pinned in tools/peers/ (Go module proxy only).
The tools take turns for R rounds; the best wall time counts, and the median of each
round's ratio to Mooring's (Mooring with its bytecode compiled, as a pip-installed wheel
has it, by a first run that is not timed). Then one small file (5 manifests), as CI
checks a pull request: `mooring check` (the installed command; with the rules' defaults,
and with `--platform`; each also with its bytecode compiled) and kubeconform, best and
median of at least 10 runs, since process start is most of it (`--small-only`: that
alone). The machine's load average is printed with the figures:
other work on the machine slows every tool alike, not one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guardrails_corpus as corpus
import guardrails_peers as peers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "guardrails"


MEDIANS: dict[str, tuple[float, float]] = {}  # command -> (median wall, median CPU) seconds


def timed(
    command: list[str], runs: int, env: dict[str, str] | None = None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(best wall seconds, CPU seconds of that run, the last run's output); the medians of
    wall and CPU time over the runs go to MEDIANS."""
    best_wall, best_cpu = float("inf"), 0.0
    walls: list[float] = []
    cpus: list[float] = []
    done: subprocess.CompletedProcess[str] | None = None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        walls.append(wall)
        cpus.append(cpu)
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    assert done is not None
    MEDIANS[" ".join(command)] = (statistics.median(walls), statistics.median(cpus))
    return best_wall, best_cpu, done


def schemas_from_local_api_server() -> Path:
    """kubeconform's schemas, generated from the local control plane's OpenAPI (cached)."""
    folder = peers.peers_cache() / "kubeconform-schemas"
    if (folder / ".complete").is_file():
        return folder
    from mooring.devcluster.cluster import DevCluster

    with tempfile.TemporaryDirectory() as state:
        cluster = DevCluster(Path(state) / "state")
        cluster.up(say=lambda message: print(f"[controlplane] {message}", flush=True))
        try:
            return peers.schemas(cluster.kubeconfig_path, folder)
        finally:
            cluster.down(say=lambda message: None, purge=True)


def gator_policy(platform: dict[str, Any], folder: Path) -> Path:
    """The Rego of conftest/policy as a Gatekeeper ConstraintTemplate, and its constraint."""
    rego = (peers.POLICY / "guardrails.rego").read_text()
    rego = rego.replace("package main", "package mooringguardrails")
    rego = rego.replace("import rego.v1", "import future.keywords")
    rego = rego.replace("obj := input\n", "obj := input.review.object\n")
    rego = rego.replace("params := data.params\n", "params := input.parameters\n")
    rego = rego.replace("deny contains msg if", 'violation contains {"msg": msg} if')
    params = json.loads(peers.conftest_data(platform, folder).read_text())["params"]
    template = {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "mooringguardrails"},
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": "MooringGuardrails"},
                    "validation": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            },
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}],
        },
    }
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "MooringGuardrails",
        "metadata": {"name": "mooring"},
        "spec": {"parameters": params},
    }
    path = folder / "gator-policy.yaml"
    path.write_text(yaml.safe_dump_all([template, constraint], sort_keys=False))
    return path


# -- what each tool found, as (object, rule) pairs, to show the policies are equivalent --------


def _rule(message: str) -> str:
    return message.split(":", 1)[0]


def mooring_pairs(output: str) -> set[tuple[str, str]]:
    return {(f["object"], f["rule"]) for f in json.loads(output)["findings"]}


def gator_pairs(output: str) -> set[tuple[str, str]]:
    pairs = set()
    for violation in json.loads(output or "[]"):
        obj = violation["violatingObject"]
        meta = obj["metadata"]
        pairs.add((f"{obj['kind']} {meta['namespace']}/{meta['name']}", _rule(violation["msg"])))
    return pairs


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def with_bytecode(cache: str) -> dict[str, str]:
    """The environment to run Mooring as a pip-installed wheel does, its modules compiled.

    This machine's Python runs with PYTHONDONTWRITEBYTECODE=1 and Mooring installed
    editable: every run compiles Mooring's changed modules from source. A wheel installed
    by pip (a CI runner's `pip install`) has them compiled; with this environment the
    bytecode goes to a folder of its own, written by a first run that is not timed."""
    compiled = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compiled["PYTHONPYCACHEPREFIX"] = cache
    return compiled


def small(folder: Path, platform_path: Path, runs: int, skip: list[str]) -> None:
    """One small file (5 manifests), as a CI step checks a pull request's files: process
    start and imports are most of it. The `mooring` command as installed, best of 10+ runs."""
    one = sorted(folder.iterdir())[0]
    mooring = Path(sys.executable).parent / "mooring"
    commands = {
        # The rules' defaults (a team checking its manifests on their own) and with the
        # platform's PlatformConfig (its modes and parameters: the API models are loaded).
        "mooring check, one file": [str(mooring), "check", str(one)],
        "mooring check --platform, one file": [
            str(mooring),
            "check",
            str(one),
            "--platform",
            str(platform_path),
        ],
        "kubeconform, one file": [
            str(peers.build("kubeconform")),
            "-schema-location",
            str(schemas_from_local_api_server()) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-summary",
            str(one),
        ],
    }
    with tempfile.TemporaryDirectory() as cache:
        compiled = with_bytecode(cache)
        for name, argv in list(commands.items()):
            if name.startswith("mooring"):
                commands[f"{name}, with bytecode"] = argv
        for name, argv in commands.items():
            if any(s in name for s in skip):
                continue
            env = compiled if name.endswith("with bytecode") else None
            if env is not None:
                subprocess.run(argv, capture_output=True, check=False, env=env)
            wall, cpu, done = timed(argv, max(runs, 10), env)
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
            median_wall, median_cpu = MEDIANS[" ".join(argv)]
            print(
                f"  {name:<50} best {wall * 1000:5.0f} ms ({cpu * 1000:4.0f} ms CPU), "
                f"median {median_wall * 1000:5.0f} ms ({median_cpu * 1000:4.0f} ms CPU)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=10_000)
    parser.add_argument("--per-file", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], help="tools to leave out")
    parser.add_argument(
        "--small-only", action="store_true", help="only the one small file (CI's per-PR check)"
    )
    args = parser.parse_args()

    folder = OUT / "corpus"
    stamp = OUT / f".corpus-{args.manifests}-{args.per_file}"
    if not stamp.is_file():
        print(f"generating {args.manifests} manifests in {folder}", flush=True)
        corpus.generate(folder, args.manifests, args.per_file)
        for old in OUT.glob(".corpus-*"):
            old.unlink()
        stamp.write_text("")
    platform_path = corpus.write_platform(OUT / "platform.yaml")
    platform = yaml.safe_load(platform_path.read_text())
    size = sum(p.stat().st_size for p in folder.iterdir())
    files = len(list(folder.iterdir()))

    mooring = [sys.executable, "-m", "mooring.cli", "check", str(folder), "--platform"]
    mooring += [str(platform_path), "--format", "json"]
    for rule in corpus.PEER_RULES:  # the rules the peers have too
        mooring += ["--rule", rule]
    tools: dict[str, Callable[[], list[str]]] = {
        "mooring check (2 processes)": lambda: mooring,
        "mooring check (1 process)": lambda: [*mooring, "--jobs", "1"],
        "kubeconform (schemas only)": lambda: [
            str(peers.build("kubeconform")),
            "-schema-location",
            str(schemas_from_local_api_server()) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-summary",
            str(folder),
        ],
        "conftest (Rego)": lambda: [
            str(peers.build("conftest")),
            "test",
            "--policy",
            str(peers.POLICY),
            "--data",
            str(peers.conftest_data(platform, OUT / "conftest-data")),
            "--no-color",
            "--output",
            "json",
            str(folder),
        ],
        "gator (Rego, Gatekeeper)": lambda: [
            str(peers.build("gator")),
            "test",
            "-f",
            str(gator_policy(platform, OUT / "gator")),
            "-f",
            str(folder),
            "-o",
            "json",
        ],
    }
    print(f"corpus: {args.manifests} manifests in {files} files, {size / 2**20:.1f} MiB")
    print(f"load average before: {load()}  (2 cores, shared)")
    results: dict[str, dict[str, float]] = {}
    outputs: dict[str, str] = {}
    cache = tempfile.TemporaryDirectory()
    compiled = with_bytecode(cache.name)
    chosen = {
        name: command()
        for name, command in tools.items()
        if not any(skip in name for skip in args.skip) and not args.small_only
    }
    # Mooring as installed from a wheel: its bytecode compiled by a first, untimed run.
    envs = {name: compiled if name.startswith("mooring") else None for name in chosen}
    for name, argv in chosen.items():
        if envs[name] is not None:
            subprocess.run(argv, capture_output=True, check=False, env=envs[name])
    # The tools take turns, round after round: the machine's speed drifts over minutes
    # (other work, its host), and a drift then slows every tool alike.
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    for _ in range(args.runs):
        for name, argv in chosen.items():
            wall, cpu, done = timed(argv, 1, envs[name])
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
            outputs[name] = done.stdout
            rounds[name].append((wall, cpu))
    for name, measured in rounds.items():
        wall, cpu = min(measured)
        median = statistics.median(w for w, _ in measured)
        results[name] = {"wall": wall, "cpu": cpu, "median": median}
        results[name]["per_second"] = args.manifests / wall
        print(
            f"  {name:<30} {wall:7.2f} s  {cpu:7.2f} s CPU  "
            f"{args.manifests / wall:9.0f} manifests/s  (median {median:.2f} s)",
            flush=True,
        )
    cache.cleanup()
    small(folder, platform_path, args.runs, args.skip)
    print(f"load average after:  {load()}")
    ours = "mooring check (2 processes)"
    if ours in results:
        for name in results:
            if not name.startswith("mooring"):
                best = results[name]["wall"] / results[ours]["wall"]
                # The ratio within each round, where both ran at the machine's same speed.
                paired = statistics.median(
                    theirs / mine
                    for (theirs, _), (mine, _) in zip(rounds[name], rounds[ours], strict=True)
                )
                print(
                    f"  {name}: {best:.2f}x the wall time of {ours} (best against best); "
                    f"{paired:.2f}x (median of the rounds' ratios)"
                )
    found = {}
    if "mooring check (2 processes)" in outputs:
        found["mooring"] = mooring_pairs(outputs["mooring check (2 processes)"])
    if "gator (Rego, Gatekeeper)" in outputs:
        found["gator"] = gator_pairs(outputs["gator (Rego, Gatekeeper)"])
    if len(found) == 2:
        both = found["mooring"] & found["gator"]
        print(
            f"(object, rule) violations: mooring {len(found['mooring'])}, gator "
            f"{len(found['gator'])}, both {len(both)}"
        )
    (OUT / "results.json").write_text(
        json.dumps({"manifests": args.manifests, "files": files, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
