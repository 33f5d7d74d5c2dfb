"""Pure parts of the GitOps loop: which Applications a push refreshes (Argo CD's webhook rule),
the PlatformConfig's readiness, and reading an Application's status for a person."""

from __future__ import annotations

from typing import Any

import pytest

from mooring.core.validate import platform_readiness
from mooring.devcluster.githook import applications_to_refresh, files_changed
from mooring.gitops.applications import view
from mooring.services.platform import readiness, status_body
from tests.builders import platform, platform_body, tenant, tenant_body

REPO = "file:///srv/platform.git"


def app(name: str, path: str, generate: str | None = None, **source: Any) -> dict[str, Any]:
    annotations = {"argocd.argoproj.io/manifest-generate-paths": generate} if generate else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"source": {"repoURL": REPO, "targetRevision": "main", "path": path, **source}},
    }


APPS = [
    app("tenant-payments", "tenants", "payments.yaml"),
    app("tenant-checkout", "tenants", "checkout.yaml"),
    app("platform", "environments/dev"),
    app("elsewhere", "x", repoURL="file:///other.git"),
    app("pinned", "tenants", targetRevision="v1.0.0"),
]


@pytest.mark.parametrize(
    ("changed", "refreshed"),
    [
        (["tenants/payments.yaml"], ["tenant-payments", "platform"]),
        (["tenants/checkout.yaml", "README.md"], ["tenant-checkout", "platform"]),
        ([], ["tenant-payments", "tenant-checkout", "platform"]),
    ],
    ids=[
        "a team's file refreshes that team's Application and those without paths",
        "each changed file counts",
        "no list of files refreshes everything, as Argo CD's webhook does",
    ],
)
def test_a_push_refreshes_the_applications_whose_files_changed(
    changed: list[str], refreshed: list[str]
) -> None:
    assert applications_to_refresh(APPS, REPO, "main", changed) == refreshed


@pytest.mark.parametrize(
    ("paths", "changed", "expected"),
    [
        (["tenants/payments.yaml"], ["tenants/payments.yaml"], True),
        (["tenants"], ["tenants/a/b.yaml"], True),
        (["tenants/*.yaml"], ["tenants/x.yaml"], True),
        (["tenants/payments.yaml"], ["tenants/payments.yaml.bak"], False),
        (["environments/dev"], ["environments/devil/x.yaml"], False),
    ],
)
def test_files_changed_follows_argo_cds_rule(
    paths: list[str], changed: list[str], expected: bool
) -> None:
    assert files_changed(paths, changed) is expected


def test_a_platform_whose_tiers_and_capacity_hold_its_tenants_is_ready_and_says_its_use() -> None:
    verdict = platform_readiness(
        platform().spec, [tenant("a", envs=("dev", "prod")), tenant("b", tier="large")]
    )
    assert verdict.ready
    assert verdict.message == (
        "2 tenant(s) on tiers large (1), small (1); quotas use cpu 20 of 100, memory "
        "72Gi of 400Gi, storage 20Gi of 10Ti"
    )


def test_a_tier_removed_while_tenants_use_it_makes_the_platform_not_ready_naming_them() -> None:
    verdict = platform_readiness(
        platform().spec, [tenant("a", tier="gold"), tenant("b", tier="gold")]
    )
    assert not verdict.ready
    assert verdict.reason == "TierMissing"
    assert "tier 'gold' is used by tenant(s) a, b but not defined" in verdict.message


def test_quotas_beyond_capacity_make_the_platform_not_ready() -> None:
    spec = platform(capacity={"cpu": "3"}).spec
    verdict = platform_readiness(spec, [tenant("a"), tenant("b")])
    assert (verdict.ready, verdict.reason) == (False, "OverCapacity")
    assert "cpu quotas add up to 4, beyond the platform's capacity of 3" in verdict.message


def test_the_status_is_written_only_when_the_verdict_or_generation_changes() -> None:
    body = {**platform_body(), "metadata": {"name": "default", "generation": 3}}
    verdict = readiness(body, [tenant_body("a")])
    first = status_body(body, verdict, "2026-01-01T00:00:00Z")
    assert first is not None and first["observedGeneration"] == 3
    # One writer for both conditions, so neither update drops the other's.
    assert {c["type"]: c["status"] for c in first["conditions"]} == {
        "Valid": "True",
        "Ready": "True",
    }
    assert status_body({**body, "status": first}, verdict, "2026-01-02T00:00:00Z") is None
    moved = {**body, "metadata": {"name": "default", "generation": 4}, "status": first}
    assert status_body(moved, verdict, "2026-01-02T00:00:00Z") is not None


def test_tenants_being_deleted_or_invalid_do_not_count() -> None:
    deleting = tenant_body("gone", tier="gold")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    broken = {"apiVersion": "mooring.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "x"}}
    assert readiness(platform_body(), [deleting, broken]).ready


def test_an_application_says_why_it_is_not_healthy_resource_first() -> None:
    obj = {
        "metadata": {"name": "tenant-evil"},
        "status": {
            "sync": {"status": "OutOfSync"},
            "health": {"status": "Missing"},
            "operationState": {
                "phase": "Running",
                "message": "one or more synchronization tasks are not valid",
                "syncResult": {
                    "resources": [
                        {
                            "kind": "ClusterRoleBinding",
                            "name": "evil",
                            "status": "SyncFailed",
                            "message": "resource ... is not permitted in project tenants",
                        }
                    ]
                },
            },
        },
    }
    assert view(obj).why() == (
        "ClusterRoleBinding evil: resource ... is not permitted in project tenants"
    )
