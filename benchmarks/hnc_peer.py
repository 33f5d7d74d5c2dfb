"""The tenants benchmark's peer: HNC, built from its Go module and run out of cluster.

HNC (the Hierarchical Namespace Controller, `sigs.k8s.io/hierarchical-namespaces`, pinned in
tools/peers/hnc and built into Mooring's cache by the go command) runs as a local process
against the local control plane, with the arguments of its own Deployment
(config/manager/manager.yaml: `--max-reconciles=10 --apiserver-qps-throttle=50`, the system
namespaces excluded) and `--no-webhooks`: its controller alone, as HNC's HA variant
(config/variants/nowebhooks-cc) runs it, the webhooks being a separate Deployment there. Its
CRDs are the module's (tools/peers/hnc/crds). It authenticates as the user `hnc-manager`,
bound to `cluster-admin` (HNC's own ClusterRole grants `*` on `*`), so that the audit log
tells its requests apart.

The workload is the closest HNC has to Mooring's tenants benchmark (benchmarks/tenants.py):
for each of N Tenants, a parent namespace `teamNNNN` holding the owners' and developers'
RoleBindings (the same subjects and ClusterRoles as Mooring renders) and two
SubnamespaceAnchors, `teamNNNN-dev` and `teamNNNN-prod`; all of it applied at once with
`kubectl apply --server-side`. HNC creates the two subnamespaces and propagates into each
what the parent holds. Two workloads:
- `rbac`: the two RoleBindings only (HNC's default: it propagates RBAC and nothing else);
- `full`: also Mooring's ResourceQuota, LimitRange and three NetworkPolicies of the
  tenant's environment, put in the parent and propagated (an HNCConfiguration makes those
  kinds propagate; same-tenant traffic selected by HNC's tree label instead of Mooring's
  tenant label), and the Pod Security labels set on each subnamespace through its anchor
  (`--managed-namespace-label`): the same per-namespace objects as a Mooring environment.
Measured: time until every child namespace exists with every propagated object (from the
start of the apply), and until every anchor is Ok; HNC's CPU seconds and peak memory
(VmHWM), its API requests per tenant from the audit log, and drift repair (a propagated
RoleBinding deleted, time until HNC puts it back).

What HNC does and does not do beside a Mooring Tenant (guardrail contexts and admission
policies, the Tenant's status, members reading their Tenant...) is said in
docs/benchmarks.md beside the figures.

`benchmarks/tenants.py --peer hnc [hnc-rbac]` runs this beside the floor and Mooring's
operator at each size (`hnc`: the full workload); alone:
.venv/bin/python benchmarks/hnc_peer.py [--tenants 1000 [5000 ...]] [--workload full rbac]
Benchmark code only: HNC is not part of Mooring, its tests or CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from tenants import (
    PLATFORM,
    audited,
    kubectl_apply,
    percentile,
    proc_stats,
    say,
    start_cluster,
    tenants,
)

from mooring.api import names
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.render import Context, render_tenant
from mooring.core.render.platform import install
from mooring.devcluster.binaries import GoTool, ensure_built, repository_root
from mooring.devcluster.cluster import DevCluster, free_port, http_ok
from mooring.kube.client import Kube
from mooring.services.install import apply_objects

HNC = GoTool("peers/hnc", {"manager": "sigs.k8s.io/hierarchical-namespaces/cmd/manager"})
USER = "hnc-manager"
NAMESPACE = "hnc-system"
API = "hnc.x-k8s.io/v1alpha2"
RBAC = "rbac.authorization.k8s.io/v1"
INHERITED_FROM = "hnc.x-k8s.io/inherited-from"  # the label HNC puts on propagated copies
ENVIRONMENTS = ("dev", "prod")
BINDINGS = ("mooring-owners", "mooring-developers")
WORKLOADS = ("rbac", "full")
# What each child namespace holds once HNC has propagated the parent's objects.
PROPAGATED: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "rbac": {(RBAC, "RoleBinding"): BINDINGS},
    "full": {
        (RBAC, "RoleBinding"): BINDINGS,
        ("v1", "ResourceQuota"): ("mooring-quota",),
        ("v1", "LimitRange"): ("mooring-defaults",),
        ("networking.k8s.io/v1", "NetworkPolicy"): (
            "mooring-default-deny",
            "mooring-allow-dns",
            "mooring-allow-same-tenant",
        ),
    },
}
POD_SECURITY = "pod-security.kubernetes.io"
# As HNC's Deployment (config/manager/manager.yaml) runs it.
EXCLUDED = ("kube-system", "kube-public", "kube-node-lease", NAMESPACE)
Obj = dict[str, Any]


def binary() -> Path:
    return ensure_built([HNC], say=say)["manager"]


def crds() -> list[Obj]:
    """HNC's CustomResourceDefinitions, as its module ships them."""
    folder = repository_root() / "tools" / HNC.module_dir / "crds"
    found: list[Obj] = []
    for path in sorted(folder.glob("*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def setup_objects(workload: str) -> list[Obj]:
    """HNC's namespace, its user's binding, and the ClusterRoles the RoleBindings name
    (Mooring's tenant roles, so that the bindings are the very ones Mooring renders); for the
    full workload, the HNCConfiguration that makes quotas, limit ranges and network policies
    propagate."""
    config = {
        "apiVersion": API,
        "kind": "HNCConfiguration",
        "metadata": {"name": "config"},
        "spec": {
            "resources": [
                {"resource": "resourcequotas", "mode": "Propagate"},
                {"resource": "limitranges", "mode": "Propagate"},
                {"group": "networking.k8s.io", "resource": "networkpolicies", "mode": "Propagate"},
            ]
        },
    }
    roles = [
        o
        for o in install()
        if o["kind"] == "ClusterRole"
        and o["metadata"]["name"] in ("mooring-tenant-owner", "mooring-tenant-developer")
    ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        *roles,
        {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": USER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
        *([config] if workload == "full" else []),
    ]


def hierarchy(tenant: Obj, workload: str) -> list[Obj]:
    """One Mooring Tenant's nearest HNC equivalent: a parent namespace holding what Mooring
    renders into each environment's namespace (the kinds of the workload), and an anchor
    per environment (with the Pod Security labels Mooring puts on the namespace, for the
    full workload)."""
    name = tenant["metadata"]["name"]
    platform = PlatformConfig.model_validate(PLATFORM).spec
    rendered = render_tenant(Context(Tenant.model_validate(tenant), platform))
    first = f"{name}-{tenant['spec']['environments'][0]['name']}"
    kinds = {kind for _, kind in PROPAGATED[workload]}
    held = []
    for obj in rendered:
        if obj["kind"] not in kinds or obj["metadata"].get("namespace") != first:
            continue
        labels = {
            k: v
            for k, v in obj["metadata"].get("labels", {}).items()
            if k != names.LABEL_ENVIRONMENT
        }
        held.append({**obj, "metadata": {**obj["metadata"], "namespace": name, "labels": labels}})
        if obj["metadata"]["name"] == "mooring-allow-same-tenant":
            # The tenant's namespaces are the tree's: HNC's depth label, not Mooring's.
            peers = {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": f"{name}.tree.hnc.x-k8s.io/depth", "operator": "Exists"}
                    ]
                }
            }
            held[-1]["spec"] = {
                **obj["spec"],
                "ingress": [{"from": [peers]}],
                "egress": [{"to": [peers]}],
            }
    pod_security = [
        {"key": k, "value": v}
        for obj in rendered
        if obj["kind"] == "Namespace" and obj["metadata"]["name"] == first
        for k, v in sorted(obj["metadata"]["labels"].items())
        if k.startswith(POD_SECURITY + "/")
    ]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        *held,
        *(
            {
                "apiVersion": API,
                "kind": "SubnamespaceAnchor",
                "metadata": {"name": f"{name}-{env['name']}", "namespace": name},
                **({"spec": {"labels": pod_security}} if workload == "full" else {}),
            }
            for env in tenant["spec"]["environments"]
        ),
    ]


@contextmanager
def running(
    cluster: DevCluster, root: Path, qps: int, workload: str
) -> Iterator[subprocess.Popen[bytes]]:
    """HNC's controller as a local process, as its Deployment runs it, without webhooks."""
    kubeconfig = root / "hnc.kubeconfig"
    kubeconfig.write_text(cluster.mint_kubeconfig(USER))
    kubeconfig.chmod(0o600)
    probe = free_port()
    command = [
        str(binary()),
        f"--metrics-addr=127.0.0.1:{free_port()}",
        f"--health-probe-bind-address=127.0.0.1:{probe}",
        "--max-reconciles=10",
        f"--apiserver-qps-throttle={qps}",
        *(f"--excluded-namespace={name}" for name in EXCLUDED),
        "--nopropagation-label=cattle.io/creator=norman",
        "--no-webhooks",
        "--enable-stackdriver=false",
        f"--namespace={NAMESPACE}",
    ]
    if workload == "full":  # the anchors set the Pod Security labels on their subnamespace
        command.append(f"--managed-namespace-label={POD_SECURITY.replace('.', '[.]')}/.*")
    log = root / "hnc.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        )
    try:
        deadline = time.monotonic() + 60
        while b"All controllers started" not in log.read_bytes() or not http_ok(
            f"http://127.0.0.1:{probe}/readyz"
        ):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"HNC did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def progress(kube: Kube, children: set[str], workload: str) -> tuple[int, int, int]:
    """How many child namespaces exist, how many propagated objects they hold, and how many
    SubnamespaceAnchors HNC has marked Ok (each counted only once the one before is whole)."""
    namespaces = copies = anchors = 0
    async for page, _ in kube.list_pages("v1", "Namespace"):
        namespaces += sum(1 for ns in page if ns["metadata"]["name"] in children)
    if namespaces == len(children):
        for (api_version, kind), wanted in PROPAGATED[workload].items():
            found = 0
            async for page, _ in kube.list_pages(api_version, kind, labels=INHERITED_FROM):
                found += sum(
                    1
                    for obj in page
                    if obj["metadata"]["namespace"] in children
                    and obj["metadata"]["name"] in wanted
                )
            copies += found
            if found < len(children) * len(wanted):
                break  # the next kinds are counted once this one is whole
    if copies == len(children) * copies_per_child(workload):
        async for page, _ in kube.list_pages(API, "SubnamespaceAnchor"):
            anchors += sum(1 for a in page if (a.get("status") or {}).get("status") == "Ok")
    return namespaces, copies, anchors


def copies_per_child(workload: str) -> int:
    return sum(len(wanted) for wanted in PROPAGATED[workload].values())


async def wait_all_propagated(
    kube: Kube, children: set[str], workload: str, timeout: float, pid: int
) -> tuple[float, float]:
    """When every child namespace held every propagated object, and when every anchor was
    Ok as well (HNC's own word that a subnamespace is done, as Mooring's Ready is)."""
    started = time.monotonic()
    said = started
    want = len(children) * copies_per_child(workload)
    propagated: float | None = None
    while time.monotonic() - started < timeout:
        namespaces, copies, anchors = await progress(kube, children, workload)
        if propagated is None and namespaces == len(children) and copies >= want:
            propagated = time.monotonic()
        if propagated is not None and anchors >= len(children):
            return propagated, time.monotonic()
        if time.monotonic() - said >= 15:
            said = time.monotonic()
            cpu, rss, peak = proc_stats(pid)
            say(
                f"  {namespaces}/{len(children)} child namespaces, {copies}/{want} propagated "
                f"objects, {anchors} anchors Ok; HNC CPU {cpu:.0f} s, "
                f"memory {rss / 2**20:.0f} MiB (peak {peak / 2**20:.0f})"
            )
        await asyncio.sleep(1 if len(children) > 4000 else 0.25)
    raise TimeoutError(f"not every one of {len(children)} child namespaces ready in {timeout} s")


async def drift_latencies(kube: Kube, count: int, samples: int) -> list[float]:
    """Delete one propagated RoleBinding at a time; time until HNC has put it back."""
    latencies = []
    for i in range(samples):
        namespace = f"team{(i * 7919) % count:04d}-dev"
        await kube.delete(RBAC, "RoleBinding", "mooring-developers", namespace)
        deleted = time.monotonic()
        while True:
            found = await kube.get_or_none(RBAC, "RoleBinding", "mooring-developers", namespace)
            if found is not None:
                latencies.append(time.monotonic() - deleted)
                break
            if time.monotonic() - deleted > 30:
                raise TimeoutError(f"{namespace}: RoleBinding not restored in 30 s")
            await asyncio.sleep(0.005)
    return latencies


def _content(obj: Obj) -> Any:
    return obj.get("subjects") or obj.get("spec")


async def check_exact(kube: Kube, bodies: list[Obj], workload: str) -> dict[str, int]:
    """After the run: each child's copies say what the parent's objects say (subjects, spec),
    the full workload's subnamespaces carry the Pod Security labels, anchors are Ok."""
    expected: dict[tuple[str, str, str], Any] = {}
    labels: dict[str, dict[str, str]] = {}
    for body in bodies:
        objects = hierarchy(body, workload)
        for env in ENVIRONMENTS:
            child = f"{body['metadata']['name']}-{env}"
            for obj in objects:
                if obj["kind"] == "SubnamespaceAnchor":
                    labels[child] = {
                        kv["key"]: kv["value"] for kv in obj.get("spec", {}).get("labels", [])
                    }
                elif obj["kind"] != "Namespace":
                    expected[(obj["kind"], child, obj["metadata"]["name"])] = _content(obj)
    found: dict[tuple[str, str, str], Any] = {}
    for api_version, kind in PROPAGATED[workload]:
        for obj in await kube.list(api_version, kind, labels=INHERITED_FROM):
            found[(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])] = _content(obj)
    namespaces = {
        ns["metadata"]["name"]: ns["metadata"].get("labels") or {}
        for ns in await kube.list("v1", "Namespace")
    }
    anchors = await kube.list(API, "SubnamespaceAnchor")
    return {
        "wrong_copies": sum(1 for key, want in expected.items() if found.get(key) != want),
        "wrong_labels": sum(
            1
            for child, want in labels.items()
            if any(namespaces.get(child, {}).get(k) != v for k, v in want.items())
        ),
        "anchors_ok": sum(1 for a in anchors if (a.get("status") or {}).get("status") == "Ok"),
    }


def run(
    root: Path,
    bodies: list[Obj],
    kubectl: Path,
    drift: int,
    workload: str = "full",
    qps: int = 50,
) -> dict[str, Any]:
    """HNC's phase of the tenants benchmark on a fresh control plane of its own."""
    binary()  # built (or found in the cache) before the control plane starts
    cluster = start_cluster(root, f"hnc-{workload}")
    n = len(bodies)
    children = {f"{b['metadata']['name']}-{env}" for b in bodies for env in ENVIRONMENTS}
    try:

        async def prepare() -> None:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                await apply_objects(kube, [*crds(), *setup_objects(workload)])

        asyncio.run(prepare())
        with running(cluster, root, qps, workload) as process:
            time.sleep(3)  # let HNC list and watch before the flood, as for Mooring's operator
            pid = process.pid
            cpu_before, rss_idle, _ = proc_stats(pid)
            manifest = root / f"hnc-{workload}.yaml"
            objects = [obj for body in bodies for obj in hierarchy(body, workload)]
            manifest.write_text(yaml.safe_dump_all(objects))
            env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}

            async def measure() -> tuple[tuple[float, float, float], list[float], dict[str, int]]:
                async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                    say(
                        f"hnc ({workload}): kubectl apply --server-side of {len(objects)} "
                        f"objects ({n} parent namespaces, what they hold, their anchors) ..."
                    )
                    started = time.monotonic()
                    kubectl_apply(kubectl, manifest, env)
                    applied = time.monotonic()
                    say(f"hnc: applied in {applied - started:.1f} s; waiting for the children")
                    propagated, done = await wait_all_propagated(
                        kube, children, workload, timeout=7200, pid=pid
                    )
                    say(
                        f"hnc: every child namespace with its propagated objects after "
                        f"{propagated - started:.1f} s, every anchor Ok after "
                        f"{done - started:.1f} s"
                    )
                    exact = await check_exact(kube, bodies, workload)
                    latencies = await drift_latencies(kube, n, drift)
                    return (
                        (propagated - started, done - started, applied - started),
                        latencies,
                        exact,
                    )

            (total, anchors_ok, apply_seconds), latencies, exact = asyncio.run(measure())
            cpu_after, _, peak = proc_stats(pid)
        log_text = (root / "hnc.log").read_text(errors="replace")
        Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
        Path(f"benchmarks/out/hnc-{workload}-{n}.log").write_text(log_text)
        verbs, codes, _ = audited(root / f"hnc-{workload}-audit.log", USER)
        return {
            "workload": workload,
            "seconds": total,
            "anchors_seconds": anchors_ok,
            "apply_seconds": apply_seconds,
            "objects": len(objects),
            "requests": sum(verbs.values()),
            "verbs": dict(verbs),
            "refused": codes.get(429, 0),
            "cpu": cpu_after - cpu_before,
            "idle_rss": rss_idle,
            "peak_rss": peak,
            "drift": latencies,
            "errors": sum(1 for line in log_text.splitlines() if '"level":"error"' in line),
            **exact,
        }
    finally:
        cluster.down(say=lambda _: None, purge=True)


def report(n: int, hnc: dict[str, Any]) -> list[str]:
    drift = hnc["drift"]
    lines = [
        f"hnc ({hnc['workload']}): every child namespace with its "
        f"{copies_per_child(hnc['workload'])} propagated objects after {hnc['seconds']:.1f} s "
        f"(the {hnc['objects']} objects "
        f"applied in {hnc['apply_seconds']:.1f} s), every anchor Ok after "
        f"{hnc['anchors_seconds']:.1f} s; at the end {hnc['anchors_ok']}/{2 * n} anchors Ok, "
        f"{hnc['wrong_copies']} copies missing or wrong, {hnc['wrong_labels']} subnamespaces "
        f"without their labels",
        f"hnc: {hnc['requests'] / n:.1f} API requests per tenant {hnc['verbs']}, "
        f"{hnc['refused']} answered 429; {hnc['errors']} error lines in its log",
        f"hnc: CPU {hnc['cpu']:.1f} s ({hnc['cpu'] / n * 1000:.1f} ms per tenant); memory idle "
        f"{hnc['idle_rss'] / 2**20:.0f} MiB, peak (VmHWM) {hnc['peak_rss'] / 2**20:.0f} MiB",
    ]
    if drift:
        lines.append(
            f"hnc: drift repair ({len(drift)} deleted propagated RoleBindings): "
            f"p50 {statistics.median(drift) * 1000:.0f} ms, "
            f"p99 {percentile(drift, 0.99) * 1000:.0f} ms, max {max(drift) * 1000:.0f} ms"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000])
    parser.add_argument("--drift", type=int, default=200, help="drift repairs to time")
    parser.add_argument(
        "--workload", choices=WORKLOADS, nargs="+", default=["full"], help="see the docstring"
    )
    parser.add_argument(
        "--qps", type=int, default=50, help="HNC's --apiserver-qps-throttle (its default: 50)"
    )
    args = parser.parse_args()
    kubectl = ensure_built(say=lambda _: None)["kubectl"]
    for n in args.tenants:
        for workload in args.workload:
            load = os.getloadavg()
            say(
                f"== HNC ({workload}), {n} tenants x 2 subnamespaces; "
                f"load average {load[0]:.2f} {load[1]:.2f}"
            )
            with tempfile.TemporaryDirectory(prefix="mooring-bench-hnc-") as tmp:
                hnc = run(Path(tmp), tenants(n), kubectl, args.drift, workload, args.qps)
            for line in report(n, hnc):
                say(line)
            say(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
