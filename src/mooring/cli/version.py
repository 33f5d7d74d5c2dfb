"""`mooring version`: this client's version, the Kubernetes versions Mooring supports, and
the cluster's version when it can be reached."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from mooring import __version__
from mooring.api.yamldump import dump
from mooring.cli.options import kube_options, output_option
from mooring.cli.output import out
from mooring.core import versions
from mooring.kube.client import Kube, KubeError

DISTRIBUTION = "mooring-platform"


@click.command()
@kube_options
@click.option("--client", "client_only", is_flag=True, help="Do not ask the cluster.")
@output_option(("text", "json", "yaml"), "text")
def version(kubeconfig: Path | None, context: str | None, client_only: bool, output: str) -> None:
    """Print the versions: this client, the supported Kubernetes range, the server's."""
    report: dict[str, Any] = {
        "client": {"version": __version__, "distribution": DISTRIBUTION},
        "supportedKubernetes": {
            "minimum": "{}.{}".format(*versions.MINIMUM),
            "newestTested": "{}.{}".format(*versions.TESTED),
        },
    }
    if not client_only:
        report["server"] = asyncio.run(_server(kubeconfig, context))
    if output == "json":
        out.print(json.dumps(report, indent=2), markup=False)
        return
    if output == "yaml":
        out.print(dump(report), end="", markup=False)
        return
    lines = [
        f"client: mooring {__version__} (PyPI: {DISTRIBUTION})",
        f"supported Kubernetes: {versions.supported_range()}",
    ]
    server = report.get("server")
    if server is not None:
        if server.get("error"):
            lines.append(f"server: not reachable ({server['error']})")
        else:
            lines.append(
                f"server: Kubernetes {server['release']} ({server['version']}) at {server['url']}"
            )
            if server["message"]:
                lines.append(
                    ("warning: " if server["supported"] else "error: ") + server["message"]
                )
    out.print("\n".join(lines), markup=False)


async def _server(kubeconfig: Path | None, context: str | None) -> dict[str, Any]:
    try:
        async with Kube.from_kubeconfig(kubeconfig, context=context, timeout=5) as kube:
            info = await kube.request("GET", "/version", what="the server's version")
            verdict = versions.judge(info)
            parsed = versions.parse(info)
            return {
                "url": kube.server,
                "version": info.get("gitVersion"),
                "release": "{}.{}".format(*parsed) if parsed else "unknown",
                "supported": verdict.supported,
                "message": verdict.message,
            }
    except KubeError as error:
        return {"error": str(error)}
