"""Pure: what every observability renderer needs about one tenant namespace.

The thresholds are complete (Mooring's defaults, under the platform's, the tier's and the
tenant's own); `quota` holds the hard limits Mooring rendered for the namespace, so the
quota alerts work from the kube-scheduler's pod requests where kube-state-metrics is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mooring.api.observe import DEFAULT_THRESHOLDS, Selectors, Thresholds
from mooring.api.quantity import parse_quantity
from mooring.core.render.context import Context
from mooring.core.render.quotas import hard


@dataclass(frozen=True)
class Scope:
    tenant: str
    namespace: str
    environment: str
    thresholds: Thresholds
    selectors: Selectors
    runbook_base_url: str
    quota: dict[str, Decimal]
    first: bool  # the tenant's first namespace carries its tenant-wide alerts

    def select(self, source: str, *matchers: str, namespace: bool = True) -> str:
        """`{namespace="ns", <the source's job matchers>, <matchers>}`."""
        parts = [f'namespace="{self.namespace}"'] if namespace else []
        job = getattr(self.selectors, source)
        if job.strip():
            parts.append(job.strip())
        parts += matchers
        return "{" + ", ".join(parts) + "}"

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url.rstrip('/')}/{alert}.md"


def thresholds(ctx: Context) -> Thresholds:
    """Mooring's defaults, under the platform's, the tier's and the tenant's."""
    result = DEFAULT_THRESHOLDS
    for layer in (
        ctx.platform.observe.alert_thresholds,
        ctx.tier.alert_thresholds,
        ctx.tenant.spec.observe.alert_thresholds,
    ):
        result = layer.over(result)
    return result


def scopes(ctx: Context) -> list[Scope]:
    """One Scope per environment namespace, in the tenant's order."""
    complete = thresholds(ctx)
    settings = ctx.platform.observe
    return [
        Scope(
            tenant=ctx.tenant.name,
            namespace=ctx.tenant.namespace(environment),
            environment=environment.name,
            thresholds=complete,
            selectors=settings.selectors,
            runbook_base_url=settings.runbook_base_url,
            quota={k: parse_quantity(v) for k, v in hard(ctx.quota(environment)).items()},
            first=index == 0,
        )
        for index, environment in enumerate(ctx.tenant.spec.environments)
    ]
