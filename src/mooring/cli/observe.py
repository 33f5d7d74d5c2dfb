"""`mooring observe render`: the tenants' alerts, routes and dashboards for a monitoring
stack without the Prometheus Operator or grafana-operator (and the platform's own).

Exit codes: 0 printed, 1 findings in the input, 2 usage error or unreadable input.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import yaml

from mooring.cli.options import all_paths, input_paths
from mooring.cli.output import EXIT_USAGE, err, out, say
from mooring.cli.tenants import _load
from mooring.core.observe.platform import (
    otel_collector_config,
    platform_dashboard,
    platform_rule_file,
)
from mooring.core.observe.routing import alertmanager_config, left_out
from mooring.core.render import Context
from mooring.core.render.observe import rule_file, tenant_dashboard

PARTS = ("rules", "alertmanager", "dashboards", "platform-rules", "platform-dashboard", "otelcol")


class _Literal(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so rule files read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Literal.add_representer(str, _str)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Literal, sort_keys=False, width=100)


@click.group()
def observe() -> None:
    """Tenants' alert rules, Alertmanager routes and dashboards; the platform's own."""


@observe.command("render")
@input_paths
@click.option(
    "--part",
    type=click.Choice(PARTS),
    default="rules",
    show_default=True,
    help="rules: the tenants' rule files; alertmanager: a configuration routing each "
    "tenant's alerts to its contacts; dashboards: Grafana JSON; platform-rules, "
    "platform-dashboard: Mooring's own (platform-rules with the cost recording rules); "
    "otelcol: the addon catalog's collector config.",
)
@click.option(
    "--out",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per tenant (rules, dashboards) into this folder instead of stdout.",
)
def render(
    paths: tuple[str, ...], filenames: tuple[str, ...], part: str, directory: Path | None
) -> None:
    """Print what PATHS (a platform repository) observe with, for Prometheus, Alertmanager
    and Grafana run without their Kubernetes operators.

    With the operators installed, the Mooring operator applies the same rules as
    PrometheusRules, routes as AlertmanagerConfigs and dashboards as GrafanaDashboards
    (and sidecar ConfigMaps) in each tenant's namespaces.
    """
    parsed = _load(all_paths(paths, filenames), "text").parsed
    if parsed.platform is None:
        err.print("error: no PlatformConfig among the paths; add platform.yaml", markup=False)
        sys.exit(EXIT_USAGE)
    platform = parsed.platform[0].spec
    tenants = [tenant for tenant, _ in parsed.tenants]
    files: dict[str, str] = {}
    if part == "rules":
        for tenant in tenants:
            files[f"{tenant.name}.rules.yaml"] = dump(rule_file(Context(tenant, platform)))
    elif part == "dashboards":
        for tenant in tenants:
            board = tenant_dashboard(Context(tenant, platform))
            files[f"{tenant.name}.dashboard.json"] = json.dumps(board, indent=2) + "\n"
    elif part == "alertmanager":
        for warning in left_out(tenants, platform.observe.alertmanager):
            err.print(f"warning: {warning}", markup=False)
        files["alertmanager.yml"] = dump(
            alertmanager_config(tenants, platform.observe.alertmanager)
        )
    elif part == "platform-rules":
        cost_step = timedelta(minutes=platform.cost.step_minutes)
        files["mooring-platform.rules.yaml"] = dump(platform_rule_file(platform.observe, cost_step))
    elif part == "platform-dashboard":
        files["mooring-platform.dashboard.json"] = (
            json.dumps(platform_dashboard(platform.observe), indent=2) + "\n"
        )
    else:
        files["otelcol.yaml"] = dump(otel_collector_config())
    if directory is None:
        separator = "---\n" if part not in ("dashboards", "platform-dashboard") else ""
        out.print(separator.join(files.values()), end="", markup=False, highlight=False)
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
        say(f"wrote {directory / name}")
