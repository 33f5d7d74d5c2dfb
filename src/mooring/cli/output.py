"""Shared terminal output for commands, as kubectl behaves.

- Results go to stdout, everything else (progress, warnings, errors) to stderr, so that a
  pipe gets only the result.
- Colour only on a terminal (rich's Console decides, for both streams; TERM=dumb too),
  and no escape codes at all with NO_COLOR set (https://no-color.org).
- `-o yaml|json|name` print Kubernetes objects the way kubectl does (a List for json,
  `kind.group/name` for name).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from mooring.api import yamldump


def _console(stderr: bool) -> Console:
    # NO_COLOR (set and not empty) means no escape codes at all, bold included.
    if os.environ.get("NO_COLOR"):
        return Console(stderr=stderr, highlight=False, soft_wrap=True, color_system=None)
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


out = _console(stderr=False)
err = _console(stderr=True)

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3

OBJECT_FORMATS = ("yaml", "json", "name")


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays machine-readable."""
    err.print(message, markup=False)


def error(message: str) -> None:
    """`error: ...` on stderr; the word in bold red on a terminal that wants colour."""
    err.print(Text("error:", style="bold red"), Text(message), soft_wrap=True)


def warning(message: str) -> None:
    err.print(Text("warning:", style="bold yellow"), Text(message), soft_wrap=True)


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
    if output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        out.print(json.dumps(listing, indent=2), markup=False, highlight=False)
    elif output == "name":
        for obj in objects:
            out.print(object_name(obj), markup=False, highlight=False)
    else:
        out.print(yamldump.dump_all(objects), end="", markup=False, highlight=False)
