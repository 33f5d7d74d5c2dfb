"""The one YAML reader's bounds: repeated keys, nesting, alias bombs, endless inputs.

Each attack is played as a pull-request author would write it, beside a compliant twin
that must read cleanly, so no refusal is vacuous.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from mooring.api import yamlfast
from mooring.api.documents import DocumentError, parse_documents
from mooring.services.sources import read_texts

TENANT = textwrap.dedent(
    """\
    apiVersion: mooring.dev/v1alpha1
    kind: Tenant
    metadata:
      name: payments
    spec:
      owners:
        users: [alice@example.com]
      environments:
        - name: dev
    """
)


def laughs(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, levels):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(
        "  " + line for line in lines
    )


def nested(depth: int) -> str:
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nx: "
    return head + "[" * depth + "]" * depth


ATTACKS = [
    pytest.param(
        TENANT + "  owners:\n    users: [mallory@example.com]\n",
        TENANT,
        (10, "key 'owners' is repeated: first on line 6, again on line 10"),
        id="a second owners hidden below the first",
    ),
    pytest.param(
        TENANT.replace("  name: payments\n", "  name: payments\n  name: checkout\n"),
        TENANT,
        (5, "first on line 4, again on line 5"),
        id="a second metadata name",
    ),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {true: a, yes: b}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {'true': a, 'yes': b}\n",
        (4, "key 'yes' (the same key as 'true') is repeated"),
        id="two spellings of one boolean key",
    ),
    pytest.param(
        "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n  y: 3\n",
        "base: &b {x: 1}\nmerged:\n  <<: *b\n  x: 2\n",
        (5, "key 'y' is repeated: first on line 4"),
        id="a repeated key beside a merge key (PyYAML's path)",
    ),
    pytest.param(
        laughs(),
        laughs(5),
        (1, "aliases expand to more than 1000000 nodes"),
        id="a billion laughs",
    ),
    pytest.param(
        nested(10_000),
        nested(yamlfast.MAX_DEPTH - 1),
        (4, f"nested deeper than {yamlfast.MAX_DEPTH} levels"),
        id="10,000-deep flow nesting",
    ),
    pytest.param(
        "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "x\n",
        "".join("  " * i + "a:\n" for i in range(100)) + "  " * 100 + "x\n",
        (129, f"nested deeper than {yamlfast.MAX_DEPTH} levels"),
        id="300-deep block nesting",
    ),
    pytest.param(
        "a: &a "
        + "[" * 100
        + "]" * 100
        + "\nb: &b [*a, [[[*a]]]]\nc: "
        + "[" * 40
        + "*b"
        + "]" * 40
        + "\n",
        "a: &a " + "[" * 10 + "]" * 10 + "\nb: &b [*a, [[[*a]]]]\nc: [*b]\n",
        (1, f"aliases nest deeper than {yamlfast.MAX_DEPTH} levels"),
        id="aliases that nest deeper than the bound",
    ),
    pytest.param(
        "a: &a [1, *a]\n",
        "a: &a [1]\nb: *a\n",
        (1, "refers to the node that holds it"),
        id="an alias loop",
    ),
]


@pytest.mark.parametrize(("attack", "twin", "expected"), ATTACKS)
def test_the_reader_refuses_with_the_line_and_reads_the_twin(
    attack: str, twin: str, expected: tuple[int, str]
) -> None:
    line, message = expected
    with pytest.raises(DocumentError) as refused:
        parse_documents(attack, "tenants/payments.yaml")
    assert refused.value.position.line == line, refused.value
    assert message in refused.value.message
    assert parse_documents(twin, "tenants/payments.yaml")


@pytest.mark.parametrize(("attack", "twin", "expected"), ATTACKS)
def test_the_fast_path_of_check_refuses_the_same(
    attack: str, twin: str, expected: tuple[int, str]
) -> None:
    with pytest.raises(yamlfast.Refused) as refused:
        yamlfast.safe_load_all(attack)
    assert (refused.value.line, expected[1] in refused.value.message) == (expected[0], True)
    assert yamlfast.safe_load_all(twin)


def test_a_million_deep_document_neither_crashes_nor_recurses() -> None:
    with pytest.raises(DocumentError, match="nested deeper"):
        parse_documents("[" * 1_000_000, "deep.yaml")


def test_positions_are_found_lazily_in_the_right_document() -> None:
    text = "---\na: 1\n---\n---\nb:\n  c: [1, {d: 2}]\n"
    first, second = parse_documents(text, "x.yaml")
    assert (first.index, first.line, second.index, second.line) == (0, 2, 2, 5)
    assert str(second.position(("b", "c", 1, "d"))) == "x.yaml:6"
    assert str(first.position(("a",))) == "x.yaml:2"


def test_positions_after_a_complex_key_are_found() -> None:
    """A key that is a collection (`? [a, b]`) has events of its own before its value's;
    the walk skips them instead of reading them as the value and the next key."""
    text = "? [a, b]\n: {x: 1}\nc:\n  d: 2\n? {e: 3}\n: - 4\nf: 5\n"

    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError("locate went on past the stream's end (it used to loop)")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(10)
    try:
        marks = yamlfast._locate_events(text, {0: [("c", "d"), ("f",)]})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert marks[(0, ("c", "d"))] == (4, 6)
    assert marks[(0, ("f",))] == (7, 4)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_that_never_ends_stops_at_the_limit(device: str) -> None:
    texts, errors = read_texts([device], max_bytes=1024 * 1024)
    assert texts == []
    (error,) = errors
    assert "1 MiB limit" in error.message and "does not end" in error.message


def test_a_file_whose_size_says_zero_is_read_to_its_end() -> None:
    """/proc files say 0 bytes and hold more: the size is a hint for the first read only."""
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    texts, errors = read_texts([str(status)])
    assert errors == [] and texts[0].text.startswith("Name:") and "\nPid:" in texts[0].text
    texts, errors = read_texts([str(status)], max_bytes=64)
    assert texts == [] and "does not end" in errors[0].message


def test_a_file_read_whole_at_exactly_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "exact.yaml"
    path.write_text("a: " + "x" * 1021)
    texts, errors = read_texts([str(path)], max_bytes=1024)
    assert errors == [] and len(texts[0].text) == 1024
    texts, errors = read_texts([str(path)], max_bytes=1023)
    assert texts == [] and "over the" in errors[0].message


def test_a_named_file_over_the_limit_says_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * (3 * 1024 * 1024) + "\n")
    texts, errors = read_texts([str(path)], max_bytes=1024 * 1024)
    assert texts == [] and "3 MiB is over the 1 MiB limit" in errors[0].message
    texts, errors = read_texts([str(path)])
    assert len(texts) == 1 and errors == []
