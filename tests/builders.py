"""Small builders for test objects: tenants and platforms as a team would write them."""

from __future__ import annotations

from typing import Any

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant


def tenant_body(
    name: str = "acme",
    owners: list[str] | None = None,
    envs: tuple[str, ...] = ("dev",),
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {
            "owners": {"users": owners if owners is not None else ["alice"]},
            "environments": [{"name": env} for env in envs],
            **spec,
        },
    }


def tenant(name: str = "acme", **kwargs: Any) -> Tenant:
    return Tenant.model_validate(tenant_body(name, **kwargs))


def platform_body(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "defaultTier": "small",
        "capacity": {"cpu": "100", "memory": "400Gi", "storage": "10Ti"},
        "tiers": {
            "small": {
                "quota": {"cpu": "2", "memory": "4Gi", "pods": 10, "storage": "10Gi"},
                "containerDefaults": {
                    "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                    "defaultLimit": {"cpu": "0.5", "memory": "134217728"},
                },
            },
            "large": {
                "quota": {"cpu": "16", "memory": "64Gi", "pods": 100},
                "podSecurity": ["restricted", "baseline"],
            },
        },
    }
    body.update(spec)
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": body,
    }


def platform(**spec: Any) -> PlatformConfig:
    return PlatformConfig.model_validate(platform_body(**spec))
