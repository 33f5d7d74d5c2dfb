"""The demo's GitOps chapters: the platform from Git, a team's pull request, a broken change.

One function per chapter; each takes the running Demo (its cluster, `say`, the examples) and
the local GitOps loop. Side effects: Git commits and pushes to the local repository, reads of
the cluster and of Argo CD's Applications, `mooring validate` run as CI would run it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mooring.api.yamldump import dump_all
from mooring.demo.localgitops import LocalGitOps
from mooring.devcluster.cluster import DevCluster
from mooring.gitops import applications
from mooring.kube.client import Kube

API = "mooring.dev/v1alpha1"
Say = Callable[[str], None]


def platform_from_git(cluster: DevCluster, examples: Path, say: Say) -> LocalGitOps:
    """Chapter: `mooring init`, the first commit, Argo CD syncs Mooring and the platform.

    The example PlatformConfig is the repository's base config; the example teams are in the
    first commit, as teams already on the platform."""
    config = yaml.safe_load((examples / "platform.yaml").read_text())
    gitops = LocalGitOps(cluster, say, platform_config=config)
    gitops.up()
    repo = gitops.repo
    teams = {
        f"tenants/{path.name}": path.read_text() for path in sorted(examples.glob("tenants/*.yaml"))
    }
    repo.checkout(repo.branch)
    repo.write(teams)
    if repo.commit("the first teams: " + ", ".join(Path(p).stem for p in teams)):
        repo.push()
    say(f"  committed {', '.join(teams)}; Argo CD makes one Application per team file")
    return gitops


def _validate(repo_dir: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", "validate", *paths],
        cwd=repo_dir,
        capture_output=True,
        text=True,
        check=False,
    )


async def _ready(kube: Kube, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        tenant = await kube.get_or_none(API, "Tenant", name)
        status = (tenant or {}).get("status") or {}
        if (
            tenant is not None
            and status.get("ready") == "True"
            and status.get("observedGeneration") == tenant["metadata"]["generation"]
        ):
            return tenant
        if time.monotonic() > deadline:
            raise RuntimeError(f"tenant {name} not Ready {timeout} s after the merge")
        await asyncio.sleep(0.05)


def _search_file(*more: dict[str, Any]) -> str:
    """tenants/search.yaml, the same text every run (the demo runs again idempotently)."""
    search = {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": "search"},
        "spec": {
            "owners": {"users": ["sam@example.com"]},
            "developers": {"groups": ["search-devs"]},
            "environments": [{"name": "dev"}, {"name": "prod"}],
            "costCenter": "cc-3003",
        },
    }
    return "# The search team.\n" + dump_all([search, *more], sort_keys=False)


async def pull_request(gitops: LocalGitOps, say: Say) -> None:
    """Chapter: a team opens a pull request, CI validates it, it is merged, Argo CD syncs."""
    repo = gitops.repo
    repo.checkout(repo.branch)
    repo.checkout("search-onboarding", create=True)
    repo.write({"tenants/search.yaml": _search_file()})
    repo.commit("search joins the platform")
    say("  branch search-onboarding adds tenants/search.yaml")
    checked = _validate(repo.work, "environments/base/platform.yaml", "tenants/")
    say(
        "  CI: $ mooring validate environments/base/platform.yaml tenants/ -> exit "
        f"{checked.returncode}"
    )
    for line in (checked.stdout + checked.stderr).strip().splitlines()[-2:]:
        say(f"      {line}")
    if checked.returncode != 0:
        raise RuntimeError("the onboarding pull request did not validate")
    repo.merge("search-onboarding", "Merge pull request #12: search joins the platform")
    async with gitops.kube() as kube:
        merged = time.monotonic()
        repo.push()
        tenant = await _ready(kube, "search")
        seconds = time.monotonic() - merged
        names = ", ".join(n["name"] for n in tenant["status"]["namespaces"])
        say(
            f"  merged; Argo CD synced tenant-search, Mooring made {names}: Ready "
            f"{seconds:.1f} s after the merge"
        )
        app = await applications.wait_for(
            kube, "tenant-search", applications.healthy, 60, "Healthy"
        )
        say(f"  Argo CD: Application {app.name} {app.sync}/{app.health}")


async def broken_change(gitops: LocalGitOps, say: Say) -> None:
    """Chapter: a change CI refuses, merged anyway, shows Degraded with Mooring's message."""
    repo = gitops.repo
    repo.checkout(repo.branch)
    repo.checkout("search-database", create=True)
    database = {
        "apiVersion": API,
        "kind": "Database",
        "metadata": {"name": "index", "namespace": "search-prod"},
        "spec": {"storage": "500Gi"},
    }
    repo.write({"tenants/search.yaml": _search_file(database)})
    repo.commit("search: a 500Gi database")
    checked = _validate(repo.work, "environments/base/platform.yaml", "tenants/")
    say("  branch search-database asks for a 500Gi Database on the small tier")
    say(f"  CI: $ mooring validate ... -> exit {checked.returncode}")
    for line in checked.stdout.strip().splitlines():
        if "database-over-limit" in line:
            say(f"      {line}")
    repo.merge("search-database", "Merge pull request #13 (branch protection bypassed)")
    repo.push()
    say("  an administrator merges it anyway; Argo CD syncs it, Mooring refuses it:")
    async with gitops.kube() as kube:

        def degraded(app: applications.AppView) -> bool:
            return app.health == "Degraded" and bool(app.why())

        app = await applications.wait_for(kube, "tenant-search", degraded, 60, "Degraded")
        say(f"  Argo CD: Application {app.name} {app.sync}/{app.health}")
        say(f"    {app.why()}")
