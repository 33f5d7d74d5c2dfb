"""The line reader (yamlfast._lines) reads what it reads exactly as libyaml does.

It is the first of the reader's paths for every text Mooring reads, so each text it
accepts must give the same objects (types included) and the same document positions as
libyaml's path, and it must never accept a text libyaml refuses. It may give up on any
text (libyaml then reads it): the tests check that it does read most manifests, so that
agreement is not vacuous.

Texts come from a grammar of manifest-like YAML written out with varied indentation,
compact items, indentless sequences, comments, document markers and tricky scalars, then
mutated (a character inserted, deleted or replaced, a line shifted); and from PyYAML's own
dumper (hypothesis).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api import yamlfast

KEYS = [
    "name",
    "image",
    "app.kubernetes.io/name",
    "_private",
    "x-y",
    "a/b.c",
    "k8s",
    "on",
    "yes",
    "Yes",
    "true",
    "FALSE",
    "null",
    "Null",
    "y",
    "n",
    "e1",
    "inf",
    "NaN",
    "key" + "k" * 260,
]
SCALARS = [
    "x",
    "app:2.2",
    "ghcr.io/acme/proxy:2.8.3@sha256:abc",
    "1",
    "-1",
    "+1",
    "0",
    "-0",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "1__0",
    "1,000",
    "1:20",
    "190:20:30",
    "1.5",
    ".5",
    "0.",
    "1e3",
    "1.0e+3",
    "6.8523015e+5",
    ".inf",
    "-.Inf",
    ".nan",
    "~",
    "null",
    "NULL",
    "true",
    "False",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "=",
    "<<",
    "'q'",
    "'it''s'",
    "''",
    "' padded '",
    '""',
    '"d"',
    '"a\\tb"',
    '"a\\"b"',
    '"a#b"',
    "'a #b'",
    "'a: b'",
    "a #c",
    "a#c",
    "a: b",
    "a:",
    "a:b",
    "http://x/y#z",
    "[]",
    "{}",
    "[1]",
    "{a: 1}",
    "[] # c",
    "[]x",
    "{}  ",
    "- x",
    "-x",
    "--flag=1",
    "-",
    "|",
    "|-",
    ">",
    "&a x",
    "*a",
    "!!str 5",
    "!x y",
    "? x",
    "?x",
    ":x",
    "%x",
    "@x",
    "`x",
    ",x",
    "]",
    "}",
    "x,y",
    "x[1]{2}",
    "a  b",
    "a   ",
    "é ü 日本",
    "a\u00a0#b",
    "'a'\u00a0",
    "\u00a0",
    "x\t",
    "'a'b",
    "'a' b",
    "'a' #c",
    "'unterminated",
    '"unterminated',
    "#",
    "# comment",
    "a\u2028b",
    "a\x85b",
    "\ufeffx",
    "a\rb",
    "a\x07b",
]
LINES = [
    "",
    "   ",
    "# a comment",
    "  # indented comment",
    "---",
    "--- # c",
    "...",
    "%YAML 1.1",
    "--- x",
]
# What manifests mostly hold, all of it read by the line reader.
COMMON = [
    *SCALARS[: SCALARS.index("=")],
    *("'q'", "'it''s'", "''", "' padded '", '""', '"d"', '"a#b"', "'a #b'", "'a: b'"),
    *("a #c", "a#c", "http://x/y#z", "[]", "{}", "-x", "--flag=1", "x,y", "x[1]{2}"),
    *("a  b", "a   ", "é ü 日本"),
]
MUTATIONS = list(" -:#'\"\n\t[]{}&*!|>?%@x1\u00a0")


def libyaml(text: str) -> str:
    """What the reader's libyaml paths make of the text: documents, or the error's kind."""
    try:
        try:
            documents = yamlfast._events(text)
        except yamlfast.Unsupported:
            documents = yamlfast._full(text)
    except (yaml.YAMLError, yamlfast.Refused, yamlfast._Repeated) as error:
        return f"refused: {type(error).__name__}"
    return repr([(d.obj, d.line, d.column) for d in documents])


def lines(text: str) -> str | None:
    """What the line reader makes of it; None when it gives up."""
    try:
        return repr([(d.obj, d.line, d.column) for d in yamlfast._lines(text)])
    except yamlfast.Unsupported:
        return None


def _node(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth >= 4 or roll < 0.45:
        # Mostly what manifests hold (every other scalar now and then).
        return rng.choice(SCALARS) if rng.random() < 0.05 else rng.choice(COMMON)
    size = rng.randint(1, 4)
    if roll < 0.75:
        return {
            rng.choice(KEYS[:-1]) if rng.random() < 0.995 else KEYS[-1]: _node(rng, depth + 1)
            for _ in range(size)
        }
    return [_node(rng, depth + 1) for _ in range(size)]


def _write(rng: random.Random, node: Any, indent: int, step: int, out: list[str]) -> None:
    """Block YAML lines for a mapping or sequence (scalars are written by their parent)."""
    pad = " " * indent
    if isinstance(node, dict):
        for key, value in node.items():
            _entry(rng, f"{pad}{key}:", value, indent, step, out, indentless=True)
    else:
        for item in node:
            if isinstance(item, list) and rng.random() < 0.9:
                item = {"items": item}  # a sequence in a sequence: rare in manifests
            dash = "-" + " " * rng.choice((1, 1, 1, 2, 3))
            if isinstance(item, dict) and item and rng.random() < 0.9:
                # compact: the mapping's first key on the dash's line
                inner = indent + len(dash)
                first, *rest = item.items()
                _entry(rng, f"{pad}{dash}{first[0]}:", first[1], inner, step, out, True)
                for key, value in rest:
                    _entry(rng, f"{' ' * inner}{key}:", value, inner, step, out, True)
            else:
                _entry(
                    rng,
                    f"{pad}{dash}"[:-1] if not isinstance(item, str) else f"{pad}{dash}",
                    item,
                    indent,
                    step,
                    out,
                    indentless=False,
                )


def _entry(
    rng: random.Random,
    head: str,
    value: Any,
    indent: int,
    step: int,
    out: list[str],
    indentless: bool,
) -> None:
    if isinstance(value, str):
        spacing = " " if head.endswith(":") else ""
        out.append(f"{head}{spacing}{value}")
        return
    if not value:
        out.append(f"{head} {'{}' if isinstance(value, dict) else '[]'}")
        return
    out.append(head + (" # note" if rng.random() < 0.05 else ""))
    if isinstance(value, list) and indentless and rng.random() < 0.4:
        _write(rng, value, indent, step, out)  # a sequence at its key's indentation
    else:
        _write(rng, value, indent + step, step, out)


def manifest_text(rng: random.Random) -> str:
    out: list[str] = []
    for _ in range(rng.randint(1, 3)):
        if out or rng.random() < 0.5:
            out.append(rng.choice(["---", "---", "--- # c", "---   "]))
        if rng.random() < 0.1:
            continue  # an empty document
        root = _node(rng, 0)
        if isinstance(root, str):
            root = {"apiVersion": root}
        _write(rng, root, rng.choice((0, 0, 0, 2)), rng.choice((1, 2, 2, 2, 3, 4)), out)
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        out.insert(rng.randint(0, len(out)), rng.choice(LINES))
    text = "\n".join(out) + rng.choice(("\n", "\n", "", "\n\n"))
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        at = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.4:
            text = text[:at] + rng.choice(MUTATIONS) + text[at:]
        elif roll < 0.7:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + rng.choice(MUTATIONS) + text[at + 1 :]
    return text


def test_the_line_reader_reads_generated_manifests_as_libyaml_does() -> None:
    rng = random.Random(13)
    read = given_up = refused = 0
    for _ in range(6_000):
        text = manifest_text(rng)
        mine = lines(text)
        if mine is None:
            given_up += 1
            continue
        theirs = libyaml(text)
        assert mine == theirs, text
        read += 1
        refused += theirs.startswith("refused")
    # Not vacuous: a third of these texts (each with something odd in it now and then) are
    # read by the line reader, the rest are left to libyaml.
    assert read > 1_500 and given_up > 1_500, (read, given_up)
    assert refused == 0


# Documents for PyYAML's dumper to write (block style), and how: indentation, `---`.
DOCUMENTS = st.lists(
    st.recursive(
        st.one_of(
            st.integers(-(10**12), 10**12),
            st.booleans(),
            st.none(),
            st.floats(allow_nan=False),
            st.text(max_size=20),
            st.dates(),
        ),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(min_size=1, max_size=10), children, max_size=4)
        ),
        max_leaves=30,
    ),
    min_size=1,
    max_size=3,
)
INDENTS = st.integers(2, 4)


def dumped(documents: list[Any], indent: int, explicit_start: bool) -> str:
    return yaml.safe_dump_all(
        documents, default_flow_style=False, indent=indent, explicit_start=explicit_start
    )


@given(DOCUMENTS, INDENTS, st.booleans())
@settings(max_examples=400, deadline=None)
def test_what_pyyaml_dumps_reads_back_the_same(
    documents: list[Any], indent: int, explicit_start: bool
) -> None:
    text = dumped(documents, indent, explicit_start)
    try:
        mine = yamlfast._lines(text)
    except yamlfast.Unsupported:
        return  # libyaml reads it (the fuzzing of test_policy_parts covers that path)
    assert repr([(d.obj, d.line, d.column) for d in mine]) == libyaml(text)
    assert repr([d.obj for d in mine]) == repr(list(yaml.safe_load_all(text)))  # PyYAML's own


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: 1\n  b: 2\n", id="a line indented below a scalar (a continuation)"),
        pytest.param("a: x\n  y\n", id="a plain scalar over two lines"),
        pytest.param("a: |\n  x\n", id="a block scalar"),
        pytest.param("a: [1, 2]\n", id="a flow sequence"),
        pytest.param("a: &x 1\nb: *x\n", id="an anchor"),
        pytest.param("a: !!str 1\n", id="a tag"),
        pytest.param("a: 'x\n  y'\n", id="a quoted scalar over two lines"),
        pytest.param('a: "x\\ty"\n', id="an escape"),
        pytest.param("a:\tb\n", id="a tab"),
        pytest.param("a: 1\r\nb: 2\r\n", id="carriage returns"),
        pytest.param("a: 1\na: 2\n", id="a repeated key"),
        pytest.param("a: b: c\n", id="a colon and blank in a plain scalar"),
        pytest.param("- - x\n", id="a sequence in a sequence on one line"),
        pytest.param("x\n", id="a scalar document"),
    ],
)
def test_the_line_reader_leaves_what_it_does_not_read_to_libyaml(text: str) -> None:
    assert lines(text) is None
    if not libyaml(text).startswith("refused"):
        pyyaml = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        assert repr(yamlfast.safe_load_all(text)) == repr(pyyaml)


def test_a_manifest_is_read_by_the_line_reader() -> None:
    text = (
        "# Source: chart/templates/deploy.yaml\n---\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: web\n  labels: {}\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: app  # the app\n        image: 'ghcr.io/acme/app:1.0'\n        args:\n"
        '        - --port=8080\n        env:\n        - name: ON\n          value: "yes"\n'
        "        ports:\n          - containerPort: 8080\n---\n"
    )
    assert lines(text) == libyaml(text)
    assert [d.obj for d in yamlfast._lines(text)] == list(yaml.safe_load_all(text))
