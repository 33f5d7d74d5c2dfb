"""`mooring demo`: the main job, end to end on the local control plane."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mooring.cli.output import EXIT_FAILED, say
from mooring.cli.output import error as error_
from mooring.demo import run_demo
from mooring.devcluster.binaries import BuildError
from mooring.devcluster.cluster import DevClusterError
from mooring.kube.client import KubeError


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The local control plane's state folder (default: as for `mooring dev`).",
)
def demo(state_dir: Path | None) -> None:
    """Start the local control plane and run the platform on the example tenants."""
    try:
        run_demo(state_dir, say)
    except (DevClusterError, BuildError, KubeError, RuntimeError, TimeoutError) as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
