"""Benchmark: what a ValidatingAdmissionPolicy layout costs in the API server's own validator.

Run: .venv/bin/python benchmarks/guardrails_validator.py [--baseline PACK] [--seconds S]
     [--rounds R]

guardrails_admission.py measures whole creates through a running API server (HTTP, etcd,
every admission plugin), where a layout change is a fraction of the CPU per create and the
machine's load moves the figures more than that. This one times only the part a policy's
layout decides: k8s.io/apiserver's validator (`Validate`, the version the local control
plane is built from; benchmarks/vap_validator) on one compliant Pod create, with the Pod
as the API server has it by then (defaulted, service account volume, tolerations, managed
fields), the benchmark's GuardrailContext as params. Variants, taking turns round after
round, median of the rounds:

- floor: a policy with one `true` validation and the same paramKind: the fixed cost of any
  policy (three groups of expressions; up to Kubernetes 1.36 each converted the request's
  objects, from 1.37 the object is converted once per request);
- mooring: Mooring's pods-enforce policy as generated now;
- mooring, no message: the same without its messageExpression (what the detailed message
  costs a request that passes);
- baseline (with `--baseline PACK`): the pods-enforce policy of another version of Mooring
  (`mooring policy render > PACK` run there).

Also printed: each variant's compile, as the admission plugin compiles a policy when it
loads it (cel-go's checker costs more than linearly in one expression's size; the API
server compiles a created policy more than once: guardrails_policy_create.py times
that); and one conversion of the Pod to unstructured, which each group made up to 1.36
and a request makes once from 1.37. Each Validate gets a fresh `admission.LazyObject`, as
each request does, so no conversion is kept from one Validate to the next.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guardrails_admission as admission
import guardrails_corpus as corpus

from mooring.api.base import ObjectMeta
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Environment, Subjects, Tenant, TenantSpec
from mooring.core.policy.admission import admission_objects
from mooring.core.policy.context import build_context
from mooring.core.policy.rules import select

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "benchmarks" / "vap_validator"
CONTROL_PLANE = ROOT / "tools" / "controlplane" / "kubernetes" / "go.mod"
LINE = re.compile(r"^Benchmark(\w+)-\d+\s+(\d+)\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op")


def pinned(go_mod: Path, module: str) -> str:
    """The version of `module` a go.mod builds with (a replace directive first)."""
    text = go_mod.read_text()
    replaced = re.search(rf"^\s*{re.escape(module)} => {re.escape(module)} (\S+)", text, re.M)
    required = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.M)
    found = replaced or required
    if found is None:
        raise SystemExit(f"{go_mod}: no version of {module}")
    return found.group(1)


def build(target: Path) -> None:
    ours = pinned(MODULE / "go.mod", "k8s.io/apiserver")
    server = pinned(CONTROL_PLANE, "k8s.io/apiserver")
    if ours != server:
        raise SystemExit(
            f"benchmarks/vap_validator builds k8s.io/apiserver {ours} but the control plane "
            f"{server}: set {server} in benchmarks/vap_validator/go.mod (go get "
            f"k8s.io/apiserver@{server} k8s.io/api k8s.io/apimachinery; go mod tidy)"
        )
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "test", "-c", "-o", str(target), "."], cwd=MODULE, env=env, check=True)


def variants(folder: Path, baseline: Path | None) -> dict[str, Path]:
    platform = PlatformConfig.model_validate(corpus.PLATFORM)
    tenant = Tenant(
        metadata=ObjectMeta(name=admission.TENANT),
        spec=TenantSpec(
            owners=Subjects(users=["bench"]), tier="small", environments=[Environment(name="pack")]
        ),
    )
    namespace = admission.NAMESPACES["mooring"]
    params = build_context(namespace, platform.spec, tenants=[tenant], now=datetime.now(UTC))
    pack = admission_objects(platform.spec.guardrails, [tenant], select(()))
    mooring = next(o for o in pack if o["metadata"]["name"].startswith("pods-enforce."))
    quiet = copy.deepcopy(mooring)
    for validation in quiet["spec"]["validations"]:
        validation.pop("messageExpression", None)
    floor = copy.deepcopy(mooring)
    floor["spec"]["variables"] = []
    floor["spec"]["validations"] = [{"expression": "true"}]
    policies = {"floor": floor, "mooring": mooring, "mooring, no message": quiet}
    if baseline is not None:
        policy, _binding, _context = admission.baseline_objects(baseline, params)
        policies["baseline"] = policy
    pod = admission.pod("bench-0", namespace)
    files = {}
    for name, policy in policies.items():
        path = folder / f"{name.replace(', ', '-').replace(' ', '-')}.json"
        path.write_text(json.dumps({"policy": policy, "params": params, "pod": pod}))
        files[name] = path
    return files


def run(binary: Path, bench: str, policy: Path, seconds: float | str) -> dict[str, float]:
    """One Go benchmark's figures; `seconds` is a time, or "Nx" for N iterations."""
    benchtime = seconds if isinstance(seconds, str) else f"{seconds}s"
    done = subprocess.run(
        [
            str(binary),
            "-test.run",
            "^$",
            "-test.bench",
            f"^Benchmark{bench}$",
            "-test.benchtime",
            benchtime,
            "-test.benchmem",
        ],
        env={**os.environ, "POLICY": str(policy)},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        match = LINE.match(line)
        if match:
            return {
                "us": float(match.group(3)) / 1000,
                "kib": int(match.group(4)) / 1024,
                "allocs": int(match.group(5)),
            }
    raise SystemExit(f"{bench} on {policy.name} gave no figure:\n{done.stdout}{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="PACK", help="another version's rendered pack")
    parser.add_argument("--seconds", type=float, default=2.0, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {admission.load()}  (2 cores, shared)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        binary = Path(folder) / "vap_validator.test"
        build(binary)
        files = variants(Path(folder), Path(args.baseline) if args.baseline else None)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in files}
        rounds["Pod to unstructured"] = []
        compiled: dict[str, list[float]] = {name: [] for name in files}
        for number in range(args.rounds):
            for name, path in files.items():
                rounds[name].append(run(binary, "Policy", path, args.seconds))
                compiled[name].append(run(binary, "Compile", path, "2x")["us"] / 1000)
            rounds["Pod to unstructured"].append(
                run(binary, "ToUnstructuredPod", files["floor"], args.seconds)
            )
            print(f"  round {number + 1} done (load {admission.load()})", flush=True)
    summary = {
        name: {key: statistics.median(r[key] for r in figures) for key in figures[0]}
        for name, figures in rounds.items()
    }
    floor = summary["floor"]["us"]
    print(f"one Validate of a compliant Pod create, median of {args.rounds} round(s):")
    print(f"  {'variant':<22} {'µs':>8} {'over floor':>11} {'KiB':>7} {'allocs':>7} {'compile':>9}")
    for name, figures in summary.items():
        over = "" if name in ("floor", "Pod to unstructured") else f"+{figures['us'] - floor:.1f}"
        once = f"{statistics.median(compiled[name]):.0f} ms" if name in compiled else ""
        print(
            f"  {name:<22} {figures['us']:8.1f} {over:>11} {figures['kib']:7.1f} "
            f"{figures['allocs']:7.0f} {once:>9}"
        )
    print(f"load average after: {admission.load()}")


if __name__ == "__main__":
    main()
