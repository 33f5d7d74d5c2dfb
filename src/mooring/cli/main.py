"""The `mooring` command: a click group that gathers the subcommands of each front door.

Exit codes, for every command: 0 success (or no findings), 1 findings, 2 usage error or
unreadable input, 3 the cluster or a component failed.
"""

from __future__ import annotations

import sys

import click

from mooring import __version__
from mooring.cli.db import db
from mooring.cli.demo import demo
from mooring.cli.dev import dev
from mooring.cli.install import apply_repository, install
from mooring.cli.operator import operator
from mooring.cli.tenants import diff, render, tenant, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mooring")
def cli() -> None:
    """Mooring: a Container-as-a-Service control plane for Kubernetes."""


for command in (demo, dev, validate, render, diff, tenant, apply_repository, install, operator, db):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
