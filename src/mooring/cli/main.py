"""The `mooring` command: a click group that gathers the subcommands of each front door.

Exit codes, for every command: 0 success (or no findings), 1 findings, 2 usage error or
unreadable input, 3 the cluster or a component failed.
"""

from __future__ import annotations

import sys

import click

from mooring import __version__
from mooring.cli.dev import dev


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mooring")
def cli() -> None:
    """Mooring: a Container-as-a-Service control plane for Kubernetes."""


cli.add_command(dev)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
