"""Rendered YAML spells every value out: no anchors or aliases (`&id001`, `*id001`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from mooring.api import yamldump
from mooring.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def test_a_value_shared_by_two_objects_is_written_out_twice() -> None:
    verbs = ["get", "list", "watch"]
    objects = [{"rules": [{"verbs": verbs}, {"verbs": verbs}]}, {"verbs": verbs}]
    text = yamldump.dump_all(objects)
    assert "&" not in text and "*" not in text
    assert list(yaml.safe_load_all(text)) == objects


def test_keys_keep_their_order_unless_sorting_is_asked_for() -> None:
    assert yamldump.dump({"b": 1, "a": 2}) == "b: 1\na: 2\n"
    assert yamldump.dump({"b": 1, "a": 2}, sort_keys=True) == "a: 2\nb: 1\n"


def test_the_committed_install_manifest_has_no_anchors() -> None:
    text = (ROOT / "deploy" / "install.yaml").read_text()
    assert "&id" not in text and "*id" not in text


def test_rendered_tenants_and_policies_have_no_anchors() -> None:
    runner = CliRunner()
    for args in (
        ["render", str(ROOT / "examples" / "platform")],
        ["install", "render"],
        ["policy", "render", str(ROOT / "examples" / "platform")],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "&id" not in result.output and "*id" not in result.output, args
