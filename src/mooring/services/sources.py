"""Read YAML from files, folders and standard input into positioned documents.

Side effects: reads the filesystem (and stdin for "-"). Unreadable paths and malformed
YAML come back as `SourceError`s that name the file (and line), never as tracebacks.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mooring.api.documents import Document, DocumentError, Position, iter_documents

YAML_SUFFIXES = (".yaml", ".yml")
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


def read_sources(paths: Iterable[str], *, max_bytes: int = MAX_BYTES) -> Sources:
    result = Sources()
    for item in expand(paths):
        name = "<stdin>" if item == "-" else str(item)
        try:
            text = _read(item, max_bytes)
        except _TooBig as too_big:
            result.errors.append(
                SourceError(
                    Position(name, 1),
                    f"file is {too_big.size // (1024 * 1024)} MiB, over the "
                    f"{max_bytes // (1024 * 1024)} MiB limit; split it into smaller files",
                )
            )
            continue
        except FileNotFoundError:
            result.errors.append(SourceError(Position(name, 1), "no such file or folder"))
            continue
        except UnicodeDecodeError as error:
            result.errors.append(
                SourceError(Position(name, 1), f"not UTF-8 text (byte {error.start}); is it YAML?")
            )
            continue
        except OSError as error:
            result.errors.append(SourceError(Position(name, 1), f"cannot read: {error.strerror}"))
            continue
        result.files += 1
        try:
            result.documents.extend(iter_documents(text, name))
        except DocumentError as error:
            result.errors.append(SourceError(error.position, error.message))
    return result


def _read(item: str | Path, max_bytes: int) -> str:
    if isinstance(item, Path):
        size = item.stat().st_size
        if size > max_bytes:
            raise _TooBig(size)
        return item.read_text(encoding="utf-8")
    text = sys.stdin.read(max_bytes + 1)
    if len(text) > max_bytes:
        raise _TooBig(len(text))
    return text


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
