"""Shared terminal output for commands, as kubectl behaves.

- Results go to stdout, everything else (progress, warnings, errors) to stderr, so that a
  pipe gets only the result.
- Colour only on a terminal (rich's Console decides, for both streams; TERM=dumb too),
  and no escape codes at all with NO_COLOR set (https://no-color.org).
- `-o yaml|json|name` print Kubernetes objects the way kubectl does (a List for json,
  `kind.group/name` for name).

rich is imported only when something is to be styled: `out` and `err` are made on first
use, and `say`, `error` and `warning` write plain lines where rich would write no escape
codes (a pipe, a CI log), so that a quick command (`mooring check` in a CI step) starts
without it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3

OBJECT_FORMATS = ("yaml", "json", "name")

_consoles: dict[bool, Console] = {}


def console(stderr: bool = False) -> Console:
    """rich's Console for stdout (or stderr), made on first use."""
    if stderr not in _consoles:
        from rich.console import Console

        # NO_COLOR (set and not empty) means no escape codes at all, bold included.
        if os.environ.get("NO_COLOR"):
            made = Console(stderr=stderr, highlight=False, soft_wrap=True, color_system=None)
        else:
            made = Console(stderr=stderr, highlight=False, soft_wrap=True)
        _consoles[stderr] = made
    return _consoles[stderr]


def __getattr__(name: str) -> Console:
    """`out` and `err`: the consoles of stdout and stderr (module attributes made on first
    use, PEP 562)."""
    if name == "out":
        return console(stderr=False)
    if name == "err":
        return console(stderr=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def styled(stream: TextIO) -> bool:
    """Would rich write escape codes to `stream`? Decided as its Console decides: never with
    NO_COLOR; TTY_COMPATIBLE=0/1, else FORCE_COLOR (set: a terminal unless empty), else
    whether the stream is a terminal; never on a dumb one."""
    if os.environ.get("NO_COLOR"):
        return False
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    force = os.environ.get("FORCE_COLOR")
    if compatible in ("0", "1"):
        terminal = compatible == "1"
    elif force is not None:
        terminal = force != ""
    else:
        try:
            terminal = stream.isatty()
        except ValueError:  # a closed stream
            terminal = False
    return terminal and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


def write(message: str, *, stderr: bool = False) -> None:
    """One plain line on stdout (or stderr), exactly as given: no markup, no styling."""
    stream = sys.stderr if stderr else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays machine-readable."""
    if styled(sys.stderr):
        console(stderr=True).print(message, markup=False)
    else:
        write(message, stderr=True)


def _labelled(label: str, colour: str, message: str) -> None:
    if styled(sys.stderr):
        from rich.text import Text

        console(stderr=True).print(
            Text(f"{label}:", style=f"bold {colour}"), Text(message), soft_wrap=True
        )
    else:
        write(f"{label}: {message}", stderr=True)


def error(message: str) -> None:
    """`error: ...` on stderr; the word in bold red on a terminal that wants colour."""
    _labelled("error", "red", message)


def warning(message: str) -> None:
    _labelled("warning", "yellow", message)


def object_name(obj: dict[str, Any]) -> str:
    """kubectl's `-o name`: kind.group/name in lower case (core kinds without a group)."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", "")).lower()
    return (
        f"{kind}.{group}/{obj['metadata']['name']}"
        if group
        else f"{kind}/{obj['metadata']['name']}"
    )


def print_objects(objects: Sequence[dict[str, Any]], output: str) -> None:
    """Objects as YAML documents, a JSON List, or names."""
    out = console()
    if output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        out.print(json.dumps(listing, indent=2), markup=False, highlight=False)
    elif output == "name":
        for obj in objects:
            out.print(object_name(obj), markup=False, highlight=False)
    else:
        from mooring.api import yamldump

        out.print(yamldump.dump_all(objects), end="", markup=False, highlight=False)
