"""Benchmark: N tenants with 2 environments each, applied at once, on the local control plane.

Prints, for the operator: time until every tenant is Ready, API requests per tenant and the
429s among them (from the API server's audit log), operator CPU seconds and peak memory, and
drift-repair latency (p50/p99 over deleted NetworkPolicies). In the same run, the floor: the
same rendered objects applied directly with `kubectl apply --server-side`, on a fresh
control plane. Several sizes run one after the other (`--tenants 1000 5000 10000`), with a
table of how each figure grows at the end.

Every phase prints its figures as soon as they are measured (a run stopped midway keeps
what it printed, its floor first), and the wait for Ready prints progress every 15 s.
`--peer hnc` adds, at each size, HNC (benchmarks/hnc_peer.py) on a fresh control plane of its
own: N parent namespaces, each with 2 subnamespaces that get the same RoleBindings, quota,
limit range and network policies by propagation (`hnc-rbac`: the RoleBindings only; both
may be given).
`--memory-profile` runs the operator under tracemalloc (benchmarks/memprofile.py) and
writes where its memory is at the peak to benchmarks/out/memory-<N>.txt, and its traced
and resident memory over time to benchmarks/out/memory-<N>.timeline (slower: the time
figures of such a run are not comparable). `--skip-floor` runs the operator phase alone (a
profiling run; no ratio to the floor is printed). With CENSUS=1 in the environment,
`--memory-profile` counts objects by type instead (memprofile.py --census), cheap enough
for a full-size run, into benchmarks/out/memory-<N>.txt. `--backlog` applies the Tenants
before the operator starts (an operator restarted, or far behind: every Tenant waits at once,
which is when its memory peaks); the time is then from the operator's start. With
APISERVER_PROFILE=DIR[:DELAY[:SECONDS]] in the environment, the API server runs with
`--profiling` and a CPU profile of each phase (floor, operator) is written to DIR.

Usage: .venv/bin/python benchmarks/tenants.py [--tenants 1000 [5000 ...]] [--drift 200]
       [--peer hnc [hnc-rbac]] [--skip-floor] [--memory-profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.render import Context, render_tenant
from mooring.core.render.platform import install, operator_user
from mooring.devcluster.binaries import ensure_built
from mooring.devcluster.cluster import DevCluster, NodeShape, free_port, operator_command
from mooring.kube.client import Kube, KubeError
from mooring.services.install import apply_objects

API = "mooring.dev/v1alpha1"
SETTLE = 20.0  # seconds after a wave is Ready before its snapshot: status writes, audits
# Seconds to wait after the drift phase before reading the operator's metrics and the audit
# log: quota usage is written up to usage_wait (120 s, operator/tenants.py Watches) after a
# count, and the requests per tenant should include those writes.
TRAILING = 125.0
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""
PLATFORM: dict[str, Any] = {
    "apiVersion": API,
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "defaultTier": "small",
        "tiers": {
            "small": {
                "quota": {"cpu": "2", "memory": "4Gi", "pods": 20, "storage": "10Gi"},
                "containerDefaults": {
                    "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                    "defaultLimit": {"cpu": "200m", "memory": "128Mi"},
                },
            }
        },
    },
}


def tenants(count: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API,
            "kind": "Tenant",
            "metadata": {"name": f"team{i:04d}"},
            "spec": {
                "owners": {"users": [f"owner{i}@example.com"]},
                "developers": {"groups": [f"team{i:04d}-devs"]},
                "environments": [{"name": "dev"}, {"name": "prod"}],
                "costCenter": f"cc-{i % 50}",
            },
        }
        for i in range(count)
    ]


def start_cluster(root: Path, name: str) -> DevCluster:
    audit = root / f"{name}-audit.yaml"
    audit.write_text(AUDIT_POLICY)
    profiling = ("--profiling=true",) if os.environ.get("APISERVER_PROFILE") else ()
    cluster = DevCluster(
        root / name,
        NodeShape(count=4),
        apiserver_args=(
            f"--audit-policy-file={audit}",
            f"--audit-log-path={root / name}-audit.log",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
            *profiling,
        ),
    )
    cluster.up(say=lambda _: None)
    return cluster


def profile_apiserver_later(cluster: DevCluster, name: str) -> threading.Thread | None:
    """With APISERVER_PROFILE=DIR[:DELAY[:SECONDS]] in the environment: a CPU profile of
    the API server (its pprof endpoint) over SECONDS (30), DELAY (20) seconds from now, as
    DIR/apiserver-NAME.pprof (`go tool pprof -top` reads it)."""
    setting = os.environ.get("APISERVER_PROFILE")
    if not setting:
        return None
    folder, *rest = setting.split(":")
    delay, seconds = (float(rest[0]) if rest else 20.0), (int(rest[1]) if len(rest) > 1 else 30)
    target = Path(folder) / f"apiserver-{name}.pprof"
    target.parent.mkdir(parents=True, exist_ok=True)

    def take() -> None:
        time.sleep(delay)
        try:
            target.write_bytes(cluster.apiserver_profile(seconds))
            say(f"{name}: API-server CPU profile of {seconds} s written to {target}")
        except OSError as error:  # the phase ended first: say so, the run goes on
            say(f"{name}: no API-server profile ({error})")

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def say(message: str) -> None:
    """Progress and figures as they come (flushed: a stopped run keeps what it printed)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def audited(
    audit_log: Path, user: str, agent: str = ""
) -> tuple[Counter[str], Counter[int], Counter[str]]:
    """Requests in the audit log made by `user` (with a user agent starting with `agent`):
    by verb, by response code, and by verb and resource ("patch tenants/status")."""
    verbs: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    targets: Counter[str] = Counter()
    with audit_log.open() as lines:
        for line in lines:
            event = json.loads(line)
            if event.get("user", {}).get("username") == user and event.get(
                "userAgent", ""
            ).startswith(agent):
                verbs[event["verb"]] += 1
                codes[int(event.get("responseStatus", {}).get("code", 0))] += 1
                ref = event.get("objectRef") or {}
                resource = ref.get("resource", event.get("requestURI", "?"))
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                targets[f"{event['verb']} {resource}"] += 1
    return verbs, codes, targets


def proc_stats(pid: int) -> tuple[float, int, int]:
    """CPU seconds (user+system), resident and peak resident memory in bytes of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return cpu, int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


async def prepare(cluster: DevCluster) -> None:
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        await apply_objects(kube, install())
        await kube.apply(PLATFORM)


def kubectl_apply(kubectl: Path, path: Path, env: dict[str, str], manager: str = "") -> None:
    """`kubectl apply --server-side -f PATH` (as field manager `manager`, if given)."""
    managed = [f"--field-manager={manager}"] if manager else []
    subprocess.run(
        [str(kubectl), "apply", "--server-side", *managed, "-f", str(path)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def applied_alone(
    root: Path,
    name: str,
    objects: list[dict[str, Any]],
    what: str,
    kubectl: Path,
    manager: str = "",
) -> dict[str, float]:
    """A fresh control plane with Mooring installed and no operator: the time and API
    requests of `kubectl apply --server-side` of `objects` ("N `what`")."""
    cluster = start_cluster(root, name)
    try:
        asyncio.run(prepare(cluster))
        manifest = root / f"{name}.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
        say(f"{name}: kubectl apply --server-side of {len(objects)} {what} ...")
        profile_apiserver_later(cluster, name)
        started = time.monotonic()
        kubectl_apply(kubectl, manifest, env, manager)
        elapsed = time.monotonic() - started
        say(f"{name}: {elapsed:.1f} s")
        verbs, _, _ = audited(root / f"{name}-audit.log", "mooring-admin", agent="kubectl")
        return {"seconds": elapsed, "objects": len(objects), "requests": sum(verbs.values())}
    finally:
        cluster.down(say=lambda _: None, purge=True)


def floor(root: Path, bodies: list[dict[str, Any]], kubectl: Path) -> dict[str, float]:
    """The floor: the objects the operator would make for these Tenants, applied by kubectl."""
    platform = PlatformConfig.model_validate(PLATFORM).spec
    objects = [
        obj
        for body in bodies
        for obj in render_tenant(Context(Tenant.model_validate(body), platform))
    ]
    return applied_alone(root, "floor", objects, "rendered objects", kubectl, manager="floor")


def tenants_alone(root: Path, bodies: list[dict[str, Any]], kubectl: Path) -> dict[str, float]:
    """The Tenants' own `kubectl apply --server-side`, with no operator: what the operator
    phase asks of the API server besides the operator's work (the floor has no Tenants)."""
    return applied_alone(root, "alone", bodies, "Tenants, no operator", kubectl)


async def wait_all_ready(kube: Kube, count: int, timeout: float, pid: int) -> float:
    started = time.monotonic()
    said = started
    while time.monotonic() - started < timeout:
        ready = 0
        try:
            async for page, _ in kube.list_pages(API, "Tenant"):
                ready += sum(
                    1
                    for t in page
                    if (t.get("status") or {}).get("ready") == "True"
                    and t["status"].get("observedGeneration") == t["metadata"]["generation"]
                )
        except KubeError as error:  # an API server too busy to answer us: look again
            say(f"  could not count Ready tenants: {error}")
            await asyncio.sleep(5)
            continue
        if ready >= count:
            return time.monotonic()
        if time.monotonic() - said >= 15:
            said = time.monotonic()
            cpu, rss, peak = proc_stats(pid)
            say(
                f"  {ready}/{count} Ready; operator CPU {cpu:.0f} s, "
                f"memory {rss / 2**20:.0f} MiB (peak {peak / 2**20:.0f})"
            )
        await asyncio.sleep(1 if count > 2000 else 0.25)
    raise TimeoutError(f"not all {count} tenants Ready in {timeout} s")


async def drift_latencies(kube: Kube, count: int, samples: int) -> list[float]:
    """Delete one managed NetworkPolicy at a time; time until its replacement exists."""
    latencies = []
    for i in range(samples):
        namespace = f"team{(i * 7919) % count:04d}-dev"
        await kube.delete(
            "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
        )
        deleted = time.monotonic()
        while True:
            found = await kube.get_or_none(
                "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
            )
            if found is not None:
                latencies.append(time.monotonic() - deleted)
                break
            if time.monotonic() - deleted > 30:
                raise TimeoutError(f"{namespace}: NetworkPolicy not restored in 30 s")
            await asyncio.sleep(0.005)
    return latencies


def operator_run(
    root: Path,
    bodies: list[dict[str, Any]],
    kubectl: Path,
    drift: int,
    memory_profile: Path | None,
    backlog: bool = False,
    snapshots: Sequence[int] = (),
) -> dict[str, Any]:
    cluster = start_cluster(root, "operator")
    process: subprocess.Popen[bytes] | None = None
    n = len(bodies)
    try:
        asyncio.run(prepare(cluster))
        config = cluster.operator_kubeconfig(root / "operator.kubeconfig")
        user, _ = operator_user()
        log = (root / "operator.log").open("wb")
        metrics_port = free_port()
        python: list[str] = []
        if os.environ.get("PROFILE"):
            python = ["-m", "cProfile", "-o", os.environ["PROFILE"]]
        elif memory_profile is not None:
            census = ["--census"] if os.environ.get("CENSUS") else []
            python = [str(Path(__file__).with_name("memprofile.py")), *census, str(memory_profile)]
        manifest = root / "tenants.yaml"
        manifest.write_text(yaml.safe_dump_all(bodies))
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
        command = operator_command(config, metrics_port, "--log-level", "warning", python=python)

        def apply_tenants(path: Path = manifest) -> None:
            kubectl_apply(kubectl, path, env)

        async def snapshot_at(kube: Kube, wave: int) -> None:
            """The first `wave` Tenants, all Ready, settled: a snapshot of the operator's
            memory (memprofile.py dumps one on SIGUSR1)."""
            path = root / f"tenants-{wave}.yaml"
            path.write_text(yaml.safe_dump_all(bodies[:wave]))
            say(f"operator: kubectl apply --server-side of the first {wave} Tenants ...")
            apply_tenants(path)
            await wait_all_ready(kube, wave, timeout=7200, pid=pid)
            await asyncio.sleep(SETTLE)
            assert memory_profile is not None
            taken = len(list(memory_profile.parent.glob(f"{memory_profile.stem}.*.snap")))
            os.kill(pid, signal.SIGUSR1)
            want = memory_profile.with_suffix(f".{taken + 1}.rss")
            while not want.exists():
                await asyncio.sleep(1)
            _, _, peak = proc_stats(pid)
            say(
                f"operator: snapshot {taken + 1} at {wave} Ready: resident "
                f"{int(want.read_text()) / 2**20:.0f} MiB (peak {peak / 2**20:.0f})"
            )

        if backlog:  # every Tenant there before the operator starts: all of them at once
            say(f"operator: kubectl apply --server-side of {n} Tenants, no operator yet ...")
            apply_tenants()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if not backlog:
            time.sleep(3)  # let kopf list and watch before the flood, as a running operator would
        cpu_before, _, _ = proc_stats(process.pid)
        pid = process.pid

        async def measure() -> tuple[float, float, list[float]]:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                started = time.monotonic()
                if backlog:
                    say(f"operator: started with {n} Tenants waiting")
                else:
                    for wave in [w for w in snapshots if w <= n]:
                        await snapshot_at(kube, wave)
                    say(f"operator: kubectl apply --server-side of {n} Tenants ...")
                    profile_apiserver_later(cluster, "operator")
                    apply_tenants()
                applied = time.monotonic()
                say(f"operator: Tenants applied in {applied - started:.1f} s; waiting for Ready")
                done = await wait_all_ready(kube, n, timeout=7200, pid=pid)
                say(f"operator: every tenant Ready after {done - started:.1f} s")
                latencies = await drift_latencies(kube, n, drift)
                return done - started, applied - started, latencies

        total, apply_seconds, latencies = asyncio.run(measure())
        cpu_after, _, peak = proc_stats(process.pid)
        say(f"operator: waiting {TRAILING:.0f} s for trailing writes (quota usage) ...")
        time.sleep(TRAILING)
        say(
            f"operator: CPU {cpu_after - cpu_before:.1f} s, peak memory (VmHWM) "
            f"{peak / 2**20:.0f} MiB"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            metrics = response.read().decode()
        reconciles = {
            line.split("result=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("mooring_reconciles_total{")
        }
        picked = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("mooring_resync_picked_up_total{")
        )
        resync = {
            line.split('source="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("mooring_resync_last_duration_seconds{")
        }
        status_writes = {
            line.split('why="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('mooring_status_writes_total{kind="Tenant"')
        }
        log_text = (root / "operator.log").read_text(errors="replace")
        Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
        Path(f"benchmarks/out/operator-{n}.log").write_text(log_text)  # a look afterwards
        lines = log_text.splitlines()
        verbs, codes, targets = audited(root / "operator-audit.log", user)
        return {
            "targets": dict(targets.most_common(12)),
            "seconds": total,
            "apply_seconds": apply_seconds,
            "requests": sum(verbs.values()),
            "verbs": dict(verbs),
            "refused": codes.get(429, 0),
            "cpu": cpu_after - cpu_before,
            "peak_rss": peak,
            "drift": latencies,
            "reconciles": reconciles,
            "picked_up": picked,
            "status_writes": status_writes,
            "resync": resync,
            "errors": sum(1 for line in lines if " ERROR " in line),
            "warnings": sum(1 for line in lines if " WARNING " in line),
            "tracebacks": sum(1 for line in lines if line.startswith("Traceback")),
        }
    finally:
        if process is not None:
            # SIGINT lets cProfile write; memprofile writes as it goes.
            process.send_signal(2 if os.environ.get("PROFILE") else 15)
            process.wait(timeout=120)
        cluster.down(say=lambda _: None, purge=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_size(
    n: int,
    drift: int,
    kubectl: Path,
    memory_profile: bool,
    peers: Sequence[str] = (),
    skip_floor: bool = False,
    backlog: bool = False,
    snapshots: Sequence[int] = (),
) -> dict[str, Any]:
    bodies = tenants(n)
    load = os.getloadavg()
    say(f"== {n} tenants x 2 environments; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    profile = Path(f"benchmarks/out/memory-{n}.txt").resolve() if memory_profile else None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
        root = Path(tmp)
        if skip_floor:
            base = {"seconds": float("nan"), "objects": 0, "requests": 0}
            say("floor: skipped (--skip-floor)")
        else:
            base = floor(root, bodies, kubectl)
            say(
                f"floor  kubectl apply --server-side: {base['seconds']:.1f} s for "
                f"{base['objects']} objects, {base['requests'] / n:.1f} API requests per tenant"
            )
        run = operator_run(root, bodies, kubectl, drift, profile, backlog, snapshots)
        for line in report(n, base, run):
            say(line)
        hncs: dict[str, Any] = {}
        for peer in peers:
            import hnc_peer  # it imports this module's helpers: imported only when asked for

            workload = "full" if peer == "hnc" else "rbac"
            hnc = hnc_peer.run(root, bodies, kubectl, drift, workload)
            for line in hnc_peer.report(n, hnc):
                say(line)
            say(
                f"{peer} beside mooring: children with what they hold {hnc['seconds']:.1f} s "
                f"({hnc['seconds'] / base['seconds']:.2f}x the floor), anchors Ok "
                f"{hnc['anchors_seconds']:.1f} s vs every Tenant Ready {run['seconds']:.1f} s, "
                f"CPU {hnc['cpu']:.1f} s vs {run['cpu']:.1f} s, peak "
                f"{hnc['peak_rss'] / 2**20:.0f} MiB vs {run['peak_rss'] / 2**20:.0f} MiB, "
                f"{hnc['requests'] / n:.1f} vs {run['requests'] / n:.1f} requests per tenant"
            )
            hncs[peer] = {**hnc, "drift": None}
    return {
        "tenants": n,
        "floor": base["seconds"],
        **run,
        "drift": None,
        "load": load[0],
        "peers": hncs,
    }


def report(n: int, base: dict[str, float], run: dict[str, Any]) -> list[str]:
    """The operator's figures beside the floor's, as printed lines."""
    drift_seconds = run["drift"]
    return [
        f"mooring operator: all Ready after {run['seconds']:.1f} s "
        f"(tenants applied in {run['apply_seconds']:.1f} s), "
        f"{run['requests'] / n:.1f} API requests per tenant {run['verbs']}, "
        f"{run['refused']} answered 429",
        "requests per tenant by verb and resource: "
        + ", ".join(f"{key} {count / n:.2f}" for key, count in run.get("targets", {}).items()),
        "Tenant status writes per tenant, by why (the operator's metric): "
        + ", ".join(
            f"{why} {count / n:.2f}"
            for why, count in sorted(run.get("status_writes", {}).items(), key=lambda i: -i[1])
        ),
        f"reconciles by result: {run['reconciles']}; picked up by the resync: "
        f"{run['picked_up']:.0f}; log lines: {run['errors']} ERROR, {run['warnings']} WARNING, "
        f"{run['tracebacks']} tracebacks",
        f"ratio to floor: {run['seconds'] / base['seconds']:.2f}x (aim: <= 1.2x)",
        "last resync look: "
        + (
            ", ".join(f"{how} {seconds * 1000:.0f} ms" for how, seconds in run["resync"].items())
            or "none yet"
        ),
        f"operator CPU: {run['cpu']:.1f} s ({run['cpu'] / n * 1000:.1f} ms per tenant); "
        f"peak memory (VmHWM): {run['peak_rss'] / 2**20:.0f} MiB (aim at 10,000: < 500)",
        f"drift repair ({len(drift_seconds)} deleted NetworkPolicies): "
        f"p50 {statistics.median(drift_seconds) * 1000:.0f} ms, "
        f"p99 {percentile(drift_seconds, 0.99) * 1000:.0f} ms, "
        f"max {max(drift_seconds) * 1000:.0f} ms (aim: p99 < 1 s)",
        f"load average at the end: {os.getloadavg()[0]:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000])
    parser.add_argument("--drift", type=int, default=200, help="drift repairs to time")
    parser.add_argument(
        "--memory-profile", action="store_true", help="tracemalloc in the operator (slower)"
    )
    parser.add_argument(
        "--skip-floor",
        action="store_true",
        help="the operator phase alone (profiling; no ratio to the floor)",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="apply the Tenants before the operator starts (all of them pending at once)",
    )
    parser.add_argument(
        "--peer",
        choices=["hnc", "hnc-rbac"],
        nargs="+",
        default=[],
        help="also run the peer at each size (benchmarks/hnc_peer.py)",
    )
    parser.add_argument(
        "--snapshots",
        type=int,
        nargs="+",
        default=[],
        help="with --memory-profile: apply the Tenants in waves up to each figure, and dump "
        "a tracemalloc snapshot of the operator when a wave is Ready (memprofile.py --diff)",
    )
    parser.add_argument(
        "--tenants-alone",
        action="store_true",
        help="only the Tenants' own apply with no operator, at each size (no floor, no "
        "operator): what the operator phase's time includes that the floor's does not",
    )
    args = parser.parse_args()
    if args.snapshots and not args.memory_profile:
        parser.error("--snapshots needs --memory-profile (tracemalloc)")
    kubectl = ensure_built(say=lambda _: None)["kubectl"]
    if args.tenants_alone:
        for n in args.tenants:
            with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
                load = os.getloadavg()[0]
                alone = tenants_alone(Path(tmp), tenants(n), kubectl)
                say(
                    f"tenants alone ({n}): {alone['seconds']:.1f} s, "
                    f"{alone['requests'] / n:.1f} API requests per tenant; load average "
                    f"{load:.2f} before, {os.getloadavg()[0]:.2f} after"
                )
        return
    results = [
        one_size(
            n,
            args.drift,
            kubectl,
            args.memory_profile,
            args.peer,
            args.skip_floor,
            args.backlog,
            args.snapshots,
        )
        for n in args.tenants
    ]
    if len(results) > 1:
        say("how the figures grow (each size against the first):")
        first = results[0]
        for result in results:
            scale = result["tenants"] / first["tenants"]
            say(
                f"  {result['tenants']:>6} tenants (x{scale:.0f}): floor {result['floor']:.0f} s "
                f"(x{result['floor'] / first['floor']:.1f}), operator {result['seconds']:.0f} s "
                f"(x{result['seconds'] / first['seconds']:.1f}, "
                f"{result['seconds'] / result['floor']:.2f}x the floor), "
                f"{result['requests'] / result['tenants']:.1f} requests per tenant, "
                f"{result['refused']} 429s, CPU {result['cpu']:.0f} s "
                f"(x{result['cpu'] / first['cpu']:.1f}), peak "
                f"{result['peak_rss'] / 2**20:.0f} MiB "
                f"(x{result['peak_rss'] / first['peak_rss']:.1f})"
            )
            for peer, hnc in result["peers"].items():
                base = first["peers"][peer]
                say(
                    f"  {'':>6}   {peer}: {hnc['seconds']:.0f} s "
                    f"(x{hnc['seconds'] / base['seconds']:.1f}), "
                    f"{hnc['requests'] / result['tenants']:.1f} requests per tenant, "
                    f"CPU {hnc['cpu']:.0f} s (x{hnc['cpu'] / base['cpu']:.1f}), peak "
                    f"{hnc['peak_rss'] / 2**20:.0f} MiB "
                    f"(x{hnc['peak_rss'] / base['peak_rss']:.1f})"
                )


if __name__ == "__main__":
    main()
