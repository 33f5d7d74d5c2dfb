"""Session fixtures: the real local control plane, started once per test run.

The control plane is the same one `mooring dev up` starts (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok), in its own state folder and on free ports,
so a developer's running `mooring dev` cluster is left alone. It is stopped and removed at
the end of the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("controlplane") / "state")
    cluster.up(say=lambda message: print(f"[controlplane] {message}"))
    try:
        yield cluster
    finally:
        cluster.down(say=lambda message: print(f"[controlplane] {message}"), purge=True)


@pytest.fixture(scope="session")
def kubeconfig(dev_cluster: DevCluster) -> Path:
    return dev_cluster.kubeconfig_path


@pytest_asyncio.fixture(scope="session")
async def kube(kubeconfig: Path) -> AsyncIterator[Kube]:
    async with Kube.from_kubeconfig(kubeconfig) as client:
        yield client
