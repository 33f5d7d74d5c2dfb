"""The PyPI distribution name: `mooring` on PyPI is someone else's project, so Mooring is
published as `mooring-platform` (the command and the import package stay `mooring`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "mooring-platform"
# Any install command a reader could copy: pip, pipx, uv, poetry, pip3, python -m pip.
INSTALLERS = r"(?:pip3?|pipx|uv\s+(?:pip\s+)?|poetry|python3?\s+-m\s+pip)\s+(?:install|add)"
WRONG = re.compile(
    INSTALLERS + r"(?:\s+-\S+)*\s+[\"']?mooring(?![\w.-]*platform)(?=[\s\"'=<>~!\[@]|$)"
)


def _texts() -> list[Path]:
    """Every document and example a user may copy a command from."""
    suffixes = {".md", ".yaml", ".yml", ".txt", ".toml", ""}
    found = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Dockerfile"]
    for folder in ("docs", "examples", "deploy", "scripts", ".ci"):
        found += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in suffixes]
    return [p for p in found if p.is_file()]


def test_the_distribution_is_named_mooring_platform_and_installs_the_mooring_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"]["mooring"] == "mooring.cli.main:main"


@pytest.mark.parametrize(
    "line",
    [
        "pip install mooring",
        "pip install mooring==0.1.0",
        "pip install -U 'mooring>=0.1'",
        "pipx install mooring",
        "python -m pip install --user mooring[dev]",
        "uv pip install mooring",
    ],
)
def test_the_docs_check_catches_an_install_of_the_wrong_project(line: str) -> None:
    assert WRONG.search(line)


@pytest.mark.parametrize(
    "line",
    ["pip install mooring-platform==0.1.0", "pipx install mooring-platform", "pip install -e ."],
)
def test_the_docs_check_lets_the_right_name_through(line: str) -> None:
    assert not WRONG.search(line)


def test_no_document_or_example_tells_users_to_install_the_unrelated_mooring_project() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _texts()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if WRONG.search(line)
    ]
    assert not offenders, "install `mooring-platform`, not `mooring`:\n" + "\n".join(offenders)


def test_the_example_ci_workflow_installs_mooring_platform() -> None:
    workflow = (ROOT / "examples/platform/.github/workflows/validate.yaml").read_text()
    assert f"pip install {DISTRIBUTION}==" in workflow
