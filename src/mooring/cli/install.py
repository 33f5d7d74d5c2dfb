"""`mooring install render | apply` and `mooring apply`: put Mooring and a repository
into a cluster (what ArgoCD does in production; handy locally and in the demo)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, err, out, say
from mooring.cli.tenants import _load, kubeconfig_option
from mooring.core.gate import mooring_kind
from mooring.core.plan import ref
from mooring.core.render.platform import install as install_objects
from mooring.core.validate import MODELS
from mooring.kube.client import Kube, KubeError
from mooring.services.apply import Applied, apply_all, ordered
from mooring.services.install import apply_objects, install_platform


@click.group()
def install() -> None:
    """Mooring's own objects: CRDs, tenant ClusterRoles, the operator's RBAC."""


@install.command("render")
def install_render() -> None:
    """Print the objects as YAML (what deploy/ holds)."""
    out.print(yaml.safe_dump_all(install_objects(), sort_keys=False), end="", markup=False)


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
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Choice(["none", "server", "client"]),
    default="none",
    show_default=True,
    help="server: the API server judges every object (schema, admission, RBAC) and nothing "
    "is written; client: validate only, print what would be applied.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="Seconds to wait for the operator to make a new tenant's namespaces before the "
    "Databases and PolicyExceptions in them are applied.",
)
def apply_repository(
    paths: tuple[str, ...], kubeconfig: Path | None, dry_run: str, wait: float
) -> None:
    """Validate PATHS, then apply their Mooring resources, all or nothing.

    Only Mooring's kinds (PlatformConfig, Tenant, Database, PolicyException) are applied;
    other objects are left to Argo CD. Every object is first applied as a server-side dry
    run; if the server refuses one, nothing is applied. Then the PlatformConfig, the
    Tenants, and the rest, in that order. If the server fails midway, what was and was not
    applied is printed. Exit 0 applied, 1 findings, 2 bad input, 3 refused or failed.
    """
    loaded = _load(paths, "text")
    objects = []
    for document in loaded.documents:
        if mooring_kind(document.obj) in MODELS:
            objects.append(document.obj)
        elif isinstance(document.obj, dict):
            what = f"{document.obj.get('kind')} {document.obj.get('metadata', {}).get('name', '')}"
            say(f"skipped {what.strip()} ({document.position()}): not a Mooring resource")
    if not objects:
        err.print("error: nothing to apply: no Mooring resources among the paths", markup=False)
        sys.exit(EXIT_USAGE)
    if dry_run == "client":
        for obj in ordered(objects):
            out.print(f"would apply {ref(obj)}", markup=False)
        say(f"{len(objects)} object(s) valid; nothing sent (--dry-run=client)")
        return

    async def go() -> Applied:
        async with Kube.from_kubeconfig(kubeconfig) as kube:
            return await apply_all(kube, objects, dry_run_only=dry_run == "server", wait=wait)

    try:
        result = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as error:
        err.print(f"error: {error}; nothing was applied", markup=False)
        sys.exit(EXIT_FAILED)
    if result.refused:
        err.print(
            f"error: the API server refused {len(result.refused)} of {len(objects)} object(s) "
            "in a dry run; nothing was applied:",
            markup=False,
        )
        for what, why in result.refused:
            err.print(f"  {what}: {why}", markup=False)
        if result.hint:
            err.print(f"note: {result.hint}", markup=False)
        sys.exit(EXIT_FAILED)
    if dry_run == "server":
        for obj in ordered(objects):
            out.print(f"would apply {ref(obj)}", markup=False)
        deferred = (
            f"; {len(result.deferred)} judged when their tenant's namespace exists"
            if result.deferred
            else ""
        )
        say(f"the API server accepts {len(objects) - len(result.deferred)} object(s){deferred}")
        return
    for what in result.applied:
        say(f"applied {what}")
    if result.failed:
        for what, why in result.failed:
            err.print(f"error: {what}: {why}", markup=False)
        err.print(f"not applied: {', '.join(result.not_applied)}", markup=False)
        say(
            f"{len(result.applied)} of {len(objects)} applied; the cluster holds part of the "
            "change. Fix the error and run mooring apply again (applying twice is harmless)."
        )
        sys.exit(EXIT_FAILED)


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
