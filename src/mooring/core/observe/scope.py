"""Pure: what every observability renderer needs about one tenant namespace.

The thresholds are complete (Mooring's defaults, under the platform's, the tier's and the
tenant's own); `quota` holds the hard limits Mooring rendered for the namespace, so the
quota alerts work from the kube-scheduler's pod requests where kube-state-metrics is absent.
core/render/observe.py makes them from a tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mooring.api.observe import DEFAULT_THRESHOLDS, Selectors, Thresholds


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
    # The same alerts written once for every namespace, the tenant from the namespace's
    # label (kube-state-metrics' kube_namespace_labels): the benchmark's floor.
    cluster_wide: bool = False

    def select(self, source: str, *matchers: str, namespace: bool = True) -> str:
        """`{namespace="ns", <the source's job matchers>, <matchers>}`."""
        parts = [f'namespace="{self.namespace}"'] if namespace and not self.cluster_wide else []
        if self.cluster_wide:
            matchers = tuple(m for m in matchers if not m.startswith("tenant="))
        job = getattr(self.selectors, source)
        if job.strip():
            parts.append(job.strip())
        parts += matchers
        return "{" + ", ".join(parts) + "}"

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url.rstrip('/')}/{alert}.md"


def cluster_wide_scope(selectors: Selectors, runbook_base_url: str) -> Scope:
    """One scope for every namespace, with Mooring's default thresholds."""
    return Scope("", "", "", DEFAULT_THRESHOLDS, selectors, runbook_base_url, {}, True, True)
