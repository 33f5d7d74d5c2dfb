"""The pull-request commands as a person (or CI) runs them: exit codes and formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mooring.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "platform"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "platform"
    shutil.copytree(EXAMPLE, target)
    return target


def invoke(*args: str) -> tuple[int, str]:
    """Exit code and what a person sees (stdout and stderr)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def invoke_stdout(*args: str) -> tuple[int, str]:
    """Exit code and standard output only, as a pipe sees it."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


def test_the_example_repository_validates_clean() -> None:
    code, output = invoke("validate", str(EXAMPLE))
    assert code == 0, output
    assert "3 tenant(s)" in output


def test_a_finding_exits_1_with_file_and_line(repo: Path) -> None:
    path = repo / "tenants" / "checkout.yaml"
    path.write_text(path.read_text().replace("toTenants: [payments]", "toTenants: [paymnts]"))
    code, output = invoke("validate", str(repo))
    assert code == 1
    assert f"{path}:19: error [unknown-tenant] spec.network.egress.toTenants[0]" in output


def test_unreadable_input_exits_2(repo: Path) -> None:
    (repo / "tenants" / "broken.yaml").write_text("kind: Tenant\nspec: [\n")
    code, output = invoke("validate", str(repo))
    assert code == 2
    assert "broken.yaml:3: error [unreadable] not valid YAML" in output
    code, output = invoke("validate", str(repo / "missing.yaml"))
    assert code == 2
    assert "no such file or folder" in output


def test_findings_as_json_and_github_annotations(repo: Path) -> None:
    path = repo / "tenants" / "analytics.yaml"
    path.write_text(path.read_text().replace("tier: medium", "tier: gold"))
    code, output = invoke("validate", "--format", "json", str(repo))
    assert code == 1
    finding = json.loads(output)["findings"][0]
    assert finding["file"] == str(path)
    assert finding["path"] == "spec.tier"
    assert finding["code"] == "unknown-tier"
    code, output = invoke("validate", "--format", "github", str(repo))
    assert output.startswith(f"::error file={path},line=")
    assert "title=unknown-tier::spec.tier: unknown tier 'gold'" in output


def test_render_prints_every_object_as_yaml() -> None:
    code, output = invoke_stdout("render", str(EXAMPLE))
    assert code == 0
    objects = list(yaml.safe_load_all(output))
    namespaces = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    assert namespaces == [
        "analytics-dev",
        "analytics-prod",
        "checkout-dev",
        "checkout-prod",
        "payments-dev",
        "payments-prod",
        "payments-staging",
    ]


def test_render_with_cilium_adds_l7_and_fqdn_policies() -> None:
    _, output = invoke_stdout("render", "--cilium", str(EXAMPLE))
    kinds = {
        o["metadata"]["name"]
        for o in yaml.safe_load_all(output)
        if o["kind"] == "CiliumNetworkPolicy"
    }
    assert kinds == {"mooring-allow-ingress-l7", "mooring-allow-egress-fqdn"}


def test_tenant_new_writes_a_file_that_validates(repo: Path) -> None:
    code, output = invoke(
        "tenant",
        "new",
        "search",
        "--owner",
        "dana@example.com",
        "--owner",
        "group:search-leads",
        "--developer",
        "sa:search-ci/deployer",
        "--env",
        "dev",
        "--env",
        "prod",
        "--tier",
        "medium",
        "--cost-center",
        "cc-77",
        "--dir",
        str(repo / "tenants"),
    )
    assert code == 0, output
    written = yaml.safe_load((repo / "tenants" / "search.yaml").read_text())
    assert written["spec"]["owners"] == {"users": ["dana@example.com"], "groups": ["search-leads"]}
    assert written["spec"]["developers"] == {"serviceAccounts": ["search-ci/deployer"]}
    assert invoke("validate", str(repo))[0] == 0
    code, output = invoke("tenant", "new", "search", "--owner", "x", "--dir", str(repo / "tenants"))
    assert code == 2 and "exists; pass --force" in output


def test_tenant_new_refuses_an_invalid_name(repo: Path) -> None:
    code, output = invoke(
        "tenant", "new", "Search_Team", "--owner", "x", "--dir", str(repo / "tenants")
    )
    assert code == 2
    assert "tenant name 'Search_Team' must be a DNS label" in output
    assert not (repo / "tenants" / "Search_Team.yaml").exists()
