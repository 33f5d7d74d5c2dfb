"""Two operator replicas as in a cluster: installed by `mooring install apply`, each logged
in as the operator's ServiceAccount through the in-cluster path (KUBERNETES_SERVICE_HOST/
PORT, a token and CA in a mounted folder), electing a leader with a Lease.

These tests run on a control plane of their own: the session's operator (tests/conftest.py)
would otherwise reconcile beside them, and one test takes a permission away from the
operator's ClusterRole.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.core.render.platform import OPERATOR, SYSTEM_NAMESPACE
from mooring.devcluster.cluster import DevCluster, free_port
from mooring.kube.client import Kube
from mooring.services.install import wait_established
from tests.cluster.conftest import PLATFORM, eventually, tenant, wait_ready
from tests.incluster import mount_service_account, pod_env

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
SERVICE_MONITOR_CRD = (
    ROOT / "tests/fixtures/prometheus-operator/monitoring.coreos.com_servicemonitors.yaml"
)
LEASE = 4  # seconds; short, so that a takeover is quick to watch
RENEW = 3
RETRY = 1
# A takeover is due one lease duration after the leader's last renewal, found at the
# standby's next try; the rest is slack for a shared two-core machine.
TAKEOVER_BOUND = LEASE + 2 * RETRY + 5


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Replica:
    """One operator pod: `mooring operator --in-cluster --leader-election` as a process."""

    def __init__(self, name: str, cluster: DevCluster, account: Path, logs: Path) -> None:
        self.name = name
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.log = logs / f"{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mooring.cli",
                    "operator",
                    "--in-cluster",
                    "--leader-election",
                    f"--lease-duration={LEASE}",
                    f"--renew-deadline={RENEW}",
                    f"--retry-period={RETRY}",
                    f"--metrics-port={self.metrics_port}",
                    f"--health-port={self.health_port}",
                    "--feature-poll-seconds=1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=pod_env(cluster, account, name),
            )

    def get(self, path: str) -> tuple[int, str]:
        port = self.metrics_port if path == "/metrics" else self.health_port
        return fetch(f"http://127.0.0.1:{port}{path}")

    def reconciles(self) -> float:
        return metric(self.get("/metrics")[1], "mooring_reconciles_total", kind="Tenant")

    def leading(self) -> bool:
        return metric(self.get("/metrics")[1], "mooring_operator_leader") == 1

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("ha-controlplane") / "state")
    cluster.up(say=lambda message: print(f"[ha-controlplane] {message}"))
    try:
        yield cluster
    finally:
        cluster.down(say=lambda message: print(f"[ha-controlplane] {message}"), purge=True)


@pytest_asyncio.fixture(scope="module")
async def installed(ha_cluster: DevCluster) -> AsyncIterator[Kube]:
    """Mooring installed with `mooring install apply`, as on a real cluster, where the
    Prometheus Operator's ServiceMonitor kind is served."""
    async with Kube.from_kubeconfig(ha_cluster.kubeconfig_path) as kube:
        await kube.apply(yaml.safe_load(SERVICE_MONITOR_CRD.read_text()))
        await wait_established(kube, "servicemonitors.monitoring.coreos.com")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mooring.cli",
                "install",
                "apply",
                "--kubeconfig",
                str(ha_cluster.kubeconfig_path),
                "--set",
                "image.repository=registry.example.com/mooring/mooring",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"applied ServiceMonitor {SYSTEM_NAMESPACE}/{OPERATOR}" in done.stderr
        await kube.apply(yaml.safe_load(PLATFORM.read_text()))
        yield kube


@pytest_asyncio.fixture
async def account(installed: Kube, ha_cluster: DevCluster, tmp_path: Path) -> Path:
    """The operator pod's mounted ServiceAccount folder."""
    return await mount_service_account(installed, ha_cluster, tmp_path / "serviceaccount")


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    """The replicas a test started (with `start`); stopped cleanly after it."""
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()
        print(f"[{replica.name}] last log lines:\n{replica.tail()}")


def start(
    replicas: list[Replica], name: str, cluster: DevCluster, account: Path, tmp: Path
) -> Replica:
    replica = Replica(name, cluster, account, tmp)
    replicas.append(replica)
    return replica


async def lease(kube: Kube) -> dict[str, Any]:
    obj = await kube.get_or_none("coordination.k8s.io/v1", "Lease", OPERATOR, SYSTEM_NAMESPACE)
    return (obj or {}).get("spec") or {}


async def holder(kube: Kube) -> str | None:
    return (await lease(kube)).get("holderIdentity")


async def wait_leader(kube: Kube, among: list[Replica]) -> tuple[Replica, Replica]:
    names = {r.name: r for r in among}
    name = await eventually(
        lambda: _holder_among(kube, names), 60, "one of the replicas holding the Lease"
    )
    leader = names[name]
    [standby] = [r for r in among if r is not leader]
    return leader, standby


async def _holder_among(kube: Kube, names: dict[str, Replica]) -> str | None:
    current = await holder(kube)
    return current if current in names else None


async def wait_ready_probe(replica: Replica, timeout: float = 60) -> str:
    async def ready() -> str | None:
        status, text = replica.get("/readyz")
        return text if status == 200 else None

    result: str = await eventually(ready, timeout, f"{replica.name} /readyz 200")
    return result


async def test_of_two_replicas_one_reconciles_and_the_other_takes_over_when_it_is_killed(
    installed: Kube,
    ha_cluster: DevCluster,
    account: Path,
    replicas: list[Replica],
    tmp_path: Path,
) -> None:
    kube = installed
    a = start(replicas, "mooring-operator-a", ha_cluster, account, tmp_path)
    b = start(replicas, "mooring-operator-b", ha_cluster, account, tmp_path)
    leader, standby = await wait_leader(kube, [a, b])
    await wait_ready_probe(leader)
    # The standby is ready too: it stands by to take over, so a rollout can go on.
    assert "ready" in await wait_ready_probe(standby)
    assert leader.leading() and not standby.leading()

    first = f"ha{int(time.time()) % 100000}a"
    await kube.apply(tenant(first))
    await wait_ready(kube, first, timeout=60)
    assert leader.reconciles() >= 1, leader.tail()
    assert standby.reconciles() == 0, "the standby reconciled while the leader held the Lease"
    transitions = int((await lease(kube)).get("leaseTransitions") or 0)

    killed_at = time.monotonic()
    leader.kill()
    await eventually(
        lambda: _holder_among(kube, {standby.name: standby}),
        TAKEOVER_BOUND,
        f"{standby.name} taking the Lease over within {TAKEOVER_BOUND} s",
    )
    took = time.monotonic() - killed_at
    print(f"takeover {took:.1f} s after SIGKILL (lease {LEASE} s, retry {RETRY} s)")
    assert int((await lease(kube)).get("leaseTransitions") or 0) == transitions + 1

    await wait_ready_probe(standby)
    assert standby.leading()
    second = f"ha{int(time.time()) % 100000}b"
    await kube.apply(tenant(second))
    await wait_ready(kube, second, timeout=60)
    assert standby.reconciles() >= 1, standby.tail()
    assert not leader.alive(), "the killed leader is gone: nobody else reconciles"


async def test_a_clean_stop_hands_the_lease_back_instead_of_letting_it_expire(
    installed: Kube, ha_cluster: DevCluster, account: Path, replicas: list[Replica], tmp_path: Path
) -> None:
    kube = installed
    a = start(replicas, "mooring-operator-c", ha_cluster, account, tmp_path)
    b = start(replicas, "mooring-operator-d", ha_cluster, account, tmp_path)
    leader, standby = await wait_leader(kube, [a, b])
    await wait_ready_probe(leader)
    assert leader.stop() == 0
    # Released on the way out: the leader's name is gone from the Lease at once.
    assert await holder(kube) in (None, standby.name)
    await eventually(lambda: _holder_among(kube, {standby.name: standby}), 30, "the handover")


async def test_readiness_waits_until_every_cache_has_synced(
    installed: Kube, ha_cluster: DevCluster, account: Path, replicas: list[Replica], tmp_path: Path
) -> None:
    """An operator that cannot list ResourceQuotas (its ClusterRole lost the permission)
    leads, is alive, but is not ready until the permission is back and the cache synced."""
    kube = installed
    role = await kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", OPERATOR)
    rules = role["rules"]
    without = [
        {**rule, "resources": [r for r in rule["resources"] if r != "resourcequotas"]}
        for rule in rules
        if rule["resources"] != ["resourcequotas"]
    ]
    assert without != rules
    await kube.apply({**_bare(role), "rules": without})
    try:
        replica = start(replicas, "mooring-operator-e", ha_cluster, account, tmp_path)
        await eventually(
            lambda: _holder_among(kube, {replica.name: replica}), 60, "the replica leading"
        )

        async def unsynced() -> str | None:
            status, text = replica.get("/readyz")
            return text if status == 503 and "ResourceQuota" in text else None

        text = await eventually(unsynced, 60, "/readyz naming the unsynced cache")
        assert "caches not synced yet" in text
        assert replica.get("/healthz")[0] == 200, "not ready, but alive"
    finally:
        await kube.apply({**_bare(role), "rules": rules})
    await wait_ready_probe(replica, timeout=90)


def _bare(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "labels": meta.get("labels", {})},
    }


async def test_mooring_version_shows_the_server_and_the_supported_range(
    ha_cluster: DevCluster,
) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "mooring.cli",
            "version",
            "--kubeconfig",
            str(ha_cluster.kubeconfig_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "supported Kubernetes: 1.30 to 1.37" in done.stdout
    assert "server: Kubernetes 1.37 (" in done.stdout
