"""Benchmark: what creating Mooring's pods policy costs the API server.

Run: .venv/bin/python benchmarks/guardrails_policy_create.py [--baseline PACK] [--rounds R]

The API server compiles every expression of a ValidatingAdmissionPolicy when it is created
(the registry's validation, then the admission plugin loading it, and the type-checking
controller), and cel-go's checker costs more than linearly in one expression's size. The
operator pays it at every start and whenever a policy's mode comes into use. This starts a
local control plane (the pinned Kubernetes), then, round after round, creates and deletes
the pods-enforce policy of this version (and of `--baseline PACK`, `mooring policy render`
of another version, taking turns), and prints for each: the create's wall time (until the
API server answers), and the API server's CPU seconds from the create until it is quiet
again (the plugin compiles on its informer's event, after the answer), median of the
rounds. Also printed: the policy's size and its number of expressions.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guardrails_admission import load
from kyverno_peer import process_cpu

from mooring.api.guardrails import GuardrailSettings
from mooring.core.policy.admission import admission_objects
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube

ADMISSION = "admissionregistration.k8s.io/v1"
SETTLE_LIMIT = 60.0  # seconds after the answer, at most, for the plugin's own compile
QUIET = 0.2  # CPU seconds in one second: the API server has settled


def pods_policy(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [
        d
        for d in documents
        if d.get("kind") == "ValidatingAdmissionPolicy"
        and d["metadata"]["name"].startswith("pods-enforce.")
    ]
    if not found:
        raise SystemExit("no pods-enforce ValidatingAdmissionPolicy in the pack")
    policy = copy.deepcopy(found[0])
    policy["metadata"] = {"name": f"{name}.bench.mooring.dev"}
    return policy


async def one(kube: Kube, policy: dict[str, Any], pid: int) -> tuple[float, float]:
    cpu = process_cpu(pid)
    started = time.perf_counter()
    await kube.create(policy)
    wall = time.perf_counter() - started
    # Until a second passes with the API server nearly idle: the plugin compiles the
    # policy on its informer's event, after the answer.
    deadline = time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        before = process_cpu(pid)
        await asyncio.sleep(1)
        if process_cpu(pid) - before < QUIET:
            break
    used = process_cpu(pid) - cpu
    await kube.delete(ADMISSION, "ValidatingAdmissionPolicy", policy["metadata"]["name"])
    await asyncio.sleep(1)
    return wall, used


async def measure(cluster: DevCluster, policies: dict[str, dict[str, Any]], rounds: int) -> None:
    state = cluster.state()
    assert state is not None
    pid = state.components["kube-apiserver"].pid
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in policies}
    idle = process_cpu(pid)
    await asyncio.sleep(5)
    idle = (process_cpu(pid) - idle) / 5
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        for number in range(rounds):
            for name, policy in policies.items():
                figures[name].append(await one(kube, policy, pid))
            print(f"  round {number + 1} done (load {load()})", flush=True)
    print(f"pods-enforce policy creation, median of {rounds} round(s):")
    print(f"  (the API server's idle CPU: {idle:.2f} s per s, in the CPU figures)")
    print(f"  {'policy':<10} {'KiB':>6} {'expressions':>11} {'create s':>9} {'CPU s':>7}")
    for name, policy in policies.items():
        spec = policy["spec"]
        expressions = len(spec.get("variables", [])) + sum(
            1 + ("messageExpression" in v) for v in spec.get("validations", [])
        )
        size = len(json.dumps(policy).encode()) / 1024
        wall = statistics.median(w for w, _ in figures[name])
        cpu = statistics.median(c for _, c in figures[name])
        print(f"  {name:<10} {size:6.1f} {expressions:>11} {wall:9.2f} {cpu:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="PACK", help="another version's rendered pack")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    policies = {"mooring": pods_policy(admission_objects(GuardrailSettings()), "now")}
    if args.baseline:
        documents = [d for d in yaml.safe_load_all(Path(args.baseline).read_text()) if d]
        policies["baseline"] = pods_policy(documents, "baseline")
    print(f"load average before: {load()}  (2 cores, shared)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        cluster = DevCluster(Path(folder) / "state")
        cluster.up(say=lambda message: print(f"[controlplane] {message}", flush=True))
        try:
            asyncio.run(measure(cluster, policies, args.rounds))
        finally:
            cluster.down(say=lambda message: None, purge=True)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
