"""What a pull request adds per month: the paths as they are now and at a base revision.

Side effects: reads files, and runs `git` (ls-tree, cat-file) to read the same paths at the
base revision. Both sides go through the same validation as `mooring validate`; a side
whose Mooring documents are invalid is reported, not estimated.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mooring.api.database import Database
from mooring.api.documents import Document, DocumentError, iter_documents
from mooring.api.names import GROUP
from mooring.core.cost.estimate import Change, Estimate, compare, estimate
from mooring.core.validate import Finding, Parsed, error_count, validate_documents
from mooring.services.sources import SourceError, read_sources


class GitError(RuntimeError):
    """The base revision could not be read; says why."""


@dataclass
class Side:
    """One side of the comparison: what was read, found, and estimated."""

    name: str  # "head" or the base revision
    files: int = 0
    errors: list[SourceError] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    estimate: Estimate | None = None

    @property
    def failed(self) -> bool:
        return bool(self.errors) or error_count(self.findings) > 0


@dataclass
class Outcome:
    head: Side
    base: Side | None
    changes: list[Change]

    @property
    def currency(self) -> str:
        return self.head.estimate.currency if self.head.estimate else ""


def _side(
    name: str,
    documents: Sequence[Document],
    errors: list[SourceError],
    files: int,
    namespace: str | None,
) -> Side:
    side = Side(name, files, errors)
    parsed, side.findings = validate_documents(documents)
    if side.failed:
        return side
    side.estimate = _estimate(parsed, documents, namespace)
    if side.estimate is None:
        side.findings.append(
            Finding(
                "no-platform",
                "no PlatformConfig among the paths: prices come from it; add platform.yaml",
            )
        )
    return side


def _estimate(
    parsed: Parsed, documents: Sequence[Document], namespace: str | None
) -> Estimate | None:
    if parsed.platform is None:
        return None
    workloads = [
        d
        for d in documents
        if isinstance(d.obj, dict) and str(d.obj.get("apiVersion", "")).rpartition("/")[0] != GROUP
    ]
    databases = [
        (database, document)
        for database, document in parsed.others.get("Database", [])
        if isinstance(database, Database)
    ]
    return estimate(
        [(t, d) for t, d in parsed.tenants],
        parsed.platform[0].spec,
        workloads,
        namespace,
        databases,
    )


def estimate_paths(
    paths: Sequence[str], base: str | None = None, namespace: str | None = None
) -> Outcome:
    """Estimate the paths now and, with `base`, as they are at that Git revision."""
    sources = read_sources(paths)
    head = _side("head", sources.documents, sources.errors, sources.files, namespace)
    if base is None:
        changes = compare(None, head.estimate) if head.estimate else []
        return Outcome(head, None, changes)
    documents, errors, files = read_at(base, paths)
    before = _side(base, documents, errors, files, namespace)
    changes = compare(before.estimate, head.estimate) if head.estimate else []
    return Outcome(head, before, changes)


def _git(*args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], input=stdin, capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed; it reads the base revision") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {message[-1] if message else 'failed'}")
    return done.stdout


def read_at(revision: str, paths: Sequence[str]) -> tuple[list[Document], list[SourceError], int]:
    """The YAML files under `paths` as they are at `revision` (paths missing there: none).

    Names are the paths as given (relative to the current folder), so findings and
    annotations point at the same files on both sides.
    """
    _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    names: list[str] = []
    for path in paths:
        if path == "-":
            continue
        listed = _git("ls-tree", "-r", "--name-only", revision, "--", path).decode()
        names += [
            name
            for name in listed.splitlines()
            if name.endswith((".yaml", ".yml"))
            and not any(part.startswith(".") for part in Path(name).parts[:-1])
        ]
    # ls-tree prints names relative to the current folder; cat-file wants "./" for that.
    blobs = _git(
        "cat-file", "--batch", stdin="".join(f"{revision}:./{n}\n" for n in names).encode()
    )
    documents: list[Document] = []
    errors: list[SourceError] = []
    offset = 0
    for name in names:
        header_end = blobs.index(b"\n", offset)
        header = blobs[offset:header_end].split()
        size = int(header[2])
        body = blobs[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        source = f"{revision}:{name}"
        try:
            documents += iter_documents(body.decode("utf-8"), source)
        except UnicodeDecodeError:
            errors.append(SourceError(Document(source, 0, None).position(), "not UTF-8"))
        except DocumentError as error:
            errors.append(SourceError(error.position, error.message))
    return documents, errors, len(names)
