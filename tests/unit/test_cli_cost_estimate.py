"""`mooring cost estimate`: a pull request's monthly cost against its base branch, read from
a real Git repository, worked by hand at OpenCost's list prices (see test_cost_estimate)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mooring.cli.main import cli
from tests.builders import platform_body, tenant_body

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop-prod}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: app
          resources: {requests: {cpu: 500m, memory: 1Gi}}
        - name: sidecar
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop-prod}
spec: {resources: {requests: {storage: 20Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop-prod}
spec: {type: LoadBalancer, selector: {app: api}}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A platform repository whose main branch has tenant shop with one environment; the
    working tree (the pull request) adds a prod environment and its workloads."""
    (tmp_path / "tenants").mkdir()
    (tmp_path / "apps").mkdir()
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body()))
    (tmp_path / "tenants" / "shop.yaml").write_text(yaml.safe_dump(tenant_body("shop")))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "tenants" / "shop.yaml").write_text(
        yaml.safe_dump(tenant_body("shop", envs=("dev", "prod")))
    )
    (tmp_path / "apps" / "api.yaml").write_text(DEPLOYMENT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["cost", "estimate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_estimate_of_a_pull_request_equals_the_hand_computed_figure(repo: Path) -> None:
    code, stdout, stderr = run(".", "--base", "main")
    assert code == 0, stderr
    # prod's quota: 2 CPU, 4 GiB, 10 GiB storage for 730 h = 58.9241; the workloads'
    # requests: 29.26205 + 5.00183225 + 0.80 + 18.25 = 53.31388225
    assert "+ 58.92 USD/month reserved (quotas at list price), + 53.31 USD/month expected" in (
        stderr
    )
    row = next(line for line in stdout.splitlines() if line.startswith("shop"))
    assert row.split() == ["shop", "58.92", "117.85", "+", "58.92", "0.00", "53.31", "+", "53.31"]


def test_json_carries_exact_figures_per_tenant(repo: Path) -> None:
    code, stdout, _ = run(".", "--base", "main", "--format", "json")
    assert code == 0
    data = json.loads(stdout)
    assert data["reservedChange"] == "58.92"
    (shop,) = data["tenants"]
    assert (shop["reservedBefore"], shop["reservedAfter"]) == ("58.92", "117.85")
    assert shop["expectedChange"] == "53.31"


def test_github_annotates_the_tenant_file_and_writes_the_job_summary(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, stdout, _ = run(".", "--base", "main", "--format", "github")
    assert code == 0
    assert (
        "::notice file=tenants/shop.yaml,line=4,title=cost::shop: + 58.92 USD/month reserved "
        "(quotas at list price), + 53.31 USD/month expected (requests)"
    ) in stdout
    assert "| shop | 117.85 | + 58.92 | 53.31 | + 53.31 |" in summary.read_text()


def test_a_change_over_the_allowed_increase_fails(repo: Path) -> None:
    code, _, stderr = run(".", "--base", "main", "--max-increase", "50")
    assert code == 1
    assert "over --max-increase 50.00" in stderr
    assert run(".", "--base", "main", "--max-increase", "100")[0] == 0


def test_a_base_git_cannot_read_is_a_usage_error(repo: Path) -> None:
    code, _, stderr = run(".", "--base", "no-such-branch")
    assert code == 2
    assert "--base no-such-branch" in stderr


def test_an_invalid_tenant_is_reported_with_file_and_line_not_estimated(repo: Path) -> None:
    (repo / "tenants" / "shop.yaml").write_text(
        yaml.safe_dump(tenant_body("shop", budget={"amountPerMonth": -5}))
    )
    code, stdout, stderr = run(".")
    assert code == 1
    assert stdout == ""
    assert "tenants/shop.yaml:7: error [schema] spec.budget.amountPerMonth" in stderr


def test_validate_says_what_the_quotas_reserve(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "."])
    assert result.exit_code == 0
    assert "quotas reserve up to 117.85 USD/month at list price" in result.stderr
