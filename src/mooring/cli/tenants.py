"""`mooring validate | render | diff | tenant new`: the pull-request side of tenants.

Exit codes: 0 clean, 1 findings (or differences, for diff), 2 usage error or unreadable
input, 3 the cluster could not be reached or refused a request.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from mooring.api import yamldump
from mooring.api.cost import money_text
from mooring.api.documents import Document, model_errors
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.cli import tenant_status
from mooring.cli.findings import FORMATS, Format, emit
from mooring.cli.options import all_paths, connect, input_paths, kube_options, output_option
from mooring.cli.output import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_USAGE,
    OBJECT_FORMATS,
    err,
    error,
    out,
    print_objects,
    say,
)
from mooring.core.cost.estimate import estimate
from mooring.core.gate import unread_manifests
from mooring.core.render import Context, Features, render_tenant
from mooring.core.validate import Finding, Parsed, error_count, validate_documents
from mooring.kube.client import KubeError
from mooring.services.diff import diff_tenant
from mooring.services.sources import SourceError, other_manifests, read_sources

FORMAT_HELP = "Output format: text (file:line), json, or github (annotations)."


@dataclass
class Loaded:
    """PATHS read once, parsed and validated: what every command of this module starts from
    (read once: standard input can be read only once, and a file must not change between
    what was validated and what is applied)."""

    parsed: Parsed
    documents: list[Document]
    findings: list[Finding]
    errors: list[SourceError]
    files: int

    @property
    def error_count(self) -> int:
        return error_count(self.findings) + len(self.errors)

    def exit_code(self) -> int:
        """2 unreadable input (or a document that is not a Kubernetes object, as `mooring
        check` says), 1 findings, 0 clean: the same for every command given the same input."""
        if self.errors or any(f.code == "not-an-object" for f in self.findings):
            return EXIT_USAGE
        if error_count(self.findings):
            return EXIT_FINDINGS
        return 0


def load(paths: tuple[str, ...]) -> Loaded:
    sources = read_sources(paths)
    parsed, findings = validate_documents(sources.documents)
    findings += unread_manifests([str(path) for path in other_manifests(paths)])
    return Loaded(parsed, sources.documents, findings, sources.errors, sources.files)


def report(loaded: Loaded, fmt: Format, console: Console | None = None) -> None:
    """Findings (file:line), then one summary line on stderr (text format)."""
    emit(loaded.findings, loaded.errors, fmt, console=console or out)
    if fmt == "text":
        warnings = len(loaded.findings) - error_count(loaded.findings)
        say(
            f"{len(loaded.parsed.tenants)} tenant(s) in {loaded.files} file(s): "
            f"{loaded.error_count} error(s), {warnings} warning(s)"
        )


def _load(paths: tuple[str, ...], fmt: Format) -> Loaded:
    """Read and validate once; on errors print them (on stderr: stdout is the command's
    output) and exit 1 or 2; warnings are printed and the command goes on."""
    loaded = load(paths)
    code = loaded.exit_code()
    if code:
        report(loaded, fmt, console=err)
        sys.exit(code)
    if loaded.findings:
        emit(loaded.findings, [], fmt, console=err)
    return loaded


@click.command()
@input_paths
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help=FORMAT_HELP,
)
def validate(paths: tuple[str, ...], filenames: tuple[str, ...], fmt: Format) -> None:
    """Check tenants, the PlatformConfig and other Mooring resources in files or folders.

    Schema checks (the same the API server applies) and checks across the repository:
    duplicate tenants or namespaces, unknown tiers, quotas beyond the platform's capacity,
    allowances naming unknown tenants, reserved (platform) namespaces, members that would
    open a tenant to everyone, and what tenants' files may hold (Mooring's resources only,
    in the tenant's own namespaces). Exit 0 clean, 1 findings, 2 unreadable input.
    """
    loaded = load(all_paths(paths, filenames))
    report(loaded, fmt)
    parsed = loaded.parsed
    if fmt == "text" and parsed.platform and parsed.tenants and not loaded.error_count:
        reserved = estimate(parsed.tenants, parsed.platform[0].spec)
        say(
            f"cost: the tenants' quotas reserve up to {money_text(reserved.upper_bound)} "
            f"{reserved.currency}/month at list price (`mooring cost estimate PATH... "
            "--base REF` shows what a pull request adds)"
        )
    code = loaded.exit_code()
    if code:
        sys.exit(code)


@click.command()
@input_paths
@output_option(OBJECT_FORMATS, "yaml")
@click.option(
    "--cilium/--no-cilium",
    default=None,
    help="Render as for a cluster with (or without) Cilium: L7 and FQDN allowances "
    "(default: the PlatformConfig's spec.network.cilium).",
)
@click.option(
    "--prometheus-operator",
    is_flag=True,
    help="Render as for a cluster with the Prometheus Operator (PrometheusRule, "
    "AlertmanagerConfig).",
)
@click.option(
    "--grafana-operator", is_flag=True, help="Render GrafanaDashboards (grafana-operator)."
)
def render(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    output: str,
    cilium: bool | None,
    prometheus_operator: bool,
    grafana_operator: bool,
) -> None:
    """Print every object the tenants in PATHS render to (YAML, a JSON List, or names)."""
    parsed = _load(all_paths(paths, filenames), "text").parsed
    if parsed.platform is None:
        error("no PlatformConfig among the paths; add platform.yaml")
        sys.exit(EXIT_USAGE)
    platform = parsed.platform[0].spec
    features = Features(
        cilium=platform.network.cilium if cilium is None else cilium,
        prometheus_operator=prometheus_operator,
        alertmanager_config=prometheus_operator,
        grafana_operator=grafana_operator,
    )
    objects: list[dict[str, Any]] = []
    for tenant, _ in parsed.tenants:
        objects += render_tenant(Context(tenant, platform, features))
    print_objects(objects, output)


@click.command()
@input_paths
@kube_options
def diff(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Show what applying the tenants in PATHS would change in the cluster.

    Uses server-side dry-run, so admission (quota, policies) is consulted and nothing is
    written. Exit 0 no changes, 1 changes, 2 bad input, 3 cluster error.
    """
    parsed = _load(all_paths(paths, filenames), "text").parsed
    if parsed.platform is None:
        error("no PlatformConfig among the paths; add platform.yaml")
        sys.exit(EXIT_USAGE)
    platform = parsed.platform[0]
    tenants = [(tenant, document.obj) for tenant, document in parsed.tenants]
    try:
        changes = asyncio.run(_diff(kubeconfig, context, tenants, platform))
    except (KubeError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)
    changed = failed = 0
    for change in changes:
        if change.action == "keep" and not change.diff:
            continue
        marker = {"create": "+", "update": "~", "delete": "-", "keep": "=", "error": "!"}
        out.print(f"{marker[change.action]} {change.action} {change.what}", markup=False)
        if change.diff:
            out.print(change.diff.rstrip("\n"), markup=False)
        changed += change.action in ("create", "update", "delete")
        failed += change.action == "error"
    say(f"{changed} change(s), {failed} refused by the server")
    if failed:
        sys.exit(EXIT_FAILED)
    if changed:
        sys.exit(EXIT_FINDINGS)


async def _diff(
    kubeconfig: Path | None,
    context: str | None,
    tenants: list[tuple[Tenant, dict[str, Any]]],
    platform: PlatformConfig,
) -> list[Any]:
    async with connect(kubeconfig, context) as kube:
        changes = []
        for tenant, written in tenants:
            changes += await diff_tenant(kube, tenant, platform, written)
        return changes


def _subjects(entries: tuple[str, ...]) -> dict[str, list[str]]:
    """alice -> user, group:team -> group, sa:namespace/name -> service account."""
    result: dict[str, list[str]] = {"users": [], "groups": [], "serviceAccounts": []}
    for entry in entries:
        if entry.startswith("group:"):
            result["groups"].append(entry.removeprefix("group:"))
        elif entry.startswith("sa:"):
            result["serviceAccounts"].append(entry.removeprefix("sa:"))
        else:
            result["users"].append(entry.removeprefix("user:"))
    return {k: v for k, v in result.items() if v}


@click.group()
def tenant() -> None:
    """Tenants: start a tenant file; see a tenant's scorecard."""


tenant.add_command(tenant_status.status)


@tenant.command("new")
@click.argument("name")
@click.option(
    "--owner",
    "owners",
    multiple=True,
    required=True,
    help="alice, group:payments-leads or sa:ci/deployer; repeatable.",
)
@click.option("--developer", "developers", multiple=True, help="As --owner.")
@click.option("--viewer", "viewers", multiple=True, help="As --owner.")
@click.option(
    "--env",
    "environments",
    multiple=True,
    default=("dev", "prod"),
    show_default=True,
    help="An environment (namespace NAME-ENV); repeatable.",
)
@click.option("--tier", default=None, help="A tier of the PlatformConfig (default: its default).")
@click.option("--cost-center", default=None)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tenants"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def tenant_new(
    name: str,
    owners: tuple[str, ...],
    developers: tuple[str, ...],
    viewers: tuple[str, ...],
    environments: tuple[str, ...],
    tier: str | None,
    cost_center: str | None,
    directory: Path,
    force: bool,
) -> None:
    """Write a valid tenants/NAME.yaml to start a pull request from."""
    spec: dict[str, Any] = {"owners": _subjects(owners)}
    if developers:
        spec["developers"] = _subjects(developers)
    if viewers:
        spec["viewers"] = _subjects(viewers)
    spec["environments"] = [{"name": env} for env in environments]
    if tier:
        spec["tier"] = tier
    if cost_center:
        spec["costCenter"] = cost_center
    document = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": spec,
    }
    _, errors = model_errors(Tenant, document)
    if errors:
        for problem in errors:
            error(f"{problem.dotted or 'tenant'}: {problem.message}")
        sys.exit(EXIT_USAGE)
    target = directory / f"{name}.yaml"
    if target.exists() and not force:
        error(f"{target} exists; pass --force to overwrite it")
        sys.exit(EXIT_USAGE)
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# Tenant {name}: reviewed by the platform team, applied by ArgoCD after merge.\n"
        + yamldump.dump(document)
    )
    platform = directory.parent / "platform.yaml"
    say(f"wrote {target}; check it with: mooring validate {platform} {directory}")
