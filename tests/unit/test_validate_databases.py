"""`mooring validate` on Database resources: the operator's rules, before the merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mooring.api.documents import parse_documents
from mooring.api.quantity import format_bytes, parse_quantity
from mooring.cli.main import cli
from mooring.core.validate import validate_documents

PLATFORM = """
apiVersion: mooring.dev/v1alpha1
kind: PlatformConfig
metadata: {name: default}
spec:
  tiers:
    small:
      quota: {cpu: "4", memory: 8Gi, pods: 20}
      databases: {count: 2, storage: 5Gi}
  databases:
    defaultServer: main
    servers:
      - name: main
        host: pg.example.com
        adminSecret: {namespace: ops, name: pg-admin}
        versions: ["15"]
---
apiVersion: mooring.dev/v1alpha1
kind: Tenant
metadata: {name: shop}
spec:
  owners: {users: [alice]}
  environments: [{name: dev}, {name: prod}]
"""


def database(name: str, namespace: str | None = "shop-dev", **spec: str) -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    fields = "".join(f"\n  {k}: {v}" for k, v in spec.items()) or " {}"
    return (
        f"---\napiVersion: mooring.dev/v1alpha1\nkind: Database\n"
        f"metadata: {{name: {name}{ns}}}\nspec:{fields}\n"
    )


def findings(text: str) -> list[tuple[str, str, int]]:
    _, found = validate_documents(parse_documents(text, "repo.yaml"))
    return [
        (f.code, f.field_path, f.document.position(f.path).line if f.document else 0) for f in found
    ]


def test_a_valid_database_has_no_findings() -> None:
    assert findings(PLATFORM + database("orders", extensions='["pgcrypto"]')) == []


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        pytest.param(
            database("a", "elsewhere"),
            "database-not-in-tenant",
            "metadata.namespace",
            id="a namespace no tenant has",
        ),
        pytest.param(
            database("a", server="other"),
            "unknown-database-server",
            "spec.server",
            id="a server the platform does not offer",
        ),
        pytest.param(
            database("a", version='"16"'),
            "unsupported-database-version",
            "spec.version",
            id="a version the server does not run",
        ),
        pytest.param(
            database("a", plan="dedicated", version='"14"'),
            "unsupported-database-version",
            "spec.version",
            id="a version dedicated servers do not run",
        ),
        pytest.param(
            database("a", storage="6Gi"),
            "database-over-limit",
            "metadata.name",
            id="storage beyond the tier",
        ),
        pytest.param(
            database("a", storage="1Ei"),
            "database-over-limit",
            "metadata.name",
            id="an exbibyte of storage",
        ),
        pytest.param(
            database("a") + database("a"),
            "duplicate-database",
            "metadata.name",
            id="the same database twice",
        ),
        pytest.param(
            database("a") + database("b", "shop-prod") + database("c"),
            "database-over-limit",
            "metadata.name",
            id="more databases than the tier",
        ),
        pytest.param(
            database("a", extensions='["x; DROP"]'),
            "schema",
            "spec.extensions[0]",
            id="a hostile extension name",
        ),
        pytest.param(
            database("a", plan="dedicated", server="main"),
            "schema",
            "spec",
            id="a server on a dedicated database",
        ),
    ],
)
def test_findings_name_the_field(extra: str, code: str, field: str) -> None:
    found = findings(PLATFORM + extra)
    assert (code, field) in [(c, f) for c, f, _ in found], found


def test_the_over_limit_finding_points_at_the_later_database() -> None:
    text = PLATFORM + database("a") + database("b", "shop-prod") + database("c")
    over = [line for code, _, line in findings(text) if code == "database-over-limit"]
    assert over == [text.splitlines().index("metadata: {name: c, namespace: shop-dev}") + 1]


@pytest.mark.parametrize("storage", ["1Ei", "8Ei", "1E"])
def test_exa_sized_storage_is_over_the_tier_in_plain_words(storage: str) -> None:
    _, found = validate_documents(
        parse_documents(PLATFORM + database("a", storage=storage), "repo.yaml")
    )
    assert [(f.code, f.message) for f in found] == [
        (
            "database-over-limit",
            "tier 'small' allows 5Gi of database storage per tenant; 0 is taken and this one "
            f"asks for {format_bytes(parse_quantity(storage))}: ask for less spec.storage, "
            "or a larger tier",
        )
    ]


def test_a_database_without_a_namespace_is_a_warning() -> None:
    _, found = validate_documents(parse_documents(PLATFORM + database("a", None), "r.yaml"))
    assert [(f.code, f.severity) for f in found] == [("database-no-namespace", "warning")]


def test_the_cli_exits_1_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(PLATFORM)
    (tmp_path / "db.yaml").write_text(database("a", version='"16"'))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / 'db.yaml'}:6" in result.output
    assert "runs PostgreSQL 15, not 16" in result.output
