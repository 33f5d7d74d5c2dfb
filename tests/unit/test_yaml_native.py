"""The native line reader (mooring_native, built from native/) reads as yamlfast._lines.

`_lines` is the reference: on every text the native reader returns, it must return the
same documents (objects, types, key order, positions); where `_lines` gives up
(Unsupported), so must it. It is a port line for line, so it gives up on no more texts
than `_lines` does either, and these tests hold it to that. Texts come from the grammar
and the dumper of test_yaml_lines (libyaml's reading checks those too), from random soups
of YAML's characters, and from named cases.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api import yamlfast
from tests.unit.test_yaml_lines import DOCUMENTS, INDENTS, dumped, libyaml, manifest_text

try:
    import mooring_native
except ImportError:
    pytest.fail(
        "mooring_native is not installed: run scripts/bootstrap (it builds native/ with "
        "cargo and installs it into .venv)",
        pytrace=False,
    )


def read(reader: Callable[[str], list[yamlfast.Loaded]], text: str) -> str | None:
    """The documents a reader makes of the text, written out with their types (repr);
    None when it gives up."""
    try:
        return repr([(d.obj, d.line, d.column) for d in reader(text)])
    except yamlfast.Unsupported:
        return None


def both(text: str) -> tuple[str | None, str | None]:
    return read(yamlfast._native_lines, text), read(yamlfast._lines, text)


def test_the_native_reader_is_on_the_hot_path() -> None:
    assert yamlfast._read_lines is yamlfast._native_lines
    assert yamlfast.load_documents("a: 1\n") == [yamlfast.Loaded({"a": 1}, 1, 1)]


def test_without_the_native_module_python_reads_and_libyaml_locates() -> None:
    code = (
        "import sys; sys.modules['mooring_native'] = None\n"
        "from mooring.api import yamlfast\n"
        "assert yamlfast._read_lines is yamlfast._lines\n"
        "assert yamlfast._native_locate is None\n"
        "print(yamlfast.load_documents('a: [1]\\nb: x\\n'))\n"
        "print(yamlfast.locate('a:\\n- x\\n', {0: [('a', 0)]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert done.stdout == (
        "[Loaded(obj={'a': [1], 'b': 'x'}, line=1, column=1)]\n"
        "{(0, ()): (1, 1), (0, ('a',)): (1, 1), (0, ('a', 0)): (2, 3)}\n"
    )


@pytest.mark.parametrize("seed", [13, 31])
def test_generated_manifests_are_read_as_the_python_reader_reads_them(seed: int) -> None:
    rng = random.Random(seed)
    read_ = given_up = 0
    for _ in range(6_000):
        text = manifest_text(rng)
        native, python = both(text)
        assert native == python, text
        if native is None:
            given_up += 1
            continue
        assert native == libyaml(text), text  # never a text libyaml refuses, nor reads apart
        read_ += 1
    # Not vacuous: a third or more of these texts are read, the rest are given up.
    assert read_ > 1_500 and given_up > 1_500, (read_, given_up)


@given(DOCUMENTS, INDENTS, st.booleans())
@settings(max_examples=400, deadline=None)
def test_what_pyyaml_dumps_is_read_as_the_python_reader_reads_it(
    documents: list[Any], indent: int, explicit_start: bool
) -> None:
    text = dumped(documents, indent, explicit_start)
    native, python = both(text)
    assert native == python
    if native is not None:
        assert native == libyaml(text)


# Pieces of lines: what the line reader looks at (indentation, dashes, keys, colons,
# quotes, comments, markers, brackets) and characters either side of its limits.
SOUP = [
    " ",
    "  ",
    "-",
    "- ",
    ":",
    ": ",
    "a",
    "key",
    "on",
    "No",
    "null",
    "x.y/z",
    "_",
    "1",
    "07",
    "2001-12-14",
    "1.5",
    "-1",
    "~",
    "=",
    "<<",
    "'",
    "''",
    '"',
    "\\",
    "#",
    " #",
    "[]",
    "{}",
    "[",
    "---",
    "...",
    "é",
    "日本",
    "\U0001f600",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "\t",
    "\r",
    "\x7f",
]


def test_soups_of_yaml_characters_are_read_as_the_python_reader_reads_them() -> None:
    rng = random.Random(7)
    read_ = 0
    for _ in range(20_000):
        lines = []
        for _ in range(rng.randint(1, 6)):
            # Mostly shaped as lines are (indentation, a dash, a key), then any pieces.
            shaped = rng.random() < 0.8
            line = " " * rng.choice((0, 0, 1, 2, 2, 4)) if shaped else ""
            line += rng.choice(("", "", "- ", "-  ", "-")) if shaped else ""
            line += rng.choice(("", "a: ", "on: ", "No:", "x.y/z:  ", "_: ")) if shaped else ""
            pieces = rng.choices(SOUP[:-7] if rng.random() < 0.9 else SOUP, k=rng.randint(0, 4))
            lines.append(line + "".join(pieces))
        text = "\n".join(lines) + rng.choice(("", "\n"))
        native, python = both(text)
        assert native == python, text
        read_ += native is not None
    assert read_ > 1_500, read_  # a tenth: the grammar above makes the likelier texts


def nested(depth: int) -> str:
    return "".join(f"{' ' * level}k:\n" for level in range(depth)) + f"{' ' * depth}k: v\n"


CASES = [
    pytest.param("on: yes\nNo: off\nnull: NULL\n", True, id="bool and null keys"),
    pytest.param("y: n\nYes: Y\nnull_: NO\nTrue1: ON\n", True, id="bool and null words"),
    pytest.param(
        "a: 1\nb: -1\nc: 017\nd: 0x1F\ne: 1_000\nf: 1.5\ng: .5\nh: 1e3\ni: .inf\nj: -.Inf\n"
        "k: .nan\nl: 190:20:30\nm: 123456789012345678901234567890\nn: 0\no: +1\np: 0o17\n"
        "q: 999999999999999999\nr: 1000000000000000000\ns: 256Mi\nt: 200m\nu: 1.0.3\n",
        True,
        id="numbers",
    ),
    pytest.param(
        "d: 2001-12-14\nt: 2001-12-14t21:59:43.10-05:00\ns: 2001-12-14 21:59:43.10 -5\n",
        True,
        id="timestamps",
    ),
    pytest.param("a: ~\nb:\nc: # none\nd: -\n", False, id="a lone dash is given up"),
    pytest.param("a: ~\nb:\nc: # none\n", True, id="tilde and empty values"),
    pytest.param("a: =\n", False, id="the value tag"),
    pytest.param("<<: x\n", False, id="a merge key"),
    pytest.param("a: <<\n", False, id="a merge value"),
    pytest.param("a: <x\nb: =x\n", True, id="texts like the merge and value tags"),
    pytest.param(
        "a: 'it''s'\nb: ''\nc: \"x\"\nd: '' # c\ne: 'a #b'\nf: \"a: b\"\ng: '1'\n",
        True,
        id="quoted scalars",
    ),
    pytest.param("a: 'x'y\n", False, id="text after a quoted scalar"),
    pytest.param("a: []\nb: {} # c\nc:\n- []\n- {}\n", True, id="empty flow collections"),
    pytest.param("# c\na: 1 # c\n  # c\nb: x#y\nc: http://x/y#z\n# last", True, id="comments"),
    pytest.param("---\n---\na: 1\n--- # c\n---   \n", True, id="markers and empty documents"),
    pytest.param("", True, id="no text"),
    pytest.param("---", True, id="an empty document"),
    pytest.param("# only\n", True, id="only a comment"),
    pytest.param("\n\n  a: 1\n", True, id="a root that starts on line 3, column 3"),
    pytest.param("a: 1\n...\n", False, id="a document end marker"),
    pytest.param(
        "name: é ü 日本\nb: 'café'\nc: \"ü\"\nd: \U0001f600\ne: a\u00a0#b\n",
        True,
        id="non-ASCII text",
    ),
    pytest.param("a: 1\na: 2\n", False, id="a repeated key"),
    pytest.param("yes: 1\non: 2\n", False, id="the same key (True) written twice"),
    pytest.param("null: 1\nNull: 2\n", False, id="the same key (None) written twice"),
    pytest.param("a:\n  b: 1\n  c: 2\na2:\n  b: 1\n", True, id="one key in two mappings"),
    pytest.param(
        "- a: 1\n  b:\n  - x\n  - y: 2\n    z: [] # c\n-  c: d\n-   e\n", True, id="sequences"
    ),
    pytest.param("a:\n- 1\n- 2\nb: 3\n", True, id="an indentless sequence"),
    pytest.param(nested(98), True, id="nesting of 99 levels"),
    pytest.param(nested(101), False, id="nesting beyond 100 levels"),
    pytest.param("a: 1\r\nb: 2\r\n", False, id="carriage returns"),
    pytest.param("a:\tb\n", False, id="a tab"),
    pytest.param("\ufeffa: 1\n", False, id="a byte-order mark"),
    pytest.param("a: x\x85y\n", False, id="a NEL line break"),
    pytest.param("a: \ud800\n", False, id="a lone surrogate"),
    pytest.param("a: x\x00\n", False, id="a NUL"),
    pytest.param("a: b: c\n", False, id="a colon and blank in a plain scalar"),
    pytest.param("key" + "k" * 248 + ": 1\n", True, id="a key of 251 characters"),
    pytest.param("key" + "k" * 249 + ": 1\n", False, id="a key of 252 characters"),
]


@pytest.mark.parametrize(("text", "reads"), CASES)
def test_cases_are_read_as_the_python_reader_reads_them(text: str, reads: bool) -> None:
    native, python = both(text)
    assert native == python
    assert (native is not None) == reads
    if reads:
        assert native == libyaml(text)
        assert repr([d.obj for d in yamlfast._native_lines(text)]) == repr(
            list(yaml.safe_load_all(text))
        )


def test_resolved_scalars_are_the_python_reader_s_objects() -> None:
    """Types and values, not only their repr: True is not 1, 1.0 is not 1."""
    text = "a: 1\nb: 1.0\nc: yes\nd: 2001-12-14\ne: '1'\nf: ~\ng: 0\nh: -0\n"
    (native,) = yamlfast._native_lines(text)
    (python,) = yamlfast._lines(text)
    assert [(k, type(v), v) for k, v in native.obj.items()] == [
        (k, type(v), v) for k, v in python.obj.items()
    ]


def test_the_resolver_s_errors_pass_through() -> None:
    def refuse(text: str) -> Any:
        raise ValueError(text)

    with pytest.raises(ValueError, match=r"1\.5"):
        mooring_native.read("a: 1.5\n", refuse, yamlfast.Unsupported)
    # Words and plain decimals are resolved natively, without the callable.
    assert mooring_native.read("a: 15\nb: on\nc: x\n", refuse, yamlfast.Unsupported) == [
        ({"a": 15, "b": True, "c": "x"}, 1, 1)
    ]
