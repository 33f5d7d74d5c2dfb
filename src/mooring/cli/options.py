"""Options shared by commands, spelled as kubectl spells them.

- `--kubeconfig FILE` and `--context NAME` on every command that talks to a cluster
  (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account);
- `-n/--namespace` where a command works in one namespace;
- `-o/--output FORMAT`: always the output format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from lightkube.config.kubeconfig import KubeConfig

from mooring.kube.client import Kube

F = TypeVar("F", bound=Callable[..., Any])


def kube_options(command: F) -> F:
    """--kubeconfig and --context."""
    command = click.option(
        "--context",
        default=None,
        metavar="NAME",
        help="The kubeconfig context to use (default: its current context).",
    )(command)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Cluster to use (default: $KUBECONFIG, ~/.kube/config or in-cluster).",
    )(command)


def output_option(choices: Sequence[str], default: str, help_: str = "") -> Callable[[F], F]:
    """-o/--output: the output format."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help=help_ or f"Output format: {', '.join(choices)}.",
    )


def connect(kubeconfig: Path | None, context: str | None) -> Kube:
    """The client for --kubeconfig/--context (KubeError when there is no usable config)."""
    return Kube.from_kubeconfig(kubeconfig, context=context)


def context_namespace(kubeconfig: Path | None, context: str | None, namespace: str | None) -> str:
    """-n if given, else the kubeconfig context's namespace, else "default" (as kubectl)."""
    if namespace:
        return namespace
    try:
        loaded = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        config = loaded.get(context_name=context)
    except Exception:  # no usable kubeconfig: the request itself will say so
        return "default"
    return str(getattr(config, "namespace", None) or "default")


def input_paths(command: F) -> F:
    """PATH... and -f/--filename PATH (repeatable), as kubectl reads files; '-' is stdin."""
    command = click.option(
        "-f",
        "--filename",
        "filenames",
        multiple=True,
        metavar="PATH",
        help="A file or folder to read, like PATH ('-' reads standard input); repeatable.",
    )(command)
    return click.argument("paths", nargs=-1)(command)


def all_paths(paths: tuple[str, ...], filenames: tuple[str, ...]) -> tuple[str, ...]:
    merged = (*paths, *filenames)
    if not merged:
        raise click.UsageError("give at least one PATH (or -f PATH); '-' reads standard input")
    return merged
