"""Pure decisions about Databases: tenant namespaces, tier limits, the binding's values."""

from __future__ import annotations

import urllib.parse
from decimal import Decimal

import pytest

from mooring.api import names
from mooring.api.platform import DatabaseLimits
from mooring.core.database import (
    Claim,
    Endpoint,
    backoff,
    binding_data,
    over_limits,
    rotation_requested,
    tenant_of_namespace,
)

GI = Decimal(2**30)


def claim(
    name: str, created: str, gib: int = 1, namespace: str = "acme-dev", waiting: bool = True
) -> Claim:
    return Claim(waiting, created, namespace, name, gib * GI)


@pytest.mark.parametrize(
    ("labels", "tenant"),
    [
        pytest.param(
            {names.LABEL_TENANT: "acme", names.LABEL_MANAGED_BY: "mooring"},
            "acme",
            id="a namespace Mooring made for tenant acme",
        ),
        pytest.param({names.LABEL_TENANT: "acme"}, None, id="a tenant label alone is not enough"),
        pytest.param({names.LABEL_MANAGED_BY: "mooring"}, None, id="Mooring's but no tenant's"),
        pytest.param(None, None, id="no labels at all"),
    ],
)
def test_tenant_of_namespace(labels: dict[str, str] | None, tenant: str | None) -> None:
    assert tenant_of_namespace(labels) == tenant


def test_the_first_databases_asked_for_are_admitted_and_the_rest_refused() -> None:
    claims = [claim("c", "2026-01-03"), claim("a", "2026-01-01"), claim("b", "2026-01-02")]
    refused = over_limits(claims, DatabaseLimits(count=2, storage="10Gi"), "small")
    assert list(refused) == [("acme-dev", "c")]
    assert "allows 2 database(s)" in refused[("acme-dev", "c")]


def test_storage_is_summed_and_a_refused_one_takes_no_room() -> None:
    claims = [
        claim("big", "2026-01-01", gib=8),
        claim("bigger", "2026-01-02", gib=5),  # 8 + 5 > 10: refused
        claim("small", "2026-01-03", gib=2),  # 8 + 2 fits
    ]
    refused = over_limits(claims, DatabaseLimits(count=5, storage="10Gi"), "small")
    assert list(refused) == [("acme-dev", "bigger")]
    assert "8Gi is taken" in refused[("acme-dev", "bigger")]


def test_provisioned_databases_keep_their_place_whatever_their_creation_time() -> None:
    claims = [
        claim("new", "2026-01-01T10:00:00Z", namespace="a-dev"),  # same second, sorts first
        claim("old", "2026-01-01T10:00:00Z", namespace="b-dev", waiting=False),
    ]
    refused = over_limits(claims, DatabaseLimits(count=1, storage="10Gi"), "small")
    assert list(refused) == [("a-dev", "new")]


def test_a_tier_without_databases_refuses_every_one() -> None:
    refused = over_limits([claim("a", "1")], DatabaseLimits(count=0, storage="0"), "free")
    assert list(refused) == [("acme-dev", "a")]


def test_the_binding_follows_the_service_binding_spec_and_libpq() -> None:
    values = binding_data(
        Endpoint("db.example.com", 5432, "acme-dev_orders", "require"),
        "acme-dev_orders_1",
        "p@ss/w:rd?",
    )
    assert values["type"] == "postgresql" and values["provider"] == "mooring"
    assert values["PGUSER"] == values["username"] == "acme-dev_orders_1"
    uri = urllib.parse.urlsplit(values["uri"])
    assert uri.scheme == "postgresql" and uri.hostname == "db.example.com" and uri.port == 5432
    assert urllib.parse.unquote(uri.password or "") == "p@ss/w:rd?"
    assert urllib.parse.unquote(uri.path[1:]) == "acme-dev_orders"
    assert uri.query == "sslmode=require"
    assert values["DATABASE_URL"] == values["uri"]


def test_an_ipv6_host_is_bracketed_in_the_uri() -> None:
    values = binding_data(Endpoint("::1", 5432, "d", "disable"), "u", "p")
    assert values["uri"].startswith("postgresql://u:p@[::1]:5432/")
    assert values["host"] == "::1"


@pytest.mark.parametrize(
    ("annotations", "handled", "expected"),
    [
        pytest.param({}, None, None, id="no request"),
        pytest.param({names.ANNOTATION_ROTATE: "now"}, None, "now", id="a first request"),
        pytest.param({names.ANNOTATION_ROTATE: "now"}, "now", None, id="already handled"),
        pytest.param({names.ANNOTATION_ROTATE: "2"}, "1", "2", id="a new request"),
        pytest.param({names.ANNOTATION_ROTATE: ""}, None, None, id="an empty value"),
    ],
)
def test_rotation_requested(
    annotations: dict[str, str], handled: str | None, expected: str | None
) -> None:
    assert rotation_requested(annotations, handled) == expected


def test_backoff_grows_and_stops_at_a_minute() -> None:
    assert [backoff(n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]
