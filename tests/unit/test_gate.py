"""The pull-request gate, played by a pull-request author: what a tenant change may carry,
where it may land, whom it may let in. Each attack sits beside a compliant twin that
validates clean, so no refusal is vacuous.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mooring.api.documents import parse_documents
from mooring.cli.main import cli
from mooring.core.validate import validate_documents
from tests.builders import platform_body, tenant_body

CLUSTER_ADMIN = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "acme-admin"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "acme-devs"}],
}


def database(namespace: str | None, name: str = "orders") -> dict[str, Any]:
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Database",
        "metadata": metadata,
        "spec": {},
    }


def exception(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PolicyException",
        "metadata": {"name": "legacy", "namespace": namespace},
        "spec": {
            "rules": ["image-tag"],
            "workloads": {"names": ["legacy"]},
            "justification": "migrating the legacy worker",
            "approver": "platform@example.com",
            "expires": "2099-01-01T00:00:00Z",
        },
    }


def role_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "extra", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}],
    }


def with_metadata(**metadata: Any) -> dict[str, Any]:
    body = tenant_body("acme")
    body["metadata"].update(metadata)
    return body


def findings(files: dict[str, list[dict[str, Any]]], **platform: Any) -> list[tuple[str, str, str]]:
    """(file:line, field, code) of every finding over a repository of these files."""
    platform.setdefault("databases", SERVERS)
    texts = {"platform.yaml": [platform_body(**platform)], **files}
    documents = [
        document
        for name, bodies in texts.items()
        for document in parse_documents(yaml.safe_dump_all(bodies, sort_keys=False), name)
    ]
    _, found = validate_documents(documents)
    return [(f.where(), f.field_path, f.code) for f in found]


OTHER = tenant_body("other", owners=["olga"])
SERVERS = {
    "servers": [
        {"name": "main", "host": "pg.example.com", "adminSecret": {"namespace": "pg", "name": "a"}}
    ]
}

# (files the pull request brings, platform changes, the code it must get), and the twin.
ATTACKS = [
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme"), CLUSTER_ADMIN]},
        {},
        "not-mooring",
        {"tenants/acme.yaml": [tenant_body("acme")]},
        {},
        id="a ClusterRoleBinding to cluster-admin beside a tenant",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme")], "tenants/zz.yaml": [CLUSTER_ADMIN]},
        {},
        "not-mooring",
        {"tenants/acme.yaml": [tenant_body("acme")]},
        {},
        id="a ClusterRoleBinding alone in a file under tenants/",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme"), role_binding("acme-dev")]},
        {},
        "not-mooring",
        {"tenants/acme.yaml": [tenant_body("acme"), database("acme-dev")]},
        {},
        id="a RoleBinding in the tenant's own namespace",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme"), database("other-dev")], "o.yaml": [OTHER]},
        {},
        "outside-tenant",
        {"tenants/acme.yaml": [tenant_body("acme"), database("acme-dev")], "o.yaml": [OTHER]},
        {},
        id="a Database in another tenant's namespace",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme")], "tenants/acme/x.yaml": [exception("o-dev")]},
        {},
        "outside-tenant",
        {
            "tenants/acme.yaml": [tenant_body("acme")],
            "tenants/acme/x.yaml": [exception("acme-dev")],
        },
        {},
        id="a PolicyException under tenants/acme/ for another namespace",
    ),
    pytest.param(
        {"tenants/zz.yaml": [exception("other-dev")], "o.yaml": [OTHER]},
        {},
        "outside-tenant",
        {"tenants/other/zz.yaml": [exception("other-dev")], "o.yaml": [OTHER]},
        {},
        id="a PolicyException for another tenant in a file under tenants/ named after none",
    ),
    pytest.param(
        {
            "tenants/acme-legacy.yaml": [exception("other-dev")],
            "o.yaml": [OTHER, tenant_body("acme")],
        },
        {},
        "outside-tenant",
        {
            "tenants/acme-legacy.yaml": [exception("acme-dev")],
            "o.yaml": [OTHER, tenant_body("acme")],
        },
        {},
        id="a PolicyException for another tenant in tenants/<tenant>-<anything>.yaml",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme"), database(None)]},
        {},
        "no-namespace",
        {"tenants/acme.yaml": [tenant_body("acme"), database("acme-dev")]},
        {},
        id="a Database with no namespace in a tenant's file (it lands where the applier says)",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [tenant_body("acme")],
            "tenants/acme/db.yaml": [database("kube-system")],
        },
        {},
        "reserved-namespace",
        {
            "tenants/acme.yaml": [tenant_body("acme")],
            "tenants/acme/db.yaml": [database("acme-dev")],
        },
        {},
        id="a Database in kube-system",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme"),
                platform_body(allowedSubjects={"groups": ["system:authenticated"]}),
            ]
        },
        {},
        "platform-in-tenant-files",
        {"tenants/acme.yaml": [tenant_body("acme")]},
        {},
        id="a PlatformConfig smuggled in under tenants/",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                with_metadata(
                    ownerReferences=[
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}
                    ]
                )
            ]
        },
        {},
        "metadata-field",
        {"tenants/acme.yaml": [with_metadata(labels={"team": "acme"})]},
        {},
        id="ownerReferences on a Tenant (garbage collection would delete it)",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                with_metadata(annotations={"kopf.mooring.dev/last-handled-configuration": "{}"})
            ]
        },
        {},
        "reserved-annotation",
        {"tenants/acme.yaml": [with_metadata(annotations={"argocd.argoproj.io/sync-wave": "1"})]},
        {},
        id="the operator's bookkeeping annotation in Git",
    ),
    pytest.param(
        {"tenants/acme.yaml": [with_metadata(namespace="acme-dev")]},
        {},
        "namespace-on-cluster-kind",
        {"tenants/acme.yaml": [with_metadata()]},
        {},
        id="a namespace on a cluster-scoped Tenant",
    ),
    pytest.param(
        {"tenants/ingress.yaml": [tenant_body("ingress", envs=("nginx",))]},
        {},
        "reserved-namespace",
        {"tenants/ingress.yaml": [tenant_body("ingress", envs=("web",))]},
        {},
        id="tenant ingress + environment nginx squats ingress-nginx",
    ),
    pytest.param(
        {"tenants/cnpg.yaml": [tenant_body("cnpg", envs=("system",))]},
        {},
        "reserved-namespace",
        {"tenants/cnpg.yaml": [tenant_body("cnpg", envs=("prod",))]},
        {},
        id="a *-system namespace of an operator",
    ),
    pytest.param(
        {"tenants/cert.yaml": [tenant_body("cert", envs=("manager",))]},
        {},
        "reserved-namespace",
        {"tenants/cert.yaml": [tenant_body("cert", envs=("manager",))]},
        {"platformNamespaces": ["monitoring"]},
        id="cert-manager while the platform reserves it (by default)",
    ),
    pytest.param(
        {"tenants/core.yaml": [tenant_body("core", envs=("dns",))]},
        {"dns": {"namespace": "core-dns", "podLabels": {"k8s-app": "kube-dns"}}},
        "reserved-namespace",
        {"tenants/core.yaml": [tenant_body("core", envs=("dns",))]},
        {},
        id="the DNS namespace the PlatformConfig names",
    ),
    pytest.param(
        {"tenants/ops.yaml": [tenant_body("ops", envs=("db",))]},
        {
            "databases": {
                "servers": [
                    {
                        "name": "main",
                        "host": "pg",
                        "adminSecret": {"namespace": "ops-db", "name": "pg"},
                    }
                ]
            }
        },
        "reserved-namespace",
        {"tenants/ops.yaml": [tenant_body("ops", envs=("db",))]},
        {
            "databases": {
                "servers": [
                    {
                        "name": "main",
                        "host": "pg",
                        "adminSecret": {"namespace": "pg-admin", "name": "pg"},
                    }
                ]
            }
        },
        id="the namespace of a database server's admin Secret",
    ),
    pytest.param(
        {"tenants/kube.yaml": [tenant_body("kube", envs=("tools",))]},
        {},
        "reserved-namespace",
        {"tenants/kubes.yaml": [tenant_body("kubes", envs=("tools",))]},
        {},
        id="kube-* is always reserved",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"groups": ["system:authenticated"]})
            ]
        },
        {},
        "member-refused",
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"groups": ["system:authenticated"]})
            ]
        },
        {"allowedSubjects": {"groups": ["system:authenticated"]}},
        id="system:authenticated as developers, unless the platform allows it",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme", viewers={"groups": ["system:unauthenticated"]})
            ]
        },
        {},
        "member-refused",
        {"tenants/acme.yaml": [tenant_body("acme", viewers={"groups": ["acme-auditors"]})]},
        {},
        id="system:unauthenticated as viewers",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme", owners=["system:anonymous"])]},
        {},
        "member-refused",
        {"tenants/acme.yaml": [tenant_body("acme", owners=["alice"])]},
        {},
        id="system:anonymous as an owner",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"groups": ["system:serviceaccounts"]})
            ]
        },
        {},
        "member-refused",
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"groups": ["system:serviceaccounts:acme-dev"]})
            ]
        },
        {},
        id="every service account in the cluster",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"serviceAccounts": ["other-dev/ci"]})
            ],
            "o.yaml": [OTHER],
        },
        {},
        "member-refused",
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"serviceAccounts": ["acme-dev/ci"]})
            ],
            "o.yaml": [OTHER],
        },
        {},
        id="a service account of another tenant's namespace",
    ),
    pytest.param(
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"users": ["system:serviceaccount:other-dev:ci"]})
            ]
        },
        {},
        "member-refused",
        {
            "tenants/acme.yaml": [
                tenant_body("acme", developers={"users": ["system:serviceaccount:acme-dev:ci"]})
            ]
        },
        {},
        id="another namespace's service account written as a user",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme", developers={"serviceAccounts": ["ci/acme"]})]},
        {},
        "member-refused",
        {"tenants/acme.yaml": [tenant_body("acme", developers={"serviceAccounts": ["ci/acme"]})]},
        {"allowedSubjects": {"serviceAccountNamespaces": ["ci"]}},
        id="a platform CI service account, unless the platform allows its namespace",
    ),
    pytest.param(
        {"tenants/acme.yaml": [tenant_body("acme", adopt=[{"namespace": "other-dev"}])]},
        {},
        "adopt-not-own",
        {"tenants/acme.yaml": [tenant_body("acme", adopt=[{"namespace": "acme-dev"}])]},
        {},
        id="adopting a namespace that is not the tenant's",
    ),
]


@pytest.mark.parametrize(("attack", "platform", "code", "twin", "twin_platform"), ATTACKS)
def test_the_gate_refuses_the_attack_and_passes_its_twin(
    attack: dict[str, list[dict[str, Any]]],
    platform: dict[str, Any],
    code: str,
    twin: dict[str, list[dict[str, Any]]],
    twin_platform: dict[str, Any],
) -> None:
    found = findings(attack, **platform)
    assert code in [c for _, _, c in found], found
    assert findings(twin, **twin_platform) == []


def test_the_finding_names_the_file_and_line_of_the_smuggled_object() -> None:
    text = yaml.safe_dump_all([tenant_body("acme"), CLUSTER_ADMIN], sort_keys=False)
    found = findings({"tenants/acme.yaml": [tenant_body("acme"), CLUSTER_ADMIN]})
    line = text.splitlines().index("kind: ClusterRoleBinding") + 1
    assert (f"tenants/acme.yaml:{line}", "kind", "not-mooring") in found


def test_a_refused_member_names_the_other_tenant() -> None:
    documents = parse_documents(
        yaml.safe_dump_all(
            [
                platform_body(),
                OTHER,
                tenant_body("acme", developers={"serviceAccounts": ["other-dev/ci"]}),
            ]
        ),
        "repo.yaml",
    )
    _, found = validate_documents(documents)
    (refused,) = [f for f in found if f.code == "member-refused"]
    assert "belongs to tenant other" in refused.message
    assert refused.field_path == "spec.developers.serviceAccounts[0]"


def test_objects_outside_tenants_files_are_left_alone() -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}}
    assert (
        findings({"platform/apps/x.yaml": [app], "tenants/acme.yaml": [tenant_body("acme")]}) == []
    )


def test_apply_refuses_a_smuggled_object_before_it_contacts_any_cluster(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body()))
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.yaml").write_text(
        yaml.safe_dump_all([tenant_body("acme"), CLUSTER_ADMIN])
    )
    # A kubeconfig for a server that does not exist: contacting it would exit 3.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
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
    result = CliRunner().invoke(cli, ["apply", "--kubeconfig", str(kubeconfig), str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "not-mooring" in result.output


def test_a_json_manifest_under_tenants_is_not_a_way_around_validate(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform_body()))
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.yaml").write_text(yaml.safe_dump(tenant_body("acme")))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "schema.json").write_text("{}")  # not a tenant's file: left alone
    clean = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert clean.exit_code == 0, clean.output
    (tmp_path / "tenants" / "zz.json").write_text(json.dumps(CLUSTER_ADMIN))
    smuggled = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert smuggled.exit_code == 1, smuggled.output
    assert f"{tmp_path / 'tenants' / 'zz.json'}:1: error [unread-manifest]" in smuggled.output
