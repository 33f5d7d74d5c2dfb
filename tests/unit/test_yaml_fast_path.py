"""The fast YAML road (yaml_rs) gives exactly what PyYAML gives, or is not taken."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api import yamlfast

ROOT = Path(__file__).resolve().parents[2]
TRICKY = [
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "on",
    "On",
    "off",
    "OFF",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "TRUE",
    "null",
    "Null",
    "~",
    "",
    "0755",
    "0o17",
    "0b101",
    "012",
    "00",
    "0",
    "-0",
    "+12",
    "1_000",
    "0x1F",
    "1e3",
    "1E-3",
    "1.5e+3",
    "1.",
    ".5",
    "-.inf",
    ".NaN",
    "3.14",
    "12:30",
    "1:20:30.5",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "nginx:1.27",
    "app@sha256:abc",
    "500m",
    "1Gi",
    "10.0.0.0/8",
    "a b",
    "#x",
    "x#y",
]


def same(text: str) -> None:
    try:
        expected = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            yamlfast.safe_load_all(text)
        return
    got = yamlfast.safe_load_all(text)
    assert repr(got) == repr(expected), text  # repr: nan == nan, and types must match


@pytest.mark.parametrize("scalar", TRICKY)
@pytest.mark.parametrize("shape", ["key: {}", "- {}", "[{}]", "{{a: {}}}", "{}: v", "a:\n  - {}\n"])
def test_plain_scalars_read_as_pyyaml_reads_them(scalar: str, shape: str) -> None:
    same(shape.format(scalar))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {k: 1}\nb: *x\n",
        "base: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\n",
        "x: !!str 12\n",
        "x: !!binary aGVsbG8=\n",
        "a: 1\na: 2\n",
        "---\na: 1\n",
        "a: 1\n...\n",
        "%YAML 1.1\n---\na: yes\n",
        "",
        "# only a comment\n",
        "text: |\n  line on one\n  no\n",
        "s: 'yes'\nt: \"0755\"\n",
        "k: ünïcödé\n",
    ],
)
def test_awkward_texts_read_as_pyyaml_reads_them(text: str) -> None:
    same(text)


def corpus_files() -> list[Path]:
    roots = [ROOT / "examples", ROOT.parent / "shared" / "corpora"]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.yaml"))


def test_every_manifest_in_the_examples_and_external_corpora_reads_the_same() -> None:
    files = corpus_files()
    assert len(files) > 100, "the external corpora are missing"
    for path in files:
        text = path.read_text()
        try:
            expected = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        assert repr(yamlfast.safe_load_all(text)) == repr(expected), path


keys = st.sampled_from(["name", "image", "cpu", "on", "no", "ports", "value", "a", "1"])
scalars = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet="abcdefxyz0123456789.:-_ #'!&*", max_size=8),
    st.integers(),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(keys, values, max_size=4), flow=st.booleans())
def test_any_document_written_by_a_yaml_library_reads_the_same(
    document: dict[str, object], flow: bool
) -> None:
    same(yaml.safe_dump(document, default_flow_style=flow))
