"""What every renderer receives: the tenant, the platform, the cluster's features.

Pure data. `Features` says what the target cluster offers (discovered by the caller),
`owner` is the Tenant's UID when rendering for the cluster (ownerReferences), None offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mooring.api import names
from mooring.api.platform import PlatformConfigSpec, Tier
from mooring.api.tenant import Environment, Quota, Tenant

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class Features:
    """Optional parts of the cluster that change what is rendered."""

    cilium: bool = False
    prometheus_operator: bool = False  # PrometheusRule (monitoring.coreos.com/v1)
    alertmanager_config: bool = False  # AlertmanagerConfig (monitoring.coreos.com/v1alpha1)
    grafana_operator: bool = False  # GrafanaDashboard (grafana.integreatly.org/v1beta1)

    def key(self) -> tuple[bool, ...]:
        return (
            self.cilium,
            self.prometheus_operator,
            self.alertmanager_config,
            self.grafana_operator,
        )


@dataclass(frozen=True)
class Context:
    tenant: Tenant
    platform: PlatformConfigSpec
    features: Features = Features()
    owner_uid: str | None = None

    @property
    def tier_name(self) -> str:
        return self.tenant.spec.tier or self.platform.default_tier

    @property
    def tier(self) -> Tier:
        return self.platform.tiers[self.tier_name]

    def quota(self, environment: Environment) -> Quota:
        """Tier quota, overridden by the tenant's, overridden by the environment's."""
        quota = self.tier.quota
        if self.tenant.spec.quota is not None:
            quota = self.tenant.spec.quota.over(quota)
        if environment.quota is not None:
            quota = environment.quota.over(quota)
        return quota

    def labels(self, environment: Environment | None = None) -> dict[str, str]:
        labels = {
            names.LABEL_MANAGED_BY: names.MANAGED_BY,
            names.LABEL_TENANT: self.tenant.name,
        }
        if environment is not None:
            labels[names.LABEL_ENVIRONMENT] = environment.name
        if self.tenant.spec.cost_center:
            labels[names.LABEL_COST_CENTER] = self.tenant.spec.cost_center
        return labels

    def metadata(self, name: str, environment: Environment | None) -> dict[str, Any]:
        """Metadata of an object inside one of the tenant's namespaces, or of a
        cluster-scoped one (environment None)."""
        meta: dict[str, Any] = {"name": name}
        if environment is not None:
            meta["namespace"] = self.tenant.namespace(environment)
        meta["labels"] = self.labels(environment)
        if self.owner_uid:
            meta["ownerReferences"] = [
                {
                    "apiVersion": names.API_VERSION,
                    "kind": "Tenant",
                    "name": self.tenant.name,
                    "uid": self.owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ]
        return meta
