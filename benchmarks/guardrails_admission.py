"""Benchmark: a Pod create's cost at admission: no policy, Pod Security Admission, Mooring, Kyverno.

Run: .venv/bin/python benchmarks/guardrails_admission.py [--pods N] [--rounds R] [--profile DIR]

One local control plane (started here, in a temporary folder), one namespace per contender,
the same compliant pods created by the same 50 concurrent clients:
- none: a namespace no policy looks at (the floor);
- psa: Pod Security Admission `restricted` enforced on the namespace (built into the API
  server, judging similar fields in Go);
- mooring: the guardrail pack as the operator installs it (ValidatingAdmissionPolicies,
  every rule enforced, the namespace's GuardrailContext as params, the benchmark
  PlatformConfig's parameters: 3 allowed registries, 2 required labels);
- warn-bound: the same pack in a cluster where another tenant warns about a pod rule (so a
  pods-warn policy exists), in a namespace that only enforces but carries the pods-warn
  label: what every tenant namespace paid before the warn and audit policies were bound by
  label (pods-enforce and pods-warn evaluated per create); the `mooring` namespace, not
  labelled, meets pods-enforce alone in the same cluster. `--skip warn-bound` leaves the
  warning tenant out too;
- kyverno: Kyverno (built from tools/peers/kyverno, run as a local webhook; see
  kyverno_peer.py) with the same 13 pod rules as a ClusterPolicy;
- kyverno-cel: the same Kyverno with Mooring's CEL expressions as a ValidatingPolicy;
- baseline (with `--baseline PACK`): the pods policy of another version of Mooring
  (`mooring policy render > PACK` run there, e.g. on main), bound to a namespace of its own
  with the same GuardrailContext: a layout change measured against the one before it, in
  the same run.
The pods comply with every rule (and with PSA restricted), so every rule is evaluated to
the end and every create is admitted; they carry a scheduling gate, so the scheduler and
kwok leave them alone and the figure is the API server's (and the webhook's).

Per contender: creates/s, p50 and p99 latency, and the CPU each create costs the API server
(from /proc/<pid>/stat before and after) and, for Kyverno, its own process. The contenders
take turns, round after round (the order rotating), so that the load of other work on the
machine weighs on all of them alike; figures are the median over rounds. `--profile DIR`
records a CPU profile of the API server (its pprof endpoint; `go tool pprof -top FILE`)
under each contender's load, after the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guardrails_corpus as corpus
import kyverno_peer

from mooring.api import names
from mooring.api.base import ObjectMeta
from mooring.api.crd import crd
from mooring.api.kinds import GUARDRAIL_CONTEXT, POLICY_EXCEPTION
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Environment, GuardrailOverride, Subjects, Tenant, TenantSpec
from mooring.core.policy.admission import admission_objects, mode_label
from mooring.core.policy.context import build_context
from mooring.core.policy.rules import select
from mooring.devcluster.cluster import DevCluster, free_port
from mooring.kube.client import Kube, KubeError
from mooring.services.install import apply_objects

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 50
FAILED: Counter[str] = Counter()  # creates that failed, by the end of their error
TENANT = "bench"
CONTENDERS = {
    "none": "no policy",
    "psa": "Pod Security Admission restricted",
    "mooring": "Mooring guardrails",
    "warn-bound": "Mooring, pods-warn bound too",
    "kyverno": "Kyverno ClusterPolicy",
    "kyverno-cel": "Kyverno ValidatingPolicy (CEL)",
    "baseline": "Mooring, baseline pack",
}
NAMESPACES = {
    "none": "plain-none",
    "psa": "plain-psa",
    "mooring": f"{TENANT}-pack",
    "warn-bound": f"{TENANT}-warnbound",
    "kyverno": "kyverno-classic",
    "kyverno-cel": "kyverno-cel",
    "baseline": "bench-baseline",
}
BASELINE_LABEL = "bench.mooring.dev/baseline"


def pod(name: str, namespace: str) -> dict[str, Any]:
    """A pod every contender admits: PSA restricted, and every guardrail with the
    benchmark platform's parameters."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "bench", "team": "bench"},
        },
        "spec": {
            "schedulingGates": [{"name": "mooring.dev/benchmark"}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "ghcr.io/acme/app:1.0",
                    "imagePullPolicy": "Always",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "20m", "memory": "32Mi"},
                    },
                }
            ],
        },
    }


def bad_pod(namespace: str) -> dict[str, Any]:
    """A pod every policy refuses (privileged, :latest): to see that a policy is in force."""
    probe = pod("probe", namespace)
    container = probe["spec"]["containers"][0]
    container["image"] = "ghcr.io/acme/app:latest"
    container["securityContext"]["privileged"] = True
    del container["securityContext"]["allowPrivilegeEscalation"]
    return probe


async def wait_enforced(kube: Kube, namespace: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await kube.create(bad_pod(namespace), dry_run=True)
        except KubeError as error:
            if error.status in (400, 403):
                return
            if error.status < 500:
                raise
            # A webhook not serving yet (Kyverno makes its certificate after it starts).
        if time.monotonic() > deadline:
            raise TimeoutError(f"no policy refuses a bad pod in {namespace}")
        await asyncio.sleep(0.5)


async def namespace(kube: Kube, name: str, labels: dict[str, str]) -> None:
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )
    while await kube.get_or_none("v1", "ServiceAccount", "default", name) is None:
        await asyncio.sleep(0.2)


async def creates(kubeconfig: Path, ns: str, pods: int, prefix: str) -> list[float]:
    """`pods` creates by CLIENTS clients at once; each create's seconds."""
    latencies: list[float] = []
    per_client = max(1, pods // CLIENTS)

    async def client(index: int) -> None:
        async with Kube.from_kubeconfig(kubeconfig) as kube:
            await kube.resource("v1", "Pod")  # discovery outside the timing
            for n in range(per_client):
                started = time.perf_counter()
                try:
                    await kube.create(pod(f"{prefix}-{index}-{n}", ns))
                except KubeError as error:
                    # A webhook timing out on an overloaded machine (Kyverno's is called
                    # with a 10 s timeout): counted and printed, not timed.
                    FAILED[error.message.split(":")[-1].strip()[:80]] += 1
                    continue
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return latencies


async def clear(kube: Kube, ns: str) -> None:
    """Delete the namespace's pods and wait until they are gone: pods left behind would make
    every later round's etcd and caches larger. A collection delete that the server ends
    early (a busy machine) is sent again."""
    while True:
        with contextlib.suppress(KubeError):
            await kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods")
        left = await kube.request("GET", f"/api/v1/namespaces/{ns}/pods", params={"limit": "1"})
        if not left.get("items"):
            return
        await asyncio.sleep(1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


class Bench:
    def __init__(
        self, cluster: DevCluster, pods: int, kyverno: kyverno_peer.Kyverno | None
    ) -> None:
        self.cluster = cluster
        self.pods = pods
        self.kyverno = kyverno
        state = cluster.state()
        assert state is not None
        self.apiserver_pid = state.components["kube-apiserver"].pid
        self.apiserver_port = state.components["kube-apiserver"].port
        self.serial = 0

    async def run(self, kube: Kube, contender: str) -> dict[str, float]:
        """One round of one contender: its figures."""
        ns = NAMESPACES[contender]
        self.serial += 1
        cpu = kyverno_peer.process_cpu(self.apiserver_pid)
        webhook = self.kyverno.cpu_seconds() if self.kyverno else 0.0
        started = time.perf_counter()
        latencies = await creates(self.cluster.kubeconfig_path, ns, self.pods, f"r{self.serial}")
        seconds = time.perf_counter() - started
        cpu = kyverno_peer.process_cpu(self.apiserver_pid) - cpu
        webhook = (self.kyverno.cpu_seconds() - webhook) if self.kyverno else 0.0
        count = len(latencies)
        figures = {
            "creates_per_s": count / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "apiserver_cpu_ms": cpu / count * 1000,
            "webhook_cpu_ms": webhook / count * 1000 if contender.startswith("kyverno") else 0.0,
            "load1": os.getloadavg()[0],
        }
        await clear(kube, ns)
        return figures

    def profile(self, seconds: int, target: Path) -> None:
        """A CPU profile of the API server over `seconds` (its pprof endpoint)."""
        target.write_bytes(self.cluster.apiserver_profile(seconds))


def baseline_objects(pack: Path, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The pods policy of the pack in `pack` (YAML, as `mooring policy render` prints it),
    renamed, with a binding to the baseline namespace, and that namespace's context."""
    documents = [d for d in yaml.safe_load_all(pack.read_text()) if d]
    policies = [
        d
        for d in documents
        if d.get("kind") == "ValidatingAdmissionPolicy"
        and d["metadata"]["name"].startswith("pods-enforce.")
    ]
    if not policies:
        raise SystemExit(f"{pack}: no pods-enforce ValidatingAdmissionPolicy in it")
    policy = copy.deepcopy(policies[0])
    name = "baseline-" + policy["metadata"]["name"]
    policy["metadata"] = {"name": name}
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "paramRef": {"name": context["metadata"]["name"], "parameterNotFoundAction": "Deny"},
            "matchResources": {"namespaceSelector": {"matchLabels": {BASELINE_LABEL: "true"}}},
        },
    }
    own = copy.deepcopy(context)
    own["metadata"]["namespace"] = NAMESPACES["baseline"]
    return [policy, binding, own]


async def prepare(
    kube: Kube, with_kyverno: bool, baseline: Path | None, warn_bound: bool = False
) -> dict[str, Any]:
    """Namespaces and policies of every contender; returns what Kyverno needs."""
    platform = PlatformConfig.model_validate(corpus.PLATFORM)
    await apply_objects(kube, [crd(GUARDRAIL_CONTEXT), crd(POLICY_EXCEPTION)])
    await namespace(kube, NAMESPACES["none"], {})
    await namespace(
        kube,
        NAMESPACES["psa"],
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )
    tenant = Tenant(
        metadata=ObjectMeta(name=TENANT),
        spec=TenantSpec(
            owners=Subjects(users=["bench"]), tier="small", environments=[Environment(name="pack")]
        ),
    )
    await namespace(kube, NAMESPACES["mooring"], {names.LABEL_TENANT: TENANT})
    context = build_context(
        NAMESPACES["mooring"], platform.spec, tenants=[tenant], now=datetime.now(UTC)
    )
    await kube.apply(context)
    tenants = [tenant]
    if warn_bound:
        # Another tenant warns about a pod rule: the pack then holds a pods-warn policy.
        tenants.append(
            Tenant(
                metadata=ObjectMeta(name="warner"),
                spec=TenantSpec(
                    owners=Subjects(users=["bench"]),
                    tier="small",
                    environments=[Environment(name="pack")],
                    guardrails=[GuardrailOverride(rule="resources", mode="warn")],
                ),
            )
        )
        # Enforcing only (the bench tenant's context), but bound to pods-warn by its label.
        labels = {names.LABEL_TENANT: TENANT, mode_label("pods", "warn"): "true"}
        await namespace(kube, NAMESPACES["warn-bound"], labels)
        own = copy.deepcopy(context)
        own["metadata"]["namespace"] = NAMESPACES["warn-bound"]
        await kube.apply(own)
    pack = admission_objects(platform.spec.guardrails, tenants, select(()))
    if warn_bound and not any(o["metadata"]["name"].startswith("pods-warn.") for o in pack):
        raise SystemExit("no pods-warn policy in the pack")
    for obj in pack:
        await kube.apply(obj)
    pods_policy = next(o for o in pack if o["metadata"]["name"].startswith("pods-enforce."))
    if baseline is not None:
        # Not a tenant namespace: the pack's own binding leaves it alone.
        await namespace(kube, NAMESPACES["baseline"], {BASELINE_LABEL: "true"})
        for obj in baseline_objects(baseline, context):
            await kube.apply(obj)
    if with_kyverno:
        for contender in ("kyverno", "kyverno-cel"):
            await namespace(kube, NAMESPACES[contender], {kyverno_peer.SELECTOR_LABEL: contender})
    return {"context": context, "pods_policy": pods_policy}


async def start_kyverno(
    kube: Kube, kyverno: kyverno_peer.Kyverno, prepared: dict[str, Any], say: Callable[[str], None]
) -> None:
    say("Kyverno: CRDs, namespace, ConfigMaps")
    await apply_objects(kube, kyverno_peer.crds())
    for obj in kyverno_peer.setup_objects():
        await kube.apply(obj)
    kyverno.start()
    say(
        f"Kyverno: started (pid {kyverno.process.pid if kyverno.process else '?'}, "
        f"log {kyverno.log})"
    )
    params = prepared["context"]
    await kube.apply(kyverno_peer.cluster_policy(params, NAMESPACES["kyverno"]))
    await kube.apply(
        kyverno_peer.validating_policy(prepared["pods_policy"], params, NAMESPACES["kyverno-cel"])
    )
    for contender in ("kyverno", "kyverno-cel"):
        if not kyverno.alive():
            raise SystemExit(f"Kyverno stopped; see {kyverno.log}")
        await wait_enforced(kube, NAMESPACES[contender], timeout=300)
        say(f"Kyverno: enforcing in {NAMESPACES[contender]}")


def summarize(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for contender in rounds[0]:
        keys = rounds[0][contender].keys()
        result[contender] = {
            key: statistics.median(r[contender][key] for r in rounds) for key in keys
        }
    return result


def report(summary: dict[str, dict[str, float]], pods: int, rounds: int) -> str:
    lines = [
        f"{pods} pod creates per contender and round, {CLIENTS} concurrent clients, "
        f"median of {rounds} round(s)",
        f"  {'contender':<34} {'creates/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'API server CPU/create':>22} {'webhook CPU/create':>19}",
    ]
    for contender, figures in summary.items():
        webhook = f"{figures['webhook_cpu_ms']:16.2f} ms" if contender.startswith("kyverno") else ""
        lines.append(
            f"  {CONTENDERS[contender]:<34} {figures['creates_per_s']:9.0f} "
            f"{figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f} "
            f"{figures['apiserver_cpu_ms']:19.2f} ms {webhook:>19}"
        )
    none = summary["none"]
    floor_cpu = none["apiserver_cpu_ms"]
    lines.append("  added API-server CPU per create over no policy, and throughput against it:")
    for contender, figures in summary.items():
        if contender == "none":
            continue
        added = figures["apiserver_cpu_ms"] - floor_cpu + figures["webhook_cpu_ms"]
        lines.append(
            f"    {CONTENDERS[contender]:<34} +{added:6.2f} ms CPU"
            f"{' (API server + webhook)' if contender.startswith('kyverno') else ''}, "
            f"{figures['creates_per_s'] / none['creates_per_s'] * 100:5.1f} % of the creates/s"
        )
    if "psa" in summary:
        # PSA's own added cost is often below the noise (then only the whole cost is compared).
        psa_cpu = summary["psa"]["apiserver_cpu_ms"]
        psa = psa_cpu - floor_cpu
        for contender in ("mooring", "warn-bound", "baseline"):
            if contender not in summary:
                continue
            cpu = summary[contender]["apiserver_cpu_ms"]
            lines.append(
                f"  {CONTENDERS[contender]}: API-server CPU per create / PSA restricted's "
                f"{cpu / psa_cpu:.2f}x (aim: <= 1.5x); creates/s / no policy's "
                f"{summary[contender]['creates_per_s'] / none['creates_per_s'] * 100:.1f} % "
                "(aim: >= 85 %)"
                + (f"; added cost / PSA's added {(cpu - floor_cpu) / psa:.2f}x" if psa > 0 else "")
            )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace, cluster: DevCluster, state: Path) -> None:
    say: Callable[[str], None] = lambda message: print(message, flush=True)  # noqa: E731
    contenders = [
        c for c in CONTENDERS if c not in args.skip and (c != "baseline" or args.baseline)
    ]
    with_kyverno = any(c.startswith("kyverno") for c in contenders)
    kyverno = None
    if with_kyverno:
        say("building Kyverno if needed (tools/peers/kyverno)")
        kyverno_peer.binary()
        log = ROOT / "benchmarks" / "out" / "kyverno.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        kyverno = kyverno_peer.Kyverno(cluster.kubeconfig_path, free_port(), log)
    try:
        # Long timeout: deleting a round's 1,000 pods at once takes a while on a busy machine.
        async with Kube.from_kubeconfig(cluster.kubeconfig_path, timeout=600) as kube:
            baseline = Path(args.baseline) if args.baseline else None
            warn_bound = "warn-bound" in contenders
            prepared = await prepare(kube, with_kyverno, baseline, warn_bound)
            await wait_enforced(kube, NAMESPACES["mooring"])
            if warn_bound:
                await wait_enforced(kube, NAMESPACES["warn-bound"])
            if baseline is not None:
                await wait_enforced(kube, NAMESPACES["baseline"])
            if kyverno is not None:
                await start_kyverno(kube, kyverno, prepared, say)
            bench = Bench(cluster, args.pods, kyverno)
            say(f"warming up (load average {load()})")
            for contender in contenders:
                await creates(cluster.kubeconfig_path, NAMESPACES[contender], CLIENTS * 4, "warm")
                await clear(kube, NAMESPACES[contender])
            rounds: list[dict[str, dict[str, float]]] = []
            for number in range(args.rounds):
                order = (
                    contenders[number % len(contenders) :] + contenders[: number % len(contenders)]
                )
                figures: dict[str, dict[str, float]] = {}
                for contender in order:
                    figures[contender] = await bench.run(kube, contender)
                    f = figures[contender]
                    say(
                        f"  round {number + 1} {contender:<12} {f['creates_per_s']:6.0f}/s "
                        f"p50 {f['p50_ms']:6.1f} ms p99 {f['p99_ms']:6.1f} ms "
                        f"API server {f['apiserver_cpu_ms']:5.2f} ms CPU/create"
                        + (
                            f", webhook {f['webhook_cpu_ms']:5.2f} ms"
                            if f["webhook_cpu_ms"]
                            else ""
                        )
                        + f" (load {f['load1']:.1f})"
                    )
                rounds.append({c: figures[c] for c in contenders})
            summary = summarize(rounds)
            print(report(summary, args.pods, args.rounds))
            for reason, count in FAILED.items():
                print(f"  failed creates (not timed): {count} x {reason}")
            if args.out:
                Path(args.out).write_text(
                    json.dumps({"rounds": rounds, "summary": summary}, indent=2)
                )
            if args.profile:
                folder = Path(args.profile)
                folder.mkdir(parents=True, exist_ok=True)
                for contender in args.profile_contender or ["none", "mooring"]:
                    target = folder / f"apiserver-{contender}.pprof"
                    say(f"profiling the API server under {contender} -> {target}")
                    load_task = asyncio.create_task(
                        creates(
                            cluster.kubeconfig_path, NAMESPACES[contender], args.pods * 3, "prof"
                        )
                    )
                    await asyncio.sleep(1)
                    await asyncio.to_thread(bench.profile, args.profile_seconds, target)
                    await load_task
                    await clear(kube, NAMESPACES[contender])
    finally:
        if kyverno is not None:
            kyverno.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=1000, help="creates per contender and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", action="append", default=[], choices=list(CONTENDERS))
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--profile", metavar="DIR", help="record API-server CPU profiles here")
    parser.add_argument("--profile-contender", action="append", choices=list(CONTENDERS))
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument(
        "--baseline",
        metavar="PACK",
        help="also measure this pack's pods policy (`mooring policy render` of another version)",
    )
    args = parser.parse_args()
    print(f"load average before: {load()}  (2 cores, shared)", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        extra = ("--profiling=true",) if args.profile else ()
        cluster = DevCluster(state / "state", apiserver_args=extra)
        cluster.up(say=lambda message: print(f"[controlplane] {message}", flush=True))
        try:
            asyncio.run(main_async(args, cluster, state))
        finally:
            cluster.down(say=lambda message: None, purge=True)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
