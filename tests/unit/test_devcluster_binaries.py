"""Binary caching: rebuilt only when the pin changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.devcluster.binaries import CONTROL_PLANE, GoTool, _go_binary_name, repository_root


def _tool(tmp_path: Path, gomod: str, gosum: str) -> tuple[GoTool, Path]:
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "go.mod").write_text(gomod)
    (tmp_path / "m" / "go.sum").write_text(gosum)
    return GoTool("m", {"x": "example.com/x"}), tmp_path


def test_the_cache_key_is_stable_for_an_unchanged_pin(tmp_path: Path) -> None:
    tool, root = _tool(tmp_path, "module a\nrequire b v1.0.0\n", "sum")
    assert tool.key(root, "go1.26.8") == tool.key(root, "go1.26.8")


@pytest.mark.parametrize(
    ("gomod", "gosum", "go_version"),
    [
        ("module a\nrequire b v1.0.1\n", "sum", "go1.26.8"),
        ("module a\nrequire b v1.0.0\n", "other sum", "go1.26.8"),
        ("module a\nrequire b v1.0.0\n", "sum", "go1.27.0"),
    ],
    ids=["a new module version", "a new go.sum", "a new Go toolchain"],
)
def test_the_cache_key_changes_with(
    tmp_path: Path, gomod: str, gosum: str, go_version: str
) -> None:
    tool, root = _tool(tmp_path, "module a\nrequire b v1.0.0\n", "sum")
    before = tool.key(root, "go1.26.8")
    tool, root = _tool(tmp_path, gomod, gosum)
    assert tool.key(root, go_version) != before


@pytest.mark.parametrize(
    ("package", "binary"),
    [
        ("go.etcd.io/etcd/server/v3", "server"),
        ("k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
        ("sigs.k8s.io/kwok/cmd/kwok", "kwok"),
    ],
)
def test_go_names_a_command_binary_after_its_last_path_element(package: str, binary: str) -> None:
    assert _go_binary_name(package) == binary


def test_every_pinned_module_builds_with_the_local_toolchain_only() -> None:
    """The go directive of each tool module is one the machine's Go satisfies (no fetch)."""
    tools = repository_root() / "tools"
    for tool in CONTROL_PLANE:
        gomod = (tools / tool.module_dir / "go.mod").read_text()
        assert "\ntoolchain " not in gomod, f"{tool.module_dir}/go.mod asks for a toolchain"
        assert (tools / tool.module_dir / "go.sum").is_file()


def test_the_kubernetes_module_replaces_every_staging_module_at_the_matching_version() -> None:
    gomod = (repository_root() / "tools/controlplane/kubernetes/go.mod").read_text()
    version = next(
        line.split()[1] for line in gomod.splitlines() if "k8s.io/kubernetes v1." in line
    )
    staging = "v0." + version.removeprefix("v1.")
    replaces = [line.split() for line in gomod.splitlines() if " => " in line]
    assert len(replaces) >= 30
    assert all(parts[-1] == staging for parts in replaces), replaces
