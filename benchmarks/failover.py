"""Benchmark: operator failover with the production leader-election settings.

Two replicas of `mooring operator --in-cluster --leader-election` log in as the operator's
ServiceAccount (a real token from the TokenRequest API, in a mounted-style folder) on a
fresh local control plane, as pods would. Each run SIGKILLs the leader and measures, from
the kill: the standby holding the Lease, and the standby's /readyz answering 200 (caches
synced). The killed replica is started again as the next standby, as Kubernetes would.
Also: each replica's resident memory while leading and while standing by.

Usage: .venv/bin/python benchmarks/failover.py [--runs 3] [--lease 15 --renew 10 --retry 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from mooring.api.install import InstallValues
from mooring.core.render.install import manifests
from mooring.core.render.platform import OPERATOR, SYSTEM_NAMESPACE
from mooring.devcluster.cluster import DevCluster, free_port
from mooring.kube.client import Kube
from mooring.services.install import install_platform


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


class Replica:
    def __init__(self, name: str, env: dict[str, str], args: list[str], log: Path) -> None:
        self.name = name
        self.health = free_port()
        command = [
            sys.executable,
            "-m",
            "mooring.cli",
            "operator",
            "--in-cluster",
            "--leader-election",
            f"--metrics-port={free_port()}",
            f"--health-port={self.health}",
            *args,
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**env, "POD_NAME": name}
            )


async def holder(kube: Kube) -> str | None:
    lease = await kube.get_or_none("coordination.k8s.io/v1", "Lease", OPERATOR, SYSTEM_NAMESPACE)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


async def main(runs: int, lease: int, renew: float, retry: float) -> None:
    with tempfile.TemporaryDirectory(prefix="mooring-failover-") as tmp:
        folder = Path(tmp)
        cluster = DevCluster(folder / "state")
        state = await asyncio.to_thread(cluster.up, say=lambda _: None)
        try:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                await install_platform(kube, manifests(InstallValues()))
                granted = await kube.request(
                    "POST",
                    f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/serviceaccounts/{OPERATOR}/token",
                    body={
                        "apiVersion": "authentication.k8s.io/v1",
                        "kind": "TokenRequest",
                        "spec": {"expirationSeconds": 3600},
                    },
                )
                account = folder / "serviceaccount"
                account.mkdir()
                (account / "token").write_text(granted["status"]["token"])
                (account / "namespace").write_text(SYSTEM_NAMESPACE)
                shutil.copyfile(cluster.pki / "ca.crt", account / "ca.crt")
                env = {
                    **{k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
                    "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                    "KUBERNETES_SERVICE_PORT": str(state.api_port),
                    "MOORING_SERVICE_ACCOUNT_DIR": str(account),
                    "POD_NAMESPACE": SYSTEM_NAMESPACE,
                }
                args = [
                    f"--lease-duration={lease}",
                    f"--renew-deadline={renew}",
                    f"--retry-period={retry}",
                ]
                log = folder / "operators.log"
                replicas = {r.name: r for r in (Replica(f"op-{i}", env, args, log) for i in (0, 1))}
                taken, readied, memory = [], [], []
                for run in range(runs + 1):
                    while (name := await holder(kube)) not in replicas or not ready(
                        replicas[name].health
                    ):
                        await asyncio.sleep(0.05)
                    leader = replicas[name]
                    [standby] = [r for r in replicas.values() if r is not leader]
                    while not ready(standby.health):
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(retry * 2)  # a renewal or two, as in steady state
                    memory.append((rss_mib(leader.process.pid), rss_mib(standby.process.pid)))
                    if run == runs:
                        break
                    killed = time.monotonic()
                    leader.process.send_signal(signal.SIGKILL)
                    leader.process.wait()
                    while await holder(kube) != standby.name:
                        await asyncio.sleep(0.05)
                    taken.append(time.monotonic() - killed)
                    while not ready(standby.health):
                        await asyncio.sleep(0.05)
                    readied.append(time.monotonic() - killed)
                    del replicas[leader.name]
                    fresh = Replica(f"op-{run + 2}", env, args, log)
                    replicas[fresh.name] = fresh
                for replica in replicas.values():
                    replica.process.terminate()
                    replica.process.wait(30)
        finally:
            await asyncio.to_thread(cluster.down, say=lambda _: None, purge=True)
    print(f"lease {lease} s, renew deadline {renew:g} s, retry {retry:g} s; {runs} leader kills")
    bound = lease + 1.2 * retry  # the record is at most one renewal old; tries are jittered
    print(
        f"standby holds the Lease after: median {statistics.median(taken):.1f} s, "
        f"min {min(taken):.1f} s, max {max(taken):.1f} s (bound: {bound:g} s)"
    )
    print(
        f"standby ready (caches synced) after: median {statistics.median(readied):.1f} s, "
        f"max {max(readied):.1f} s"
    )
    leading = statistics.median(m[0] for m in memory)
    standing = statistics.median(m[1] for m in memory)
    print(f"resident memory: leader {leading:.0f} MiB, standby {standing:.0f} MiB (no caches)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lease", type=int, default=15)
    parser.add_argument("--renew", type=float, default=10.0)
    parser.add_argument("--retry", type=float, default=2.0)
    options = parser.parse_args()
    asyncio.run(main(options.runs, options.lease, options.renew, options.retry))
