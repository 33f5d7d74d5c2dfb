"""The registry of Mooring's kinds: what the CRDs are generated from.

Pure. One entry per kind; deploy/crds/ is regenerated from this list.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mooring.api.crd import Column, Kind
from mooring.api.platform import PlatformConfigSpec
from mooring.api.status import Condition
from mooring.api.tenant import MAX_NAMESPACE, MAX_TENANT_NAME, TenantSpec, TenantStatus


class ConditionsStatus(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    observed_generation: int | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


READY = '.status.conditions[?(@.type=="Ready")].status'

TENANT = Kind(
    kind="Tenant",
    plural="tenants",
    scope="Cluster",
    spec=TenantSpec,
    status=TenantStatus,
    short_names=("tn",),
    columns=(
        Column("Tier", ".status.tier"),
        Column("Namespaces", ".status.namespaceCount", type="integer"),
        Column("Ready", READY),
        Column("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
    ),
    rules=(
        (
            f"self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && "
            f"size(self.metadata.name) <= {MAX_TENANT_NAME}",
            f"tenant name must be a DNS label of at most {MAX_TENANT_NAME} characters "
            "(lower-case letters, digits and '-')",
        ),
        (
            f"self.spec.environments.all(e, size(self.metadata.name) + 1 + size(e.name) "
            f"<= {MAX_NAMESPACE})",
            f"tenant name + '-' + environment must fit in {MAX_NAMESPACE} characters "
            "(it is the namespace name)",
        ),
    ),
)

PLATFORM_CONFIG = Kind(
    kind="PlatformConfig",
    plural="platformconfigs",
    scope="Cluster",
    spec=PlatformConfigSpec,
    status=ConditionsStatus,
    short_names=("pc",),
    columns=(Column("Default tier", ".spec.defaultTier"), Column("Valid", READY)),
    rules=(("self.metadata.name == 'default'", "the PlatformConfig must be named 'default'"),),
)

KINDS: tuple[Kind, ...] = (TENANT, PLATFORM_CONFIG)
