"""`mooring install render | apply` and `mooring apply`: put Mooring and a repository
into a cluster (what ArgoCD does in production; handy locally and in the demo)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from mooring.cli.options import all_paths, connect, input_paths, kube_options, output_option
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, OBJECT_FORMATS, error, print_objects, say
from mooring.cli.tenants import load_sources
from mooring.core.render.platform import install as install_objects
from mooring.kube.client import KubeError
from mooring.services.install import apply_objects, install_platform


@click.group()
def install() -> None:
    """Mooring's own objects: CRDs, tenant ClusterRoles, the operator's RBAC."""


@install.command("render")
@output_option(OBJECT_FORMATS, "yaml")
def install_render(output: str) -> None:
    """Print the objects (YAML: what deploy/install.yaml holds; a JSON List; names)."""
    print_objects(install_objects(), output)


@install.command("apply")
@kube_options
def install_apply(kubeconfig: Path | None, context: str | None) -> None:
    """Apply the objects to the cluster (server-side apply) and wait for the CRDs.

    The PolicyReport CRD (wgpolicyk8s.io) is installed too when the cluster has none.
    """
    _apply(kubeconfig, context, install_objects(), platform=True)


@click.command("apply")
@input_paths
@kube_options
def apply_repository(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Validate PATHS, then apply their Mooring resources (PlatformConfig first)."""
    _, sources = load_sources(all_paths(paths, filenames), "text")
    objects = [d.obj for d in sources.documents if isinstance(d.obj, dict)]
    order = {"PlatformConfig": 0, "Tenant": 1}
    objects.sort(key=lambda o: order.get(str(o.get("kind")), 2))
    if not objects:
        error("nothing to apply")
        sys.exit(EXIT_USAGE)
    _apply(kubeconfig, context, objects)


def _apply(
    kubeconfig: Path | None,
    context: str | None,
    objects: list[dict[str, Any]],
    platform: bool = False,
) -> None:
    async def go() -> list[str]:
        async with connect(kubeconfig, context) as kube:
            if platform:
                return await install_platform(kube, objects)
            return await apply_objects(kube, objects)

    try:
        applied = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)
    for what in applied:
        say(f"applied {what}")
