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
from lightkube.config.kubeconfig import KubeConfig

from mooring.api import names
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, err, out, say
from mooring.cli.tenants import kubeconfig_option
from mooring.kube.client import Forbidden, Kube, KubeError
from mooring.services.databases import Credentials, credentials

namespace_option = click.option(
    "-n",
    "--namespace",
    default=None,
    help="The Database's namespace (default: the kubeconfig context's namespace).",
)
LIBPQ = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE")


def _namespace(kubeconfig: Path | None, namespace: str | None) -> str:
    if namespace:
        return namespace
    try:
        config = (KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()).get()
    except Exception:  # no usable kubeconfig: the request itself will say so
        return "default"
    return str(getattr(config, "namespace", None) or "default")


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except LookupError as error:
        err.print(f"error: {error.args[0]}", markup=False)
        sys.exit(EXIT_USAGE)
    except Forbidden as error:
        err.print(
            f"error: {error}\n(reading credentials needs the developer or owner role in the "
            "namespace)",
            markup=False,
        )
        sys.exit(EXIT_FAILED)
    except (KubeError, OSError) as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)


async def _credentials(kubeconfig: Path | None, namespace: str, name: str) -> Credentials:
    async with Kube.from_kubeconfig(kubeconfig) as kube:
        return await credentials(kube, namespace, name)


@click.group()
def db() -> None:
    """Managed PostgreSQL databases: list them, read their credentials, connect."""


@db.command("list")
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace you may read.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@kubeconfig_option
def list_(
    namespace: str | None, all_namespaces: bool, output: str, kubeconfig: Path | None
) -> None:
    """The Databases of a namespace, with plan, readiness, endpoint and Secret."""
    where = None if all_namespaces else _namespace(kubeconfig, namespace)

    async def fetch() -> list[dict[str, Any]]:
        async with Kube.from_kubeconfig(kubeconfig) as kube:
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
    if not rows:
        say(f"no Databases in {'any namespace' if where is None else f'namespace {where}'}")
        return
    columns = ("namespace", "name", "plan", "ready", "reason", "endpoint", "secret")
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
@kubeconfig_option
def credentials_(name: str, namespace: str | None, output: str, kubeconfig: Path | None) -> None:
    """Print how to connect to Database NAME (this includes its password)."""
    binding = _run(_credentials(kubeconfig, _namespace(kubeconfig, namespace), name))
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
@kubeconfig_option
def connect(
    name: str, namespace: str | None, host: str | None, port: int | None, kubeconfig: Path | None
) -> None:
    """Open psql on Database NAME with its own credentials.

    A dedicated server is reachable inside the cluster only: forward a port first
    (`kubectl port-forward svc/NAME 5432 -n NAMESPACE`) and add `--host 127.0.0.1`.
    """
    ns = _namespace(kubeconfig, namespace)
    binding = _run(_credentials(kubeconfig, ns, name))
    psql = find_psql()
    if psql is None:
        err.print(
            "error: psql is not installed; install PostgreSQL's client (Debian: "
            "postgresql-client), or use `mooring db credentials` with another client",
            markup=False,
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
