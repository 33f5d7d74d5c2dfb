"""Session fixtures for the GitOps tests: a real Argo CD (built from its Go module, cached)
on a control plane of its own, a local Git repository holding a platform repository written by
`mooring init --profile local`, Mooring installed by Argo CD from Git, and the operator.

A control plane of its own: Argo CD keeps this cluster's PlatformConfig as Git says (selfHeal),
which the other cluster tests, changing theirs, must not meet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.demo.localgitops import LocalGitOps
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.gitrepo import LocalGitRepo
from mooring.gitops import applications
from mooring.gitops.applications import AppView
from mooring.kube.client import Kube
from tests.conftest import PLATFORM, OperatorProcess

API = "mooring.dev/v1alpha1"


@dataclass
class Loop:
    """The GitOps loop under test and what tests do with it."""

    cluster: DevCluster
    gitops: LocalGitOps
    operator: OperatorProcess

    @property
    def repo(self) -> LocalGitRepo:
        return self.gitops.repo

    def merge(self, branch: str, files: dict[str, str], message: str) -> float:
        """A team's pull request: a branch with `files`, merged and pushed; the push time."""
        repo = self.repo
        repo.checkout(repo.branch)
        repo.checkout(branch, create=True)
        repo.write(files)
        repo.commit(message)
        repo.merge(branch, f"Merge pull request: {message}")
        pushed = time.monotonic()
        repo.push()
        return pushed

    def commit(self, files: dict[str, str], message: str, remove: tuple[str, ...] = ()) -> float:
        repo = self.repo
        repo.checkout(repo.branch)
        repo.write(files)
        if remove:
            repo.remove(*remove)
        repo.commit(message)
        pushed = time.monotonic()
        repo.push()
        return pushed


@pytest.fixture(scope="session")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    directory = tmp_path_factory.mktemp("gitops")
    cluster = DevCluster(directory / "state")
    say = lambda message: print(f"[gitops] {message}")  # noqa: E731
    cluster.up(say=say)
    operator: OperatorProcess | None = None
    try:
        gitops = LocalGitOps(cluster, say, platform_config=yaml.safe_load(PLATFORM.read_text()))
        gitops.up()
        operator = OperatorProcess(
            cluster.operator_kubeconfig(directory / "operator.kubeconfig"),
            directory / "operator.log",
        )
        operator.start()
        yield Loop(cluster, gitops, operator)
    finally:
        if operator is not None:
            operator.stop()
            print(f"[operator] last log lines:\n{operator.tail()}")
        cluster.down(say=say, purge=True)


@pytest_asyncio.fixture(scope="session")
async def kube(loop: Loop) -> AsyncIterator[Kube]:
    async with Kube.from_kubeconfig(loop.cluster.kubeconfig_path) as client:
        await applications.wait_for(
            client, "platform-config", applications.healthy, 600, "Healthy", nudge=5
        )
        yield client


async def app_state(
    kube: Kube, name: str, ready: Callable[[AppView], bool], timeout: float = 60, what: str = ""
) -> AppView:
    return await applications.wait_for(kube, name, ready, timeout, what)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached within {timeout} s")
        await asyncio.sleep(0.2)


def tenant_file(
    name: str, *extra: dict[str, Any], tier: str | None = None, envs: tuple[str, ...] = ("dev",)
) -> str:
    """tenants/<name>.yaml as a team writes it: its Tenant, then its other objects."""
    spec: dict[str, Any] = {
        "owners": {"users": [f"{name}-owner@example.com"]},
        "environments": [{"name": env} for env in envs],
    }
    if tier:
        spec["tier"] = tier
    tenant = {"apiVersion": API, "kind": "Tenant", "metadata": {"name": name}, "spec": spec}
    return yaml.safe_dump_all([tenant, *extra], sort_keys=False)


def path_of(name: str) -> str:
    return f"tenants/{name}.yaml"


__all__ = ["API", "Loop", "Path", "app_state", "path_of", "tenant_file", "until"]
