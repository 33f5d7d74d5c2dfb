"""The default rules' combined CEL programs, compiled ahead of time and shipped with Mooring;
and the user's cache of the programs compiled for other selections of rules.

Side effects: reads files of the package's `cel_programs/` folder; `refresh()` (run as
`python -m mooring.services.cel_store` after a rule changes) rewrites them. Reads and
writes the cache folder (`${MOORING_CACHE:-${XDG_CACHE_HOME:-~/.cache}/mooring}/cel/`).

`mooring check` on one small file, as a CI step runs it per pull request, is mostly
start-up, and compiling the pod rules' combined program was about 40 ms of it (parse and
type check of 27 KB of CEL). The checked expression (CEL's CheckedExpr protobuf) loads in
about 5 ms. Each file holds one program, zlib-compressed, named by `Program.key` (the
SHA-256 of the text it was compiled from): a program whose rules changed finds no file and
is compiled, so a stale folder costs time, never a verdict. A unit test says when the
folder is stale, and checks that every shipped program judges the rules' own cases as the
compiled one does.

A selection of rules (`mooring check --rule ...`) or a PlatformConfig's modes make other
programs, compiled on first use (about 40 ms each, in each worker): `keep` writes them to
the cache, in a folder named after the CEL library and Mooring's CEL environment (cel.py)
as installed, so that a program is only read back by the code that wrote it. Writing is
best effort (a read-only home costs the compile, nothing else); files are replaced whole.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from functools import lru_cache
from pathlib import Path

from cel_expr_python import cel as library

from mooring.core.policy import cel as environment
from mooring.core.policy.cel import Program
from mooring.core.policy.engine import Engine

FOLDER = Path(__file__).with_name("cel_programs")
SUFFIX = ".celz"


def _read(path: Path) -> bytes | None:
    try:
        return zlib.decompress(path.read_bytes())
    except (OSError, zlib.error):
        return None


def stored(key: str) -> bytes | None:
    """The serialized program named `key`: shipped, else cached; None (neither, or
    unreadable)."""
    return _read(FOLDER / f"{key}{SUFFIX}") or _read(cache_folder() / f"{key}{SUFFIX}")


def keep(key: str, serialized: bytes) -> None:
    """Cache a program compiled for a selection no shipped program covers (told only of
    programs `stored` did not find)."""
    folder = cache_folder()
    import tempfile  # only when a program was compiled (with shutil, random: 5 ms)

    part: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as file:
            part = Path(file.name)
            file.write(zlib.compress(serialized, 6))
        part.replace(folder / f"{key}{SUFFIX}")
    except OSError:  # no cache here: the next run compiles again
        if part is not None:
            with contextlib.suppress(OSError):
                part.unlink()


@lru_cache(maxsize=1)
def cache_folder() -> Path:
    """The cache's folder for this CEL library and this environment (cel.py), named by
    their files' sizes and times: another installation writes and reads its own."""
    configured = os.environ.get("MOORING_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(configured) if configured else (Path(xdg) if xdg else Path.home() / ".cache")
    root = root if configured else root / "mooring"
    parts = []
    for module in (library, environment):
        try:
            status = Path(str(module.__file__)).stat()
            parts.append(f"{status.st_size:x}{status.st_mtime_ns:x}")
        except (OSError, TypeError):
            parts.append("0")
    return root / "cel" / "-".join(parts)


def shipped() -> list[Program]:
    """The programs the folder should hold: every combined program of the default rules."""
    return Engine().packs()


def refresh(folder: Path = FOLDER) -> tuple[list[str], list[str]]:
    """Write the missing programs and remove the ones no rule set compiles to any more;
    (written, removed) file names. Programs already there are kept: a compilation does
    not serialize byte for byte the same twice."""
    folder.mkdir(exist_ok=True)
    wanted = {program.key: program for program in shipped()}
    written, removed = [], []
    for key, program in sorted(wanted.items()):
        path = folder / f"{key}{SUFFIX}"
        if not path.exists():
            path.write_bytes(zlib.compress(program.serialize(), 9))
            written.append(path.name)
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if path.name.removesuffix(SUFFIX) not in wanted:
            path.unlink()
            removed.append(path.name)
    return written, removed


if __name__ == "__main__":
    done, gone = refresh()
    print(f"{FOLDER}: {len(done)} written, {len(gone)} removed, {len(shipped())} in all")
