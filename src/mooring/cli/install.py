"""`mooring install render | apply` and `mooring apply`: put Mooring and a repository
into a cluster (what ArgoCD does in production; handy locally and in the demo)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from mooring.api import yamldump
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, err, out, say
from mooring.cli.tenants import _load, kubeconfig_option
from mooring.core.render.platform import install as install_objects
from mooring.kube.client import Kube, KubeError
from mooring.services.install import apply_objects, install_platform
from mooring.services.sources import read_sources


@click.group()
def install() -> None:
    """Mooring's own objects: CRDs, tenant ClusterRoles, the operator's RBAC."""


@install.command("render")
def install_render() -> None:
    """Print the objects as YAML (what deploy/ holds)."""
    out.print(yamldump.dump_all(install_objects()), end="", markup=False)


@install.command("apply")
@kubeconfig_option
def install_apply(kubeconfig: Path | None) -> None:
    """Apply the objects to the cluster (server-side apply) and wait for the CRDs.

    The PolicyReport CRD (wgpolicyk8s.io) is installed too when the cluster has none.
    """
    _apply(kubeconfig, install_objects(), platform=True)


@click.command("apply")
@click.argument("paths", nargs=-1, required=True)
@kubeconfig_option
def apply_repository(paths: tuple[str, ...], kubeconfig: Path | None) -> None:
    """Validate PATHS, then apply their Mooring resources (PlatformConfig first)."""
    _load(paths, "text")
    sources = read_sources(paths)
    objects = [d.obj for d in sources.documents if isinstance(d.obj, dict)]
    order = {"PlatformConfig": 0, "Tenant": 1}
    objects.sort(key=lambda o: order.get(str(o.get("kind")), 2))
    if not objects:
        err.print("error: nothing to apply", markup=False)
        sys.exit(EXIT_USAGE)
    _apply(kubeconfig, objects)


def _apply(kubeconfig: Path | None, objects: list[dict[str, Any]], platform: bool = False) -> None:
    async def go() -> list[str]:
        async with Kube.from_kubeconfig(kubeconfig) as kube:
            if platform:
                return await install_platform(kube, objects)
            return await apply_objects(kube, objects)

    try:
        applied = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
    for what in applied:
        say(f"applied {what}")
