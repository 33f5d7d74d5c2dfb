"""`mooring validate` findings: right file, line, field path and a message that says the fix."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from mooring.api.documents import DocumentError, parse_documents
from mooring.core.validate import platform_validity, validate_documents
from tests.builders import platform_body, tenant_body

PLATFORM = yaml.safe_dump(platform_body())


def run(*files: tuple[str, str]) -> list[tuple[str, str, str]]:
    documents = [d for name, text in files for d in parse_documents(text, name)]
    _, findings = validate_documents(documents)
    return [(f.where(), f.field_path, f.code) for f in findings]


def test_a_clean_repository_has_no_findings() -> None:
    assert (
        run(("platform.yaml", PLATFORM), ("tenants/acme.yaml", yaml.safe_dump(tenant_body()))) == []
    )


def test_a_schema_error_names_file_line_and_field() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: mooring.dev/v1alpha1
        kind: Tenant
        metadata:
          name: acme
        spec:
          owners:
            users: [alice]
          environments:
            - name: dev
            - name: Prod_1
        """
    )
    documents = parse_documents(text, "tenants/acme.yaml")
    _, findings = validate_documents([*parse_documents(PLATFORM, "platform.yaml"), *documents])
    assert len(findings) == 1
    finding = findings[0]
    assert finding.where() == "tenants/acme.yaml:10"
    assert finding.field_path == "spec.environments[1].name"
    assert "'Prod_1' is not a DNS label" in finding.message


def test_an_unknown_field_says_check_the_spelling() -> None:
    body = tenant_body(costCentre="cc-1")
    (found,) = run(("platform.yaml", PLATFORM), ("t.yaml", yaml.safe_dump(body)))
    assert found[1:] == ("spec.costCentre", "schema")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            [tenant_body("acme"), tenant_body("acme")],
            ("t1.yaml:4", "metadata.name", "duplicate-tenant"),
        ),
        (
            [tenant_body("a-b", envs=("dev",)), tenant_body("a", envs=("b-dev",))],
            ("t1.yaml:10", "spec.environments[0].name", "duplicate-namespace"),
        ),
        ([tenant_body(tier="huge")], ("t0.yaml:11", "spec.tier", "unknown-tier")),
        (
            [tenant_body(network={"ingress": {"fromTenants": ["ghost"]}})],
            ("t0.yaml:14", "spec.network.ingress.fromTenants[0]", "unknown-tenant"),
        ),
        (
            [tenant_body(podSecurity="baseline")],
            ("t0.yaml:11", "spec.podSecurity", "pod-security-not-allowed"),
        ),
        (
            [tenant_body(quota={"cpu": "90"}, envs=("a", "b"))],
            ("platform.yaml:8", "spec.capacity.cpu", "over-capacity"),
        ),
    ],
    ids=[
        "a tenant defined twice",
        "two tenants claiming one namespace",
        "an unknown tier",
        "an allowance naming an unknown tenant",
        "a Pod Security level the tier does not allow",
        "quotas beyond the platform's capacity",
    ],
)
def test_repository_checks(files: list[dict[str, object]], expected: tuple[str, str, str]) -> None:
    texts = [(f"t{i}.yaml", yaml.safe_dump(body, sort_keys=False)) for i, body in enumerate(files)]
    found = run(("platform.yaml", yaml.safe_dump(platform_body(), sort_keys=False)), *texts)
    assert expected in found, found


def test_tenants_without_a_platform_config_are_a_finding() -> None:
    assert run(("t.yaml", yaml.safe_dump(tenant_body()))) == [("(repository)", "", "no-platform")]


def test_a_document_that_is_not_a_kubernetes_object_is_a_finding() -> None:
    assert run(("notes.yaml", "- just\n- a list\n")) == [("notes.yaml:1", "", "not-an-object")]


def test_other_kinds_are_left_alone() -> None:
    other = yaml.safe_dump(
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}}
    )
    assert run(("app.yaml", other)) == []


def test_malformed_yaml_names_file_and_line() -> None:
    with pytest.raises(DocumentError) as raised:
        parse_documents("a: 1\nb: [2\nc: 3\n", "broken.yaml")
    assert str(raised.value).startswith("broken.yaml:")
    assert "not valid YAML" in str(raised.value)


def test_a_platform_config_the_operator_accepts_is_valid() -> None:
    valid, reason, message = platform_validity(platform_body())
    assert (valid, reason) == (True, "Valid")
    assert "default small" in message


def test_a_platform_config_with_an_unknown_default_tier_is_not_valid_and_says_why() -> None:
    valid, reason, message = platform_validity(platform_body(defaultTier="gold"))
    assert (valid, reason) == (False, "InvalidSpec")
    assert "defaultTier 'gold' is not one of the tiers" in message


FQDN_AND_HTTP = {
    "ingress": {"fromIngressController": True, "http": [{"method": "GET", "path": "/api/.*"}]},
    "egress": {"toFqdns": [{"matchName": "api.stripe.com"}]},
}


def test_fqdn_and_http_allowances_warn_when_the_platform_does_not_declare_cilium() -> None:
    tenant_text = yaml.safe_dump(tenant_body(network=FQDN_AND_HTTP), sort_keys=False)
    found = run(("platform.yaml", PLATFORM), ("t.yaml", tenant_text))
    assert [(path, code) for _, path, code in found] == [
        ("spec.network.egress.toFqdns[0]", "needs-cilium"),
        ("spec.network.ingress.http", "needs-cilium"),
    ]
    assert all(where.startswith("t.yaml:") for where, _, _ in found)


def test_a_platform_that_declares_cilium_takes_fqdn_and_http_allowances_silently() -> None:
    platform = yaml.safe_dump(platform_body(network={"cilium": True}))
    tenant_text = yaml.safe_dump(tenant_body(network=FQDN_AND_HTTP))
    assert run(("platform.yaml", platform), ("t.yaml", tenant_text)) == []


def test_http_rules_without_any_peer_to_apply_to_are_a_warning() -> None:
    platform = yaml.safe_dump(platform_body(network={"cilium": True}))
    network = {"ingress": {"http": [{"method": "GET"}]}}
    tenant_text = yaml.safe_dump(tenant_body(network=network))
    found = run(("platform.yaml", platform), ("t.yaml", tenant_text))
    assert [(path, code) for _, path, code in found] == [
        ("spec.network.ingress.http", "http-without-peers")
    ]
