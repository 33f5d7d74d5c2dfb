"""Who holds which host names: claims, overlaps, tier suffixes, the first tenant wins; and
`mooring validate` naming both files when two tenants claim the same name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mooring.api.documents import parse_documents
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.hostnames import covers, holdings, overlap, under_suffix
from mooring.core.policy.context import build_context
from mooring.core.validate import validate_documents
from tests.builders import platform, platform_body, tenant, tenant_body


@pytest.mark.parametrize(
    ("claim", "host", "covered"),
    [
        ("shop.example.com", "shop.example.com", True),
        ("shop.example.com", "www.shop.example.com", False),
        ("*.shop.example.com", "www.shop.example.com", True),
        ("*.shop.example.com", "a.b.shop.example.com", True),
        ("*.shop.example.com", "*.eu.shop.example.com", True),
        ("*.shop.example.com", "shop.example.com", False),
        ("*.shop.example.com", "evilshop.example.com", False),
        ("*.shop.example.com", "*.example.com", False),
    ],
)
def test_a_claim_covers_its_name_and_a_wildcard_every_name_below(
    claim: str, host: str, covered: bool
) -> None:
    assert covers(claim, host) is covered


def test_claims_below_the_tier_suffix_only_never_the_suffix_itself() -> None:
    suffixes = ["apps.example.com"]
    assert under_suffix("shop.apps.example.com", suffixes)
    assert under_suffix("*.shop.apps.example.com", suffixes)
    assert not under_suffix("*.apps.example.com", suffixes)
    assert not under_suffix("apps.example.com", suffixes)
    assert not under_suffix("shop.example.org", suffixes)
    assert under_suffix("shop.example.org", [])


def _tenant(name: str, created: str | None, *hostnames: str) -> Any:
    body = tenant_body(name, hostnames=list(hostnames))
    if created is not None:
        body["metadata"]["creationTimestamp"] = created
    return Tenant.model_validate(body)


def test_the_first_tenant_created_holds_an_overlapping_name() -> None:
    older = _tenant("zeta", "2024-01-01T00:00:00Z", "*.shop.example.com")
    newer = _tenant("alpha", "2025-01-01T00:00:00Z", "api.shop.example.com", "alpha.example.com")
    held = holdings([newer, older], None)
    assert held.of("zeta") == ["*.shop.example.com"]
    assert held.of("alpha") == ["alpha.example.com"]
    (refused,) = held.refused
    assert (refused.tenant, refused.index, refused.holder) == ("alpha", 0, "zeta")
    assert "'api.shop.example.com' overlaps '*.shop.example.com'" in refused.reason


def test_a_wider_wildcard_claimed_later_is_refused_too() -> None:
    first = _tenant("a", "2024-01-01T00:00:00Z", "shop.example.com")
    second = _tenant("b", "2024-06-01T00:00:00Z", "*.example.com")
    held = holdings([first, second], None)
    assert held.of("b") == [] and [r.holder for r in held.refused] == ["a"]


def test_a_tenants_own_claims_may_overlap() -> None:
    one = _tenant("a", None, "*.shop.example.com", "www.shop.example.com")
    assert holdings([one], None).of("a") == ["*.shop.example.com", "www.shop.example.com"]


def test_claims_outside_the_tier_suffixes_are_not_held() -> None:
    config = platform_body()
    config["spec"]["tiers"]["small"]["ingress"] = {"hostSuffixes": ["apps.example.com"]}
    spec = PlatformConfig.model_validate(config).spec
    one = _tenant("a", None, "shop.apps.example.com", "shop.example.org")
    held = holdings([one], spec)
    assert held.of("a") == ["shop.apps.example.com"]
    assert "not below the tier's host suffixes (apps.example.com)" in held.refused[0].reason


def test_the_guardrail_context_carries_only_the_names_held() -> None:
    older = _tenant("zeta", "2024-01-01T00:00:00Z", "shop.example.com")
    newer = _tenant("alpha", "2025-01-01T00:00:00Z", "shop.example.com", "alpha.example.com")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    context = build_context("alpha-dev", platform().spec, tenants=[older, newer], now=now)
    assert context["spec"]["hostnames"] == ["alpha.example.com"]


labels = st.text("abc", min_size=1, max_size=2)
names = st.lists(labels, min_size=2, max_size=4).map(".".join)
claims = st.one_of(names, names.map(lambda n: "*." + n))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(claims, min_size=1, max_size=3, unique=True), min_size=1, max_size=5))
def test_no_two_tenants_ever_hold_overlapping_names(claimed: list[list[str]]) -> None:
    tenants = [_tenant(f"t{i}", None, *mine) for i, mine in enumerate(claimed)]
    held = holdings(tenants, None)
    pairs = [(t, c) for t, cs in held.held.items() for c in cs]
    for tenant_a, a in pairs:
        for tenant_b, b in pairs:
            if tenant_a != tenant_b:
                assert not overlap(a, b), (tenant_a, a, tenant_b, b)
    # Nothing is refused without a reason: a refused claim overlaps a name held by another.
    for refusal in held.refused:
        assert any(overlap(refusal.hostname, c) for c in held.of(refusal.holder) if refusal.holder)


@pytest.mark.parametrize("claim", ["*.com", "com", "*", "Shop.example.com", "shop..example.com"])
def test_a_claim_that_is_not_a_name_below_a_domain_is_refused(claim: str) -> None:
    with pytest.raises(ValidationError, match="hostnames"):
        tenant(hostnames=[claim])


def test_validate_names_both_files_when_two_tenants_claim_one_name() -> None:
    text_a = yaml.safe_dump(tenant_body("alpha", hostnames=["*.shop.example.com"]))
    text_b = yaml.safe_dump(tenant_body("beta", hostnames=["ok.example.com", "x.shop.example.com"]))
    config = yaml.safe_dump(platform_body())
    documents = [
        *parse_documents(config, "platform.yaml"),
        *parse_documents(text_a, "tenants/alpha.yaml"),
        *parse_documents(text_b, "tenants/beta.yaml"),
    ]
    _, findings = validate_documents(documents)
    (finding,) = [f for f in findings if f.code.startswith("hostname")]
    assert finding.code == "hostname-taken"
    assert finding.where().startswith("tenants/beta.yaml:")
    assert finding.field_path == "spec.hostnames[1]"
    assert "tenant 'alpha' already holds" in finding.message
    assert "tenants/alpha.yaml:" in finding.message


def test_validate_refuses_a_claim_outside_the_tiers_suffixes() -> None:
    config = platform_body()
    config["spec"]["tiers"]["small"]["ingress"] = {"hostSuffixes": ["apps.example.com"]}
    documents = [
        *parse_documents(yaml.safe_dump(config), "platform.yaml"),
        *parse_documents(
            yaml.safe_dump(tenant_body("alpha", hostnames=["*.apps.example.com"])),
            "tenants/alpha.yaml",
        ),
    ]
    _, findings = validate_documents(documents)
    (finding,) = [f for f in findings if f.code.startswith("hostname")]
    assert finding.code == "hostname-suffix" and finding.field_path == "spec.hostnames[0]"
    assert "claim a name such as myapp.apps.example.com" in finding.message
