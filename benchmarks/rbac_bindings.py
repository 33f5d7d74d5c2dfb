"""Benchmark: what many ClusterRoleBindings cost each request of a user who is not a superuser.

Kubernetes' RBAC authorizer lists every ClusterRoleBinding (from its cache) for each request
it authorizes and looks at each one's subjects until one allows the request; writing a
ClusterRole or ClusterRoleBinding also gathers every rule of the writer from all of them
(the escalation check). Mooring renders one ClusterRole and one ClusterRoleBinding per
tenant (core/render/rbac.py: its members read their own Tenant), so at 10,000 tenants the
operator, the controllers and every tenant member pay for 10,000 bindings per request.
Only system:masters (the admin, as the floor of benchmarks/tenants.py runs kubectl) is
allowed before RBAC looks.

On a fresh local control plane with Mooring installed: at each count of extra bindings
(`--bindings 0 2000 10000`, added as tenant readers are, each binding its own user to its
own ClusterRole), GETs of one Namespace by C clients, as the operator and as the admin,
and server-side applies of a tenant reader's ClusterRole and ClusterRoleBinding by the
operator: requests/s and API-server CPU per request, best of R rounds.

Usage: .venv/bin/python benchmarks/rbac_bindings.py [--bindings 0 2000 10000]
       [--requests 3000] [--clients 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import yaml

from mooring.core.render.platform import install
from mooring.core.render.rbac import tenant_reader_name
from mooring.devcluster.binaries import ensure_built
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube
from mooring.services.install import apply_objects

RBAC = "rbac.authorization.k8s.io"
TICKS = os.sysconf("SC_CLK_TCK")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def reader(i: int) -> list[dict[str, Any]]:
    """A tenant reader's pair, as core/render/rbac.py makes them (one user each)."""
    name = tenant_reader_name(f"bench{i:05d}")
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["mooring.dev"],
                    "resources": ["tenants"],
                    "resourceNames": [f"bench{i:05d}"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC, "kind": "User", "name": f"member{i:05d}"}],
        },
    ]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def gets(config: Path, requests: int, clients: int) -> None:
    async with Kube.from_kubeconfig(config) as kube:
        left = iter(range(requests))

        async def client() -> None:
            for _ in left:
                await kube.get("v1", "Namespace", "kube-system")

        await asyncio.gather(*(client() for _ in range(clients)))


async def writes(config: Path, kind: str, requests: int, clients: int) -> None:
    """Server-side applies of one tenant reader's ClusterRole or ClusterRoleBinding, a
    label changing each time."""
    role, binding = reader(99999)
    body = role if kind == "ClusterRole" else binding
    async with Kube.from_kubeconfig(config) as kube:
        await kube.apply(role)
        left = iter(range(requests))

        async def client() -> None:
            for i in left:
                labels = {"n": str(i % 7)}
                await kube.apply({**body, "metadata": {**body["metadata"], "labels": labels}})

        await asyncio.gather(*(client() for _ in range(clients)))


def jobs(
    operator: Path, admin: Path, n: int, clients: int
) -> dict[str, Callable[[], Coroutine[Any, Any, int]]]:
    """Each measured job: a coroutine's maker that returns how many requests it made."""

    async def operator_gets() -> int:
        await gets(operator, n, clients)
        return n

    async def admin_gets() -> int:
        await gets(admin, n, clients)
        return n

    async def operator_roles() -> int:
        await writes(operator, "ClusterRole", n // 5, clients)
        return n // 5

    async def operator_bindings() -> int:
        await writes(operator, "ClusterRoleBinding", n // 5, clients)
        return n // 5

    return {
        "operator GET": operator_gets,
        "admin GET": admin_gets,
        "operator apply ClusterRole": operator_roles,
        "operator apply ClusterRoleBinding": operator_bindings,
    }


def measure(pid: int, job: Callable[[], Coroutine[Any, Any, int]]) -> tuple[float, float]:
    """(requests/s, API-server CPU ms per request) of one run of `job`."""
    cpu, started = cpu_seconds(pid), time.monotonic()
    count = asyncio.run(job())
    wall, used = time.monotonic() - started, cpu_seconds(pid) - cpu
    return count / wall, used / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bindings", type=int, nargs="+", default=[0, 2000, 10000])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kubectl = ensure_built(say=lambda _: None)["kubectl"]
    load = os.getloadavg()
    say(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)")
    with tempfile.TemporaryDirectory(prefix="mooring-rbac-") as tmp:
        root = Path(tmp)
        cluster = DevCluster(root / "cluster")
        cluster.up(say=lambda _: None)
        try:
            asyncio.run(_install(cluster))
            state = cluster.state()
            assert state is not None
            pid = state.components["kube-apiserver"].pid
            operator = cluster.operator_kubeconfig(root / "operator.kubeconfig")
            admin = cluster.kubeconfig_path
            env = {**os.environ, "KUBECONFIG": str(admin)}
            have = 0
            rows = []
            for target in sorted(args.bindings):
                if target > have:
                    manifest = root / "bindings.yaml"
                    objects = [o for i in range(have, target) for o in reader(i)]
                    manifest.write_text(yaml.safe_dump_all(objects))
                    say(f"adding {target - have} tenant readers (ClusterRole + binding) ...")
                    subprocess.run(
                        [str(kubectl), "apply", "--server-side", "-f", str(manifest)],
                        env=env,
                        check=True,
                        stdout=subprocess.DEVNULL,
                    )
                    have = target
                best: dict[str, tuple[float, float]] = {}
                for _ in range(args.rounds):  # rounds interleaved: load hits all alike
                    for name, job in jobs(operator, admin, args.requests, args.clients).items():
                        figures = measure(pid, job)
                        if figures[0] > best.get(name, (0.0, 0.0))[0]:
                            best[name] = figures
                for name, (rate, cpu) in best.items():
                    line = f"{have:>6} bindings  {name:<34} {rate:5.0f} req/s  {cpu:5.2f} ms CPU"
                    say(line)
                    rows.append(line)
            say("summary:")
            for line in rows:
                print("  " + line)
            load = os.getloadavg()
            say(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        finally:
            cluster.down(say=lambda _: None, purge=True)


async def _install(cluster: DevCluster) -> None:
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        await apply_objects(kube, install())


if __name__ == "__main__":
    main()
