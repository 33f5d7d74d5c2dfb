"""Prices and budgets: exact money, OpenCost's defaults, bad ones refused with file:line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mooring.api.cost import Prices
from mooring.api.crd import crd
from mooring.api.documents import parse_documents
from mooring.api.kinds import PLATFORM_CONFIG
from mooring.core.validate import validate_documents

PLATFORM = """\
apiVersion: mooring.dev/v1alpha1
kind: PlatformConfig
metadata: {name: default}
spec:
  tiers:
    small: {quota: {cpu: "2", memory: 4Gi, pods: 10}}
  prices:
    currency: EUR
    cpuPerVcpuHour: CPU
    storageClasses:
      - {name: fast, storagePerGibMonth: 0.2}
"""
TENANT = """\
apiVersion: mooring.dev/v1alpha1
kind: Tenant
metadata: {name: shop}
spec:
  owners: {users: [alice]}
  environments: [{name: dev}]
  budget:
    amountPerMonth: 500
    currency: EUR
    thresholdsPercent: [80, 100]
"""


def platform_text(cpu: str) -> str:
    return PLATFORM.replace("CPU", cpu)


def findings(platform: str, tenant: str = TENANT) -> list[tuple[str, str]]:
    documents = parse_documents(platform, "platform.yaml") + parse_documents(
        tenant, "tenants/shop.yaml"
    )
    _, found = validate_documents(documents)
    # (An invalid PlatformConfig also means "no PlatformConfig" to the repository checks.)
    return [(f.where(), f.message) for f in found if f.document is not None]


def test_a_price_is_the_decimal_written_not_a_binary_fraction() -> None:
    prices = Prices.model_validate({"cpuPerVcpuHour": 0.1, "memoryPerGibHour": 3})
    assert prices.cpu_per_vcpu_hour == Decimal("0.1")
    assert prices.memory_per_gib_hour == Decimal(3)
    assert prices.to_json()["cpuPerVcpuHour"] == 0.1


def test_the_defaults_are_opencosts_list_prices_in_usd() -> None:
    prices = Prices()
    assert (prices.currency, prices.cpu_per_vcpu_hour, prices.memory_per_gib_hour) == (
        "USD",
        Decimal("0.031611"),
        Decimal("0.004237"),
    )
    assert prices.gpu_per_hour == Decimal("0.95")
    assert prices.storage_per_gib_month == Decimal("0.04")


def test_the_crd_defaults_are_numbers_as_the_schema_says() -> None:
    schema = crd(PLATFORM_CONFIG)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    prices = schema["properties"]["spec"]["properties"]["prices"]["properties"]
    assert prices["cpuPerVcpuHour"] == {
        "default": 0.031611,
        "description": prices["cpuPerVcpuHour"]["description"],
        "minimum": 0,
        "type": "number",
    }


def test_valid_prices_and_budget_pass() -> None:
    assert findings(platform_text("0.05")) == []


@pytest.mark.parametrize(
    ("cpu", "message"),
    [
        ('"0.05"', "not a number; write an amount as a plain number"),
        ("-0.05", "negative"),
        (".inf", "not a finite number"),
    ],
    ids=["quoted", "negative", "infinite"],
)
def test_a_bad_price_is_refused_at_its_line(cpu: str, message: str) -> None:
    (found,) = findings(platform_text(cpu))
    assert found[0] == "platform.yaml:9"
    assert message in found[1]


def test_a_price_field_without_its_unit_is_unknown() -> None:
    text = platform_text("0.05").replace("cpuPerVcpuHour", "cpu")
    (found,) = findings(text)
    assert found == ("platform.yaml:9", "unknown field 'cpu'; check its spelling and indentation")


def test_a_budget_in_another_currency_than_the_prices_is_refused_at_its_line() -> None:
    (found,) = findings(platform_text("0.05"), TENANT.replace("currency: EUR", "currency: USD"))
    assert found[0] == "tenants/shop.yaml:9"
    assert "the platform's prices are in EUR" in found[1]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("amountPerMonth: 500", "amountPerMonth: 0"), 8, "more than zero"),
        (("[80, 100]", "[80, 80]"), 10, "threshold 80 is listed twice"),
        (("[80, 100]", "[0]"), 10, "greater than or equal to 1"),
        (("currency: EUR", "currency: eur"), 9, "does not match"),
    ],
    ids=["zero amount", "repeated threshold", "zero threshold", "not a currency code"],
)
def test_a_bad_budget_is_refused_at_its_line(
    change: tuple[str, str], line: int, message: str
) -> None:
    (found,) = findings(platform_text("0.05"), TENANT.replace(*change))
    assert found[0] == f"tenants/shop.yaml:{line}"
    assert message in found[1]


def test_node_pools_and_storage_classes_are_named_once() -> None:
    text = (
        platform_text("0.05")
        + "    nodePools:\n"
        + ("      - {name: spot, nodeSelector: {pool: spot}}\n" * 2)
    )
    (found,) = findings(text)
    assert found == ("platform.yaml:12", "node pool 'spot' is listed twice")
