"""The same bad input, given to every command that reads a repository, gets the same exit
code and the same number of errors: validate, render, apply, diff and check.

apply and diff are given a kubeconfig for a server that does not exist: bad input must be
refused before any cluster is contacted (contacting it would exit 3).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mooring.cli.main import cli
from tests.builders import platform_body, tenant_body

COMMANDS = ("validate", "render", "apply", "diff", "check")
TENANT = yaml.safe_dump(tenant_body("acme"), sort_keys=False)


def laughs() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join(
        "  " + line for line in lines
    )


def tenant(**spec: object) -> str:
    return yaml.safe_dump(tenant_body("acme", **spec), sort_keys=False)


def text(content: str) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        path = folder / "tenants" / "acme.yaml"
        path.write_text(content)
        return str(path)

    return write


def raw(content: bytes) -> Callable[[Path], str]:
    def write(folder: Path) -> str:
        path = folder / "tenants" / "acme.yaml"
        path.write_bytes(content)
        return str(path)

    return write


def named(path: str) -> Callable[[Path], str]:
    return lambda folder: path


# (what the input is, how to make it, the exit code every command gives, the error count)
BAD = [
    pytest.param(text("a: [1, 2\nb: c\n"), 2, 1, id="malformed YAML"),
    pytest.param(text(TENANT + "spec:\n  tier: small\n"), 2, 1, id="a repeated key"),
    pytest.param(text(laughs()), 2, 1, id="a billion laughs"),
    pytest.param(
        text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nd: " + "[" * 10_000),
        2,
        1,
        id="10,000-deep nesting",
    ),
    pytest.param(raw(b"\x89PNG\r\n\x1a\n\xff\xfe"), 2, 1, id="not UTF-8"),
    pytest.param(named("/nonexistent/tenants.yaml"), 2, 1, id="a missing file"),
    pytest.param(named("/dev/zero"), 2, 1, id="an endless device"),
    pytest.param(text("key: value\n"), 2, 1, id="not a Kubernetes object"),
    pytest.param(text(tenant(environments=[{"name": "Prod_1"}])), 1, 1, id="a schema error"),
    pytest.param(text(tenant(quota={"memory": "9Ei"})), 1, 1, id="an out-of-range quantity"),
    pytest.param(
        text(yaml.safe_dump(tenant_body("ingress", envs=("nginx",)))),
        1,
        1,
        id="a reserved namespace",
    ),
    pytest.param(
        text(tenant(developers={"groups": ["system:authenticated"]})),
        1,
        1,
        id="a member that opens the tenant to everyone",
    ),
    pytest.param(text(tenant(tier="huge")), 1, 1, id="an unknown tier"),
]


def kubeconfig(folder: Path) -> Path:
    path = folder / "nowhere.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def run(command: str, folder: Path, target: str) -> tuple[int, int, str]:
    """(exit code, error lines printed, the whole output) of one command on the input."""
    platform = str(folder / "platform.yaml")
    args = [command]
    if command in ("apply", "diff"):
        args += ["--kubeconfig", str(kubeconfig(folder))]
    args += [platform, target]
    result = CliRunner().invoke(cli, args)
    errors = sum(1 for line in result.output.splitlines() if ": error [" in line)
    return result.exit_code, errors, result.output


@pytest.mark.parametrize(("make", "code", "count"), BAD)
def test_every_command_refuses_the_same_bad_input_alike(
    tmp_path: Path, make: Callable[[Path], str], code: int, count: int
) -> None:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body(), sort_keys=False))
    target = make(tmp_path)
    results = {command: run(command, tmp_path, target) for command in COMMANDS}
    summary = {command: (exit_code, errors) for command, (exit_code, errors, _) in results.items()}
    assert summary == dict.fromkeys(COMMANDS, (code, count)), "\n\n".join(
        f"$ mooring {command}\n{output}" for command, (_, _, output) in results.items()
    )
    for _, _, output in results.values():
        assert "Traceback" not in output
        assert f"{count} error(s)" in output


def test_the_clean_twin_passes_every_offline_command(tmp_path: Path) -> None:
    (tmp_path / "tenants").mkdir()
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body(), sort_keys=False))
    target = text(TENANT)(tmp_path)
    for command in ("validate", "render", "check"):
        exit_code, errors, output = run(command, tmp_path, target)
        assert (exit_code, errors) == (0, 0), output


def test_check_with_one_team_s_tenant_file_needs_no_other_tenant(tmp_path: Path) -> None:
    """A team checks its manifests with its own tenant file: allowances naming tenants
    not given are the repository's business (validate), not a finding of check."""
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body(), sort_keys=False))
    (tmp_path / "acme.yaml").write_text(tenant(network={"ingress": {"fromTenants": ["checkout"]}}))
    result = CliRunner().invoke(
        cli,
        [
            "check",
            "--platform",
            str(tmp_path / "platform.yaml"),
            "--tenant",
            str(tmp_path / "acme.yaml"),
            str(tmp_path / "acme.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
