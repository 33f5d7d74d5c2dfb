"""Read YAML from files, folders and standard input into positioned documents.

Side effects: reads the filesystem (and stdin for "-"). Unreadable paths and malformed
YAML come back as `SourceError`s that name the file (and line), never as tracebacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mooring.api.documents import Document, DocumentError, Position, iter_documents

YAML_SUFFIXES = (".yaml", ".yml")
# Manifests other tools read from a folder (Argo CD's directory sources: JSON, Jsonnet),
# which Mooring's commands do not: `other_manifests` lists them so the gate can say so.
OTHER_MANIFEST_SUFFIXES = (".json", ".jsonnet", ".libsonnet")
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SourceError:
    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


@dataclass
class Sources:
    documents: list[Document] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    files: int = 0


def expand(paths: Iterable[str]) -> Iterator[str | Path]:
    """Files as given; folders as every *.yaml / *.yml below them (not in hidden folders),
    sorted; "-" is standard input."""
    for raw in paths:
        if raw == "-":
            yield "-"
            continue
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.suffix in YAML_SUFFIXES
                and p.is_file()
                # Hidden folders (.github, .git) hold CI and tool files, not manifests.
                and not any(part.startswith(".") for part in p.relative_to(path).parts[:-1])
            )
        else:
            yield path


def other_manifests(paths: Iterable[str]) -> list[Path]:
    """Files below the folders among `paths` that hold manifests in another format than
    YAML (not in hidden folders), sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if raw == "-" or not path.is_dir():
            continue
        found += sorted(
            p
            for p in path.rglob("*")
            if p.suffix in OTHER_MANIFEST_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts[:-1])
        )
    return found


STDIN = "<stdin>"


@dataclass(frozen=True)
class Text:
    """One input's name (a path, or <stdin>) and its text."""

    name: str
    text: str


def read_texts(
    paths: Iterable[str], max_bytes: int = MAX_BYTES, stdin_name: str = STDIN
) -> tuple[list[Text], list[SourceError]]:
    """Every input as text, and an error naming each one that could not be read.

    Standard input is named `stdin_name` in positions (e.g. the chart it was rendered from).
    """
    texts: list[Text] = []
    errors: list[SourceError] = []
    for item in expand(paths):
        name = stdin_name if item == "-" else str(item)
        try:
            texts.append(Text(name, _read(item, max_bytes)))
        except _TooBig as too_big:
            limit = f"{max_bytes // (1024 * 1024)} MiB limit for one input"
            message = (
                f"{too_big.size // (1024 * 1024)} MiB is over the {limit}; split it into "
                "smaller files"
                if too_big.size is not None
                else f"reads on past the {limit} (a device, or a stream that does not end?); "
                "give a YAML file, or split it into smaller ones"
            )
            errors.append(SourceError(Position(name, 1), message))
        except FileNotFoundError:
            errors.append(SourceError(Position(name, 1), "no such file or folder"))
        except IsADirectoryError:
            errors.append(SourceError(Position(name, 1), "is a folder"))
        except UnicodeDecodeError as error:
            errors.append(
                SourceError(Position(name, 1), f"not UTF-8 text (byte {error.start}); is it YAML?")
            )
        except OSError as error:
            errors.append(SourceError(Position(name, 1), f"cannot read: {error.strerror}"))
    return texts, errors


def read_sources(paths: Iterable[str], *, max_bytes: int = MAX_BYTES) -> Sources:
    """Every input read and parsed into positioned documents."""
    texts, errors = read_texts(paths, max_bytes)
    result = Sources(errors=errors, files=len(texts))
    for source in texts:
        try:
            result.documents.extend(iter_documents(source.text, source.name))
        except DocumentError as error:
            result.errors.append(SourceError(error.position, error.message))
    return result


def _read(item: str | Path, max_bytes: int) -> str:
    """At most `max_bytes`, whatever the input: a file's size is not trusted (devices such
    as /dev/zero, pipes and /proc files say 0), so one byte more is read to tell."""
    if isinstance(item, Path):
        with item.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise _TooBig(size)
            # What the size says, and one byte more to tell whether it said all: a read of
            # max_bytes allocates that much first (64 MiB, about 30 us a file).
            data = handle.read(size + 1)
            if len(data) > size:
                data += handle.read(max_bytes + 1 - len(data))
    else:
        data = sys.stdin.buffer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _TooBig(None)
    return data.decode("utf-8")


class _TooBig(Exception):
    def __init__(self, size: int | None) -> None:
        self.size = size
