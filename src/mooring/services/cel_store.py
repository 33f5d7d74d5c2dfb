"""The default rules' combined CEL programs, compiled ahead of time and shipped with Mooring.

Side effects: reads files of the package's `cel_programs/` folder; `refresh()` (run as
`python -m mooring.services.cel_store` after a rule changes) rewrites them.

`mooring check` on one small file, as a CI step runs it per pull request, is mostly
start-up, and compiling the pod rules' combined program was about 40 ms of it (parse and
type check of 27 KB of CEL). The checked expression (CEL's CheckedExpr protobuf) loads in
about 5 ms. Each file holds one program, zlib-compressed, named by `Program.key` (the
SHA-256 of the text it was compiled from): a program whose rules changed finds no file and
is compiled, so a stale folder costs time, never a verdict. A unit test says when the
folder is stale, and checks that every shipped program judges the rules' own cases as the
compiled one does.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from mooring.core.policy.cel import Program
from mooring.core.policy.engine import Engine

FOLDER = Path(__file__).with_name("cel_programs")
SUFFIX = ".celz"


def stored(key: str) -> bytes | None:
    """The serialized program named `key`, or None (none shipped, or unreadable)."""
    try:
        return zlib.decompress((FOLDER / f"{key}{SUFFIX}").read_bytes())
    except (OSError, zlib.error):
        return None


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
