"""The guardrails keep thousands of Tenants as JSON and parse the few they need: the
answers must be those of the parsed Tenants themselves."""

from __future__ import annotations

from typing import Any

from mooring.api.tenant import Tenant
from mooring.operator.guardrails import TenantStore
from tests.builders import tenant_body


def store_of(*bodies: dict[str, Any]) -> TenantStore:
    store = TenantStore()
    for body in bodies:
        store.put(Tenant.model_validate(body), body)
    return store


def test_a_namespace_finds_its_tenant_and_a_stranger_none() -> None:
    store = store_of(tenant_body("acme", envs=("dev", "prod")), tenant_body("big"))
    assert store.in_namespace("acme-prod").name == "acme"  # type: ignore[union-attr]
    assert store.in_namespace("big-dev").name == "big"  # type: ignore[union-attr]
    assert store.in_namespace("kube-system") is None


def test_a_tenant_parsed_again_is_the_same_as_the_one_put() -> None:
    body = tenant_body("acme", tier="large", guardrails=[{"rule": "image-tag", "mode": "off"}])
    store = store_of(body)
    store.CACHED = 0
    store._trim()
    assert store.get("acme") == Tenant.model_validate(body)


def test_only_tenants_with_modes_of_their_own_are_needed_for_the_policies() -> None:
    store = store_of(
        tenant_body("plain"),
        tenant_body("loose", guardrails=[{"rule": "image-tag", "mode": "off"}]),
    )
    assert [t.name for t in store.with_overrides()] == ["loose"]


def test_when_the_first_tenant_naming_a_namespace_goes_the_other_one_has_it() -> None:
    store = store_of(tenant_body("first"), tenant_body("second", envs=("dev",)))
    clash = Tenant.model_validate(tenant_body("second"))
    assert clash.namespace(clash.spec.environments[0]) == "second-dev"
    # Two tenants cannot be rendered into one namespace, but a Tenant can name another's.
    store._namespaces["second"] = ("second-dev", "first-dev")
    store._owner.setdefault("first-dev", "first")
    store.pop("first")
    assert store.in_namespace("first-dev").name == "second"  # type: ignore[union-attr]
    assert store.namespaces_of("first") == set()


def test_the_operators_world_gives_a_name_to_the_oldest_claimant_as_the_core_does() -> None:
    """Who holds a hostname depends on every claim and on the Tenants' ages: the World the
    operator builds from its store must list every claimant (not only tenants with modes of
    their own) and keep their creation times, or a newer tenant could take an older one's name."""
    from mooring.core.hostnames import holdings
    from mooring.services.admission import World
    from tests.builders import platform

    old = tenant_body("zeta", hostnames=["shop.example.com"])
    old["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    new = tenant_body("alpha", hostnames=["shop.example.com"])
    new["metadata"]["creationTimestamp"] = "2026-06-01T00:00:00Z"
    spec = platform().spec
    store = store_of(old, new, tenant_body("plain"))
    store.CACHED = 0
    store._trim()  # parsed again from the kept JSON
    assert sorted(store.claiming()) == ["alpha", "zeta"]
    world = World(
        platform=spec,
        tenants=store.for_world(),
        lookup=store.in_namespace,
        namespaces={"zeta-dev": "zeta", "alpha-dev": "alpha", "plain-dev": "plain"},
    )
    expected = holdings([Tenant.model_validate(b) for b in (old, new)], spec)
    assert world.held().held == expected.held == {"zeta": ["shop.example.com"], "alpha": []}
    assert [r.tenant for r in world.held().refused] == ["alpha"]
