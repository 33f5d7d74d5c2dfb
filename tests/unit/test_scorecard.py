"""A tenant's scorecard from what the cluster holds: pure assembly and its text."""

from __future__ import annotations

from typing import Any

import pytest

from mooring.cli.tenant_status import text
from mooring.core.scorecard import Section, build, percent


def tenant_with_status() -> dict[str, Any]:
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "payments"},
        "spec": {"environments": [{"name": "dev"}, {"name": "prod"}], "costCenter": "cc-1"},
        "status": {
            "tier": "medium",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Degraded", "message": "m"},
                {"type": "NetworkReady", "status": "False", "reason": "CiliumRequired"},
                {"type": "QuotaReady", "status": "True", "reason": "Applied"},
            ],
            "namespaces": [
                {
                    "name": "payments-dev",
                    "environment": "dev",
                    "phase": "Active",
                    "quota": [{"resource": "pods", "used": "1", "hard": "10"}],
                },
                {"name": "payments-prod", "environment": "prod", "phase": "Active"},
            ],
        },
    }


def quota(used: dict[str, str], hard: dict[str, str]) -> dict[str, Any]:
    return {"status": {"used": used, "hard": hard}}


def report(*results: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "summary": {"pass": 5, "fail": 1, "warn": 1},
        "results": [
            {
                "rule": rule,
                "result": outcome,
                "severity": "high",
                "resources": [{"kind": "Deployment", "name": name}],
                "message": f"{rule} broken",
                "properties": {"mode": "enforce"},
            }
            for rule, outcome, name in results
        ],
    }


def database(namespace: str, name: str, ready: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"plan": "shared"},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Provisioned"}]},
    }


@pytest.mark.parametrize(
    ("used", "hard", "expected"),
    [("250m", "1", 25), ("3Gi", "4Gi", 75), ("0", "0", None), ("1", "lots", None)],
    ids=["milli-cpu of a core", "binary memory", "nothing allowed", "not a quantity"],
)
def test_quota_used_is_a_share_of_hard(used: str, hard: str, expected: int | None) -> None:
    assert percent(used, hard) == expected


def test_the_scorecard_says_why_not_ready_with_live_quota_violations_and_databases() -> None:
    card = build(
        tenant_with_status(),
        quotas={"payments-dev": quota({"requests.cpu": "500m"}, {"requests.cpu": "2"})},
        reports={
            "payments-dev": report(
                ("image-tag", "warn", "web"), ("privileged", "fail", "api"), ("x", "pass", "ok")
            ),
            "payments-prod": None,
        },
        databases=[database("payments-prod", "orders", "True"), database("payments-dev", "a", "")],
    )
    assert (card.ready.status, card.ready.reason) == ("True", "Degraded")
    assert [(p.type, p.reason) for p in card.problems] == [
        ("Ready", "Degraded"),
        ("NetworkReady", "CiliumRequired"),
    ]
    dev, prod = card.namespaces
    assert [(q.resource, q.used, q.hard, q.percent) for q in dev.quota] == [
        ("requests.cpu", "500m", "2", 25)
    ]
    assert prod.quota == []  # neither live nor recorded
    assert [(v.result, v.rule, v.resource) for v in card.guardrails.violations] == [
        ("fail", "privileged", "Deployment/api"),
        ("warn", "image-tag", "Deployment/web"),
    ]
    assert [f"{d.namespace}/{d.name}" for d in card.databases] == [
        "payments-dev/a",
        "payments-prod/orders",
    ]
    assert card.tier == "medium"


def test_without_a_live_quota_the_recorded_usage_is_shown() -> None:
    card = build(tenant_with_status(), quotas={}, reports={}, databases=[])
    assert [(q.resource, q.percent) for q in card.namespaces[0].quota] == [("pods", 10)]


def test_json_keys_are_camel_case_and_sections_pass_through() -> None:
    cost = Section("cost", "Cost this month", {"total_eur": "12.50"}, ("total 12.50 EUR",))
    card = build(tenant_with_status(), {}, {}, [], sections=[cost], notes=["alerts: forbidden"])
    data = card.to_dict()
    assert data["costCenter"] == "cc-1"
    assert data["namespaces"][0]["quota"][0] == {
        "resource": "pods",
        "used": "1",
        "hard": "10",
        "percent": 10,
    }
    assert data["sections"] == {"cost": {"title": "Cost this month", "total_eur": "12.50"}}
    assert data["notes"] == ["alerts: forbidden"]


def test_the_text_names_each_part() -> None:
    cost = Section("cost", "Cost this month", {}, ("total 12.50 EUR",))
    card = build(
        tenant_with_status(),
        quotas={"payments-dev": quota({"pods": "3"}, {"pods": "10"})},
        reports={"payments-dev": report(("privileged", "fail", "api"))},
        databases=[database("payments-dev", "orders", "True")],
        sections=[cost],
    )
    shown = text(card)
    assert "Tenant payments   tier medium   cost center cc-1" in shown
    assert "Ready: True (Degraded): m" in shown
    assert "NetworkReady False (CiliumRequired)" in shown
    assert "quota: pods 3/10 (30%)" in shown
    assert "Guardrails: 1 fail, 1 warn, 5 pass" in shown
    assert "fail payments-dev Deployment/api privileged [enforce]: privileged broken" in shown
    assert "payments-dev/orders shared Ready=True (Provisioned)" in shown
    assert "Cost this month:\n  total 12.50 EUR" in shown
