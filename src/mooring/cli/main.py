"""The `mooring` command: a click group that gathers the subcommands of each front door.

Subcommands are imported when they are used, so that a quick command (`mooring check` in
a CI step) does not pay for importing the operator framework or the control plane.

Exit codes, for every command: 0 success (or no findings), 1 findings, 2 usage error or
unreadable input, 3 the cluster or a component failed.
"""

from __future__ import annotations

import importlib
import sys

import click

from mooring import __version__

# name -> "module:attribute" of the click command.
COMMANDS = {
    "db": "mooring.cli.db:db",
    "demo": "mooring.cli.demo:demo",
    "dev": "mooring.cli.dev:dev",
    "init": "mooring.cli.gitops:init",
    "validate": "mooring.cli.tenants:validate",
    "render": "mooring.cli.tenants:render",
    "diff": "mooring.cli.tenants:diff",
    "tenant": "mooring.cli.tenants:tenant",
    "apply": "mooring.cli.install:apply_repository",
    "install": "mooring.cli.install:install",
    "operator": "mooring.cli.operator:operator",
    "completion": "mooring.cli.completion:completion",
    # guardrails
    "check": "mooring.cli.check:check",
    # cost
    "cost": "mooring.cli.cost:cost",
    "policy": "mooring.cli.policy:policy",
    "version": "mooring.cli.version:version",
    # observability
    "observe": "mooring.cli.observe:observe",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mooring")
def cli() -> None:
    """Mooring: a Container-as-a-Service control plane for Kubernetes."""


def main() -> None:
    try:
        # Named "mooring" however it was started (python -m, kubectl-mooring): usage lines
        # and the shell completion variable (_MOORING_COMPLETE) stay the same.
        cli(prog_name="mooring", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
