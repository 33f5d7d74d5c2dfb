"""The native locate (mooring_native.locate) finds what libyaml's events find.

`yamlfast._locate_events` is the reference: on every text the native line reader reads,
the native locate must return the same marks (same keys, same order) for every path that
exists in the text and for paths that do not; on every text the reader gives up on, it
gives up too (and `yamlfast.locate` answers by libyaml's events). Texts come from the
grammar and the dumper of test_yaml_lines, soups of test_yaml_native, and named cases.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api import yamlfast
from tests.unit.test_yaml_lines import DOCUMENTS, INDENTS, dumped, manifest_text
from tests.unit.test_yaml_native import SOUP

try:
    import mooring_native
except ImportError:
    pytest.fail(
        "mooring_native is not installed: run scripts/bootstrap (it builds native/ with "
        "cargo and installs it into .venv)",
        pytrace=False,
    )

Wanted = dict[int, list[tuple[Any, ...]]]


def native(text: str, wanted: Wanted) -> list[Any] | None:
    """The native locate's marks in their order; None when it gives up."""
    try:
        marks = mooring_native.locate(
            text, wanted, yamlfast._resolved_or_given_up, yamlfast.Unsupported
        )
    except yamlfast.Unsupported:
        return None
    return list(marks.items())


def events(text: str, wanted: Wanted) -> list[Any] | str:
    """libyaml's marks in their order, or the error's kind (a text libyaml refuses; a
    complex key `? [a]`, whose events _walk does not consume)."""
    try:
        return list(yamlfast._locate_events(text, wanted).items())
    except Exception as error:
        return f"raises {type(error).__name__}"


def located(text: str, wanted: Wanted) -> list[Any] | str:
    """What `yamlfast.locate` (native or libyaml) says, or the error's kind."""
    try:
        return list(yamlfast.locate(text, wanted).items())
    except Exception as error:
        return f"raises {type(error).__name__}"


def reads(text: str) -> bool:
    """The native line reader reads the text (a date such as 2001-02-30 it reads, then
    its constructor fails: not read)."""
    try:
        yamlfast._native_lines(text)
    except (yamlfast.Unsupported, ValueError):
        return False
    return True


def name(key: yaml.Node) -> Any:
    """A key in a path: its text as written; "?" for a collection (yamlfast._walk)."""
    return key.value if isinstance(key, yaml.ScalarNode) else "?"


def written_paths(text: str) -> Wanted:
    """Every path of every node of every document, keys as written (libyaml's nodes)."""
    wanted: Wanted = {}
    for index, root in enumerate(yaml.compose_all(text, Loader=yaml.CSafeLoader)):
        paths = wanted.setdefault(index, [])
        stack: list[tuple[tuple[Any, ...], Any]] = [((), root)]
        while stack:
            path, node = stack.pop()
            paths.append(path)
            if isinstance(node, yaml.MappingNode):
                stack += [((*path, name(key)), value) for key, value in node.value]
            elif isinstance(node, yaml.SequenceNode):
                stack += [((*path, at), item) for at, item in enumerate(node.value)]
    return wanted


def object_paths(objects: list[Any]) -> Wanted:
    """Every path of the loaded objects, keys as loaded (True for `yes`, 80 for `80`)."""
    wanted: Wanted = {}
    for index, root in enumerate(objects):
        paths = wanted.setdefault(index, [])
        stack: list[tuple[tuple[Any, ...], Any]] = [((), root)]
        while stack:
            path, obj = stack.pop()
            paths.append(path)
            if isinstance(obj, dict):
                stack += [((*path, key), value) for key, value in obj.items()]
            elif isinstance(obj, list):
                stack += [((*path, at), item) for at, item in enumerate(obj)]
    return wanted


def with_missing(wanted: Wanted, rng: random.Random) -> Wanted:
    """The paths and some that are in no document: below scalars, past the last item, keys
    no mapping has, documents past the last, a negative and a huge index."""
    out = {index: list(paths) for index, paths in wanted.items()}
    for paths in list(out.values()):
        for path in rng.sample(paths, min(3, len(paths))):
            paths += [(*path, "missing"), (*path, 7), (*path, "name", 0)]
        paths += [("nope",), (-1,), (2**70, "x")]
    out[len(out) + 1] = [("name",), ()]
    out[-1] = [()]
    return out


def check(text: str, rng: random.Random) -> bool | None:
    """Native and libyaml agree on the text; whether native answered (None: not read)."""
    if not reads(text):
        # The same walk: it gives up where the reader does, and libyaml answers.
        try:
            wanted = with_missing(written_paths(text), rng)
        except yaml.YAMLError:
            wanted = {0: [("a",)], 1: [()]}
        assert native(text, wanted) is None, text
        assert located(text, wanted) == events(text, wanted), text
        return None
    written = with_missing(written_paths(text), rng)
    mine = native(text, written)
    assert mine is not None, text
    assert mine == events(text, written), text
    # Paths of the loaded objects: True, None and int keys are found by neither (keys are
    # compared as written); the native locate leaves paths with such items to libyaml.
    loaded = with_missing(object_paths(yamlfast.safe_load_all(text)), rng)
    assert located(text, loaded) == events(text, loaded), text
    return True


def test_the_native_locate_is_on_the_path() -> None:
    assert yamlfast._native_locate is mooring_native.locate
    assert yamlfast.locate("a:\n  b: 1\n", {0: [("a", "b")]}) == {
        (0, ()): (1, 1),
        (0, ("a",)): (1, 1),
        (0, ("a", "b")): (2, 6),
    }


@pytest.mark.parametrize("seed", [13, 31])
def test_generated_manifests_are_located_as_libyaml_locates_them(seed: int) -> None:
    rng = random.Random(seed)
    answered = given_up = 0
    for _ in range(3_000):
        result = check(manifest_text(rng), rng)
        answered += result is True
        given_up += result is None
    # Not vacuous: the native locate answers every text the reader reads (a third or more).
    assert answered > 750 and given_up > 750, (answered, given_up)


@given(DOCUMENTS, INDENTS, st.booleans())
@settings(max_examples=300, deadline=None)
def test_what_pyyaml_dumps_is_located_as_libyaml_locates_it(
    documents: list[Any], indent: int, explicit_start: bool
) -> None:
    check(dumped(documents, indent, explicit_start), random.Random(0))


def test_soups_of_yaml_characters_are_located_as_libyaml_locates_them() -> None:
    rng = random.Random(7)
    answered = 0
    for _ in range(5_000):
        lines = []
        for _ in range(rng.randint(1, 6)):
            line = " " * rng.choice((0, 0, 1, 2, 2, 4)) + rng.choice(("", "", "- ", "-  ", "-"))
            line += rng.choice(("", "a: ", "on: ", "No:", "x.y/z:  ", "_: "))
            lines.append(line + "".join(rng.choices(SOUP[:-7], k=rng.randint(0, 4))))
        answered += check("\n".join(lines) + rng.choice(("", "\n")), rng) is True
    assert answered > 500, answered


CASES = [
    pytest.param("a: x\nbb:   y z # c\n", id="plain scalars: their first character"),
    pytest.param("a: 'x'\nb: \"y\"\nc: ''\n- x\n", id="given up: an item among keys"),
    pytest.param("a: 'x'\nb: \"y\"\nc: '' # c\n", id="quoted scalars: the quote"),
    pytest.param("a:\nb: # c\nc:   \nd:", id="empty values: just after the colon"),
    pytest.param("x:\n  a:\n\n  # c\nb:\n---\nc:\n", id="empty values before dedents and ---"),
    pytest.param("- a:\n  b:\n- c:\n", id="empty values in items"),
    pytest.param("- name: x\n  image: y\n-   name: z\n", id="a mapping as an item: its first key"),
    pytest.param("key:\n- a\n- b: 1\n  c:\n  - d\nnext: 1\n", id="indentless sequences"),
    pytest.param(
        "- a:\n  - x\n  -  y: 1\n     z:\n       - w\n- - x\n", id="given up: a nested item"
    ),
    pytest.param("- a:\n  - x\n  -  y: 1\n     z:\n       - w\n", id="compact nested items"),
    pytest.param("a: []\nb: {} # c\nc:\n- []\n- {}\n-  d: []\n", id="[] and {}: at the key"),
    pytest.param("# c\n\n  # c\na: # c\n\n  b: 1 # c\n\n# c\n", id="comments and blank lines"),
    pytest.param("---\n---\na: 1\n--- # c\n---   \n", id="markers and empty documents"),
    pytest.param("", id="no text"),
    pytest.param("---", id="one empty document"),
    pytest.param("# c\n---\n- a\n- b\n", id="a sequence as the root"),
    pytest.param("\n\n  a: 1\n  b:\n    c: 2\n", id="a root at line 3, column 3"),
    pytest.param(
        "a: é\nb: 日本\nc:\n  - '\U0001f600'\n  - x\u00a0y\nd: ü\ne:\n", id="non-ASCII text"
    ),
    pytest.param("yes: 1\nnull: 2\nOn:\n  y: 3\n_x: 4\n", id="keys that resolve to others"),
    pytest.param("80: x\n", id="given up: a key that is a number"),
    pytest.param("a: 1\na: 2\n", id="given up: a repeated key"),
    pytest.param("a: [1]\n", id="given up: a flow sequence"),
    pytest.param("a: &x 1\nb: *x\n", id="given up: an anchor"),
    pytest.param("a: =\n", id="given up: the value tag"),
    pytest.param("a: 2001-02-30\n", id="given up: a date the constructor refuses"),
    pytest.param("a: 1\n  b: 2\n", id="given up: libyaml refuses it"),
]


@pytest.mark.parametrize("text", CASES)
def test_cases_are_located_as_libyaml_locates_them(text: str) -> None:
    check(text, random.Random(0))


def test_marks_of_the_named_cases() -> None:
    """What the cases above check against libyaml, written out for a person."""
    text = "a:\nb: 'x'\nc: []\nd:\n- e: 1\n  f:\n- g\nh:\n  i: é\n"
    paths = [("a",), ("b",), ("c",), ("d", 0, "e"), ("d", 0, "f"), ("d", 1), ("h", "i")]
    assert yamlfast.locate(text, {0: paths}) == {
        (0, ()): (1, 1),
        (0, ("a",)): (1, 3),  # an empty value: just after its colon
        (0, ("b",)): (2, 4),  # a quoted scalar: its quote
        (0, ("c",)): (3, 1),  # [] is a collection: at its key
        (0, ("d",)): (4, 1),  # a block value: at its key
        (0, ("d", 0)): (5, 3),  # a mapping as an item: its first key
        (0, ("d", 0, "e")): (5, 6),
        (0, ("d", 0, "f")): (6, 5),
        (0, ("d", 1)): (7, 3),
        (0, ("h",)): (8, 1),
        (0, ("h", "i")): (9, 6),
    }
    assert native(text, {0: paths}) is not None


def test_keys_are_compared_as_written() -> None:
    text = "yes: 1\nnull:\n  on: 2\n"
    marks = {(0, ()): (1, 1), (0, ("yes",)): (1, 6), (0, ("null",)): (2, 1)}
    assert yamlfast.locate(text, {0: [("yes",), ("null",), (True,), (None,)]}) == marks
    assert native(text, {0: [("yes",), ("null",), ("true",)]}) == list(marks.items())
    # The line reader leaves `80:` to libyaml, whose key is the text "80" (not 80).
    assert yamlfast.locate("80: x\n", {0: [("80",), (80,)]}) == {
        (0, ()): (1, 1),
        (0, ("80",)): (1, 5),
    }


@pytest.mark.parametrize(
    "wanted",
    [
        pytest.param({True: [("list", 1)]}, id="a bool document index"),
        pytest.param({1: [("list", True)]}, id="a bool item (1 to a tuple)"),
        pytest.param({1: [("list", 1.0)]}, id="a float item"),
        pytest.param({1: {("list", 0): "a mapping of paths"}}, id="a mapping of paths"),
        pytest.param({1: []}, id="no paths"),
        pytest.param({}, id="nothing wanted"),
        pytest.param({1: [("list", -1)], 0: [(2**64,)]}, id="negative and huge indexes"),
    ],
)
def test_odd_wanted_paths_are_located_as_libyaml_locates_them(wanted: Any) -> None:
    text = "a: 1\n---\nlist:\n- x\n- y\n"
    assert yamlfast.locate(text, wanted) == yamlfast._locate_events(text, wanted)


def test_paths_that_are_not_tuples_fail_as_they_do_by_libyaml() -> None:
    with pytest.raises(TypeError):
        yamlfast.locate("a: 1\n", {0: [["a"]]})  # type: ignore[list-item]
