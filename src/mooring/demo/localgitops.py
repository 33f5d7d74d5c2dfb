"""The local GitOps loop, composed: Argo CD, a Git server and a platform repository on the
local control plane. Used by `mooring dev up --gitops`, the demo, the tests and benchmarks.

Side effects: starts Argo CD's processes (devcluster/argocd.py), creates two bare Git
repositories under <state>/gitops/ (the platform repository `mooring init --profile local`
writes, and a stand-in for Mooring's own repository holding its deploy/ manifests), commits,
pushes, applies the platform repository's bootstrap/ (as `kubectl apply -k bootstrap/`), and
waits until Argo CD has synced Mooring. Safe to run again: each step finds what is there.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mooring.api import policyreport
from mooring.api.yamldump import dump, dump_all
from mooring.core.render.platform import install
from mooring.devcluster.argocd import LocalArgoCD, Polling
from mooring.devcluster.binaries import GITOPS, ensure_built
from mooring.devcluster.cluster import Component, DevCluster, free_port, http_ok, operator_command
from mooring.devcluster.gitrepo import HookTarget, LocalGitRepo
from mooring.gitops import applications
from mooring.gitops.repository import Settings, TenantsDelivery, render_repository
from mooring.kube.client import Kube

Say = Callable[[str], None]
OPERATOR = "mooring-operator"


@dataclass
class LocalGitOps:
    """One platform repository delivered by a local Argo CD to one DevCluster."""

    cluster: DevCluster
    say: Say = print
    polling: Polling = field(default_factory=Polling)
    hook: bool = True  # refresh Argo CD on push (as a webhook would); False: polling only
    platform_config: dict[str, Any] | None = None  # the base PlatformConfig, if not init's
    tenants: TenantsDelivery = "applicationset"

    @property
    def root(self) -> Path:
        return self.cluster.dir / "gitops"

    @property
    def repo(self) -> LocalGitRepo:
        return LocalGitRepo(self.root / "platform")

    @property
    def mooring_repo(self) -> LocalGitRepo:
        return LocalGitRepo(self.root / "mooring")

    @property
    def argocd(self) -> LocalArgoCD:
        return LocalArgoCD(self.cluster, self.polling)

    def settings(self) -> Settings:
        return Settings(
            profile="local",
            repo_url=self.repo.url,
            revision=self.repo.branch,
            mooring_repo=self.mooring_repo.url,
            mooring_path="deploy",
            mooring_revision=self.mooring_repo.branch,
            cluster_environment="dev",
            tenants=self.tenants,
        )

    # -- up ----------------------------------------------------------------------------------

    def up(self, timeout: float = 600) -> None:
        """Argo CD running, the platform repository committed and bootstrapped, Mooring synced."""
        started = time.monotonic()
        self.argocd.up(self.say)
        published = self.publish_mooring()
        self.say(f"  Mooring's manifests published to {self.mooring_repo.bare} ({published})")
        created = self.init_repository()
        self.say(
            f"  platform repository {self.repo.bare}: "
            + ("`mooring init --profile local`, first commit pushed" if created else "as it was")
        )
        self.repo.install_hook(self._hook_target() if self.hook else None)
        asyncio.run(self._bootstrap(timeout))
        self.say(f"  Argo CD synced Mooring from Git in {time.monotonic() - started:.1f} s")

    def publish_mooring(self) -> str:
        """Mooring's own repository, as a release would hold it: deploy/ (CRDs, roles, policies)."""
        repo = self.mooring_repo
        repo.create()
        objects = [policyreport.crd(), *install()]
        repo.write({"deploy/install.yaml": dump_all(objects, sort_keys=False)})
        sha = repo.commit("Mooring's manifests (mooring install render)")
        if sha is not None:
            repo.push()
        return repo.head()[:8]

    def init_repository(self) -> bool:
        """`mooring init --profile local` into the clone, committed and pushed (first run)."""
        repo = self.repo
        repo.create()
        if (repo.work / "bootstrap").is_dir():
            return False
        files = render_repository(self.settings())
        if self.platform_config is not None:
            header = "# The PlatformConfig every environment starts from.\n"
            files["environments/base/platform.yaml"] = header + dump(
                self.platform_config, sort_keys=False
            )
        repo.write(files)
        repo.commit("mooring init --profile local")
        repo.push()
        return True

    def _hook_target(self) -> HookTarget:
        pki = self.cluster.pki
        state = self.cluster.state()
        assert state is not None
        return HookTarget(state.server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")

    async def _bootstrap(self, timeout: float) -> None:
        kustomize = ensure_built(GITOPS, say=self.say)["kustomize"]
        built = subprocess.run(
            [str(kustomize), "build", str(self.repo.work / "bootstrap")],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            raise RuntimeError(f"kustomize build bootstrap/ failed: {built.stderr.strip()}")
        async with self.kube() as kube:
            applied = await applications.apply_documents(kube, [built.stdout])
            self.say(f"  bootstrap/ applied: {', '.join(applied)}")
            await applications.wait_for(
                kube, "mooring", applications.healthy, timeout, "synced and Healthy", nudge=5
            )

    def kube(self) -> Kube:
        return Kube.from_kubeconfig(self.cluster.kubeconfig_path)

    # -- the operator --------------------------------------------------------------------------

    def start_operator(self) -> Component:
        """Mooring's operator as its ServiceAccount, attached so `dev down` stops it.

        (Argo CD installs Mooring's objects from Git; the operator's Deployment cannot run
        containers on kwok's nodes, so the process runs here.)"""
        return start_operator(self.cluster)


def start_operator(cluster: DevCluster, *extra: str) -> Component:
    """The operator process with `extra` arguments (e.g. a shorter cost refresh)."""
    config = cluster.operator_kubeconfig(cluster.dir / "operator.kubeconfig")
    port = free_port()
    return cluster.attach(
        OPERATOR,
        operator_command(config, port, "--health-port", str(free_port()), *extra),
        port,
        lambda p: http_ok(f"http://127.0.0.1:{p}/metrics"),
    )
