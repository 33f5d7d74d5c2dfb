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
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, OBJECT_FORMATS, error, print_objects, say
from mooring.cli.tenants import load_sources
from mooring.core.render import chart
from mooring.core.render.install import manifests
from mooring.core.render.platform import SYSTEM_NAMESPACE
from mooring.kube.client import KubeError
from mooring.services.install import (
    ValuesError,
    api_versions,
    apply_objects,
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


def _apply(kubeconfig: Path | None, context: str | None, objects: list[dict[str, Any]]) -> None:
    async def go() -> list[str]:
        async with connect(kubeconfig, context) as kube:
            return await apply_objects(kube, objects)

    _report(go)


def _report(go: Callable[[], Coroutine[Any, Any, list[str]]]) -> None:
    try:
        applied = asyncio.run(go())
    except (KubeError, TimeoutError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)
    for what in applied:
        say(f"applied {what}")
