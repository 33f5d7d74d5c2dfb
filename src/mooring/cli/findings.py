"""Print findings as text (file:line), JSON or GitHub annotations; shared by commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from rich.console import Console

from mooring.cli.output import out
from mooring.core.validate import Finding, as_dict
from mooring.services.sources import SourceError

Format = Literal["text", "json", "github"]
FORMATS = ("text", "json", "github")


def _escape(text: str) -> str:
    # GitHub workflow commands: %, CR and LF are encoded in messages and properties.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def emit(
    findings: Sequence[Finding],
    errors: Sequence[SourceError],
    fmt: Format,
    console: Console = out,
) -> None:
    """Print findings: on stdout when they are the command's result (validate), on stderr
    when they are diagnostics about its input (render, diff, apply)."""
    if fmt == "json":
        rows = [
            {
                "file": e.position.source,
                "line": e.position.line,
                "column": e.position.column,
                "path": "",
                "code": "unreadable",
                "severity": "error",
                "message": e.message,
            }
            for e in errors
        ] + [as_dict(f) for f in findings]
        console.print_json(json.dumps({"findings": rows}))
        return
    for error in errors:
        if fmt == "github":
            console.print(
                f"::error file={error.position.source},line={error.position.line},"
                f"title=unreadable::{_escape(error.message)}",
                markup=False,
            )
        else:
            console.print(f"{error.position}: error [unreadable] {error.message}", markup=False)
    for finding in findings:
        position = finding.document.position(finding.path) if finding.document else None
        field = f"{finding.field_path}: " if finding.field_path else ""
        if fmt == "github":
            level = "error" if finding.severity == "error" else "warning"
            where = f" file={position.source},line={position.line}," if position else " "
            console.print(
                f"::{level}{where}title={finding.code}::{_escape(field + finding.message)}",
                markup=False,
            )
        else:
            where = str(position) if position else "(repository)"
            console.print(
                f"{where}: {finding.severity} [{finding.code}] {field}{finding.message}",
                markup=False,
            )
