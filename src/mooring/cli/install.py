"""`mooring install render | apply | chart` and `mooring apply`: put Mooring and a
repository into a cluster (what Helm or Argo CD does in production; handy locally)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from mooring.api.install import PLACEHOLDER_REPOSITORY, InstallValues
from mooring.cli.options import all_paths, connect, input_paths, kube_options, output_option
from mooring.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    OBJECT_FORMATS,
    error,
    out,
    print_objects,
    say,
)
from mooring.cli.tenants import _load
from mooring.core.gate import mooring_kind
from mooring.core.plan import ref
from mooring.core.render import chart
from mooring.core.render.install import manifests
from mooring.core.render.platform import SYSTEM_NAMESPACE
from mooring.core.validate import MODELS
from mooring.kube.client import KubeError
from mooring.services.apply import Applied, apply_all, ordered
from mooring.services.install import (
    ValuesError,
    api_versions,
    install_platform,
    read_values,
)


def values_options(command: Any) -> Any:
    """--values/-f, --set and --namespace, read as Helm reads them."""
    for option in reversed(
        [
            click.option(
                "-f",
                "--values",
                "values_files",
                multiple=True,
                help="A values file (the Helm chart's values.yaml fields); `-` reads stdin. "
                "Repeatable: later files win.",
            ),
            click.option(
                "--set",
                "sets",
                multiple=True,
                metavar="KEY=VALUE",
                help="One value, e.g. --set image.repository=registry.example/mooring. "
                "Repeatable; wins over files.",
            ),
            click.option(
                "-n",
                "--namespace",
                default=SYSTEM_NAMESPACE,
                show_default=True,
                help="The operator's namespace.",
            ),
        ]
    ):
        command = option(command)
    return command


def _values(files: tuple[str, ...], sets: tuple[str, ...]) -> InstallValues:
    try:
        values = read_values(files, sets)
    except ValuesError as problem:
        error(str(problem))
        sys.exit(EXIT_USAGE)
    if values.image.repository == PLACEHOLDER_REPOSITORY:
        say(
            f"note: image.repository is the placeholder {PLACEHOLDER_REPOSITORY}; build the "
            "image (scripts/build-image), push it and pass --set image.repository=..."
        )
    return values


@click.group()
def install() -> None:
    """Mooring on a cluster: CRDs, roles, RBAC, the operator Deployment (docs/install.md)."""


@install.command("render")
@values_options
@click.option(
    "--api-versions",
    "versions",
    multiple=True,
    help="Kinds the cluster serves, as Helm's --api-versions "
    "(monitoring.coreos.com/v1/ServiceMonitor renders a ServiceMonitor).",
)
@output_option(OBJECT_FORMATS, "yaml")
def install_render(
    values_files: tuple[str, ...],
    sets: tuple[str, ...],
    namespace: str,
    versions: tuple[str, ...],
    output: str,
) -> None:
    """Print every object of an installation (YAML: deploy/install.yaml is the default;
    a JSON List; names).

    The same values give the same objects as `helm template --include-crds` of the chart
    in deploy/helm/mooring.
    """
    values = _values(values_files, sets)
    print_objects(manifests(values, namespace, versions), output)


@install.command("apply")
@values_options
@kube_options
def install_apply(
    values_files: tuple[str, ...],
    sets: tuple[str, ...],
    namespace: str,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Apply an installation to the cluster (server-side apply) and wait for the CRDs.

    A ServiceMonitor is included when the cluster serves that kind; the PolicyReport CRD
    (wgpolicyk8s.io) is installed when the cluster has none.
    """
    values = _values(values_files, sets)

    async def go() -> list[str]:
        async with connect(kubeconfig, context) as kube:
            objects = manifests(values, namespace, await api_versions(kube))
            return await install_platform(kube, objects)

    _report(go)


@install.command("chart")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def install_chart(directory: Path) -> None:
    """Write the Helm chart into DIRECTORY (deploy/helm/mooring is this, committed)."""
    files = chart.files()
    written = 0
    for name, text in sorted(files.items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written += 1
    stale = [
        p
        for p in directory.rglob("*")
        if p.is_file() and str(p.relative_to(directory)) not in files
    ]
    for path in stale:
        path.unlink()
    say(f"{directory}: {written} file(s) written, {len(stale)} removed")


@click.command("apply")
@input_paths
@kube_options
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
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    kubeconfig: Path | None,
    context: str | None,
    dry_run: str,
    wait: float,
) -> None:
    """Validate PATHS, then apply their Mooring resources, all or nothing.

    Only Mooring's kinds (PlatformConfig, Tenant, Database, PolicyException) are applied;
    other objects are left to Argo CD. Every object is first applied as a server-side dry
    run; if the server refuses one, nothing is applied. Then the PlatformConfig, the
    Tenants, and the rest, in that order. If the server fails midway, what was and was not
    applied is printed. Exit 0 applied, 1 findings, 2 bad input, 3 refused or failed.
    """
    loaded = _load(all_paths(paths, filenames), "text")
    objects = []
    for document in loaded.documents:
        if mooring_kind(document.obj) in MODELS:
            objects.append(document.obj)
        elif isinstance(document.obj, dict):
            what = f"{document.obj.get('kind')} {document.obj.get('metadata', {}).get('name', '')}"
            say(f"skipped {what.strip()} ({document.position()}): not a Mooring resource")
    if not objects:
        error("nothing to apply: no Mooring resources among the paths")
        sys.exit(EXIT_USAGE)
    if dry_run == "client":
        for obj in ordered(objects):
            out.print(f"would apply {ref(obj)}", markup=False)
        say(f"{len(objects)} object(s) valid; nothing sent (--dry-run=client)")
        return

    async def go() -> Applied:
        async with connect(kubeconfig, context) as kube:
            return await apply_all(kube, objects, dry_run_only=dry_run == "server", wait=wait)

    try:
        result = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as problem:
        error(f"{problem}; nothing was applied")
        sys.exit(EXIT_FAILED)
    if result.refused:
        error(
            f"the API server refused {len(result.refused)} of {len(objects)} object(s) in a "
            "dry run; nothing was applied:"
        )
        for what, why in result.refused:
            say(f"  {what}: {why}")
        if result.hint:
            say(f"note: {result.hint}")
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
            error(f"{what}: {why}")
        say(f"not applied: {', '.join(result.not_applied)}")
        say(
            f"{len(result.applied)} of {len(objects)} applied; the cluster holds part of the "
            "change. Fix the error and run mooring apply again (applying twice is harmless)."
        )
        sys.exit(EXIT_FAILED)


def _report(go: Callable[[], Coroutine[Any, Any, list[str]]]) -> None:
    try:
        applied = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)
    for what in applied:
        say(f"applied {what}")
