"""`mooring db list | credentials NAME | connect NAME`: a team's managed databases.

Exit codes: 0 success, 2 no such Database (or not provisioned yet) or bad usage, 3 the
cluster could not be reached or refused the request (for example: no right to read the
namespace's Secrets).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from mooring.api import names, yamldump
from mooring.cli.options import connect, context_namespace, kube_options, output_option
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, error, out, say
from mooring.kube.client import Forbidden, KubeError
from mooring.services.databases import Credentials, credentials

namespace_option = click.option(
    "-n",
    "--namespace",
    default=None,
    help="The Database's namespace (default: the kubeconfig context's namespace).",
)
LIBPQ = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE")


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except LookupError as problem:
        error(str(problem.args[0]))
        sys.exit(EXIT_USAGE)
    except Forbidden as problem:
        error(
            f"{problem}\n(reading credentials needs the developer or owner role in the namespace)"
        )
        sys.exit(EXIT_FAILED)
    except (KubeError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)


async def _credentials(
    kubeconfig: Path | None, context: str | None, namespace: str, name: str
) -> Credentials:
    async with connect(kubeconfig, context) as kube:
        return await credentials(kube, namespace, name)


@click.group()
def db() -> None:
    """Managed PostgreSQL databases: list them, read their credentials, connect."""


@db.command("list")
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace you may read.")
@output_option(
    ("table", "wide", "json", "yaml", "name"),
    "table",
    "Output format: table, wide (with the message), json, yaml or name.",
)
@kube_options
def list_(
    namespace: str | None,
    all_namespaces: bool,
    output: str,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """The Databases of a namespace, with plan, readiness, endpoint and Secret."""
    where = None if all_namespaces else context_namespace(kubeconfig, context, namespace)

    async def fetch() -> list[dict[str, Any]]:
        async with connect(kubeconfig, context) as kube:
            return await kube.list(names.API_VERSION, "Database", where)

    rows = []
    for body in _run(fetch()):
        status = body.get("status") or {}
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {}
        )
        rows.append(
            {
                "namespace": body["metadata"]["namespace"],
                "name": body["metadata"]["name"],
                "plan": (body.get("spec") or {}).get("plan", "shared"),
                "ready": ready.get("status", "Unknown"),
                "reason": ready.get("reason", ""),
                "endpoint": status.get("endpoint", ""),
                "secret": (status.get("binding") or {}).get("name", ""),
                "message": ready.get("message", ""),
            }
        )
    if output == "json":
        out.print(json.dumps(rows, indent=2), markup=False)
        return
    if output == "yaml":
        out.print(yamldump.dump(rows), end="", markup=False)
        return
    if output == "name":
        for row in rows:
            out.print(f"database.{names.GROUP}/{row['name']}", markup=False)
        return
    if not rows:
        say(f"no Databases in {'any namespace' if where is None else f'namespace {where}'}")
        return
    columns: tuple[str, ...] = (
        "namespace",
        "name",
        "plan",
        "ready",
        "reason",
        "endpoint",
        "secret",
    )
    if output == "wide":
        columns += ("message",)
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    out.print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip(), markup=False)
    for row in rows:
        out.print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip(), markup=False)


@db.command("credentials")
@click.argument("name")
@namespace_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["env", "uri", "json"]),
    default="env",
    show_default=True,
    help="env: libpq variables to `eval`; uri: a connection URI; json: every value.",
)
@kube_options
def credentials_(
    name: str,
    namespace: str | None,
    output: str,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Print how to connect to Database NAME (this includes its password)."""
    ns = context_namespace(kubeconfig, context, namespace)
    binding = _run(_credentials(kubeconfig, context, ns, name))
    values = binding.values
    if output == "uri":
        out.print(values["uri"], markup=False)
    elif output == "json":
        out.print(json.dumps(values, indent=2, sort_keys=True), markup=False)
    else:
        for key in LIBPQ:
            if key in values:
                out.print(f"export {key}={shlex.quote(values[key])}", markup=False)


def find_psql() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True)
    return str(candidates[0]) if candidates else None


@db.command("connect")
@click.argument("name")
@namespace_option
@click.option("--host", default=None, help="Connect here instead (e.g. through a port-forward).")
@click.option("--port", type=int, default=None)
@kube_options
def connect_(
    name: str,
    namespace: str | None,
    host: str | None,
    port: int | None,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Open psql on Database NAME with its own credentials.

    A dedicated server is reachable inside the cluster only: forward a port first
    (`kubectl port-forward svc/NAME 5432 -n NAMESPACE`) and add `--host 127.0.0.1`.
    """
    ns = context_namespace(kubeconfig, context, namespace)
    binding = _run(_credentials(kubeconfig, context, ns, name))
    psql = find_psql()
    if psql is None:
        error(
            "psql is not installed; install PostgreSQL's client (Debian: "
            "postgresql-client), or use `mooring db credentials` with another client"
        )
        sys.exit(EXIT_USAGE)
    env = dict(os.environ)
    env.update({k: binding.values[k] for k in LIBPQ if k in binding.values})
    if host:
        env["PGHOST"] = host
    if port:
        env["PGPORT"] = str(port)
    if binding.values["host"].endswith(".svc") and not host:
        say(
            f"note: {binding.values['host']} is inside the cluster; from a laptop run "
            f"`kubectl port-forward svc/{name} 5432 -n {ns}` and add --host 127.0.0.1"
        )
    # The password travels in the environment, never on a command line.
    os.execve(psql, [psql], env)
