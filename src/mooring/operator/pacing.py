"""kopf's share of the pacing: how many objects it handles at once, and what it sends.

Mooring's own requests are paced by its client (kube/pacing.py). kopf's are not: it opens a
connection per request without limit and handles every object at once, so ten thousand new
Tenants meant ten thousand concurrent PATCHes (the finalizer) and as many TLS handshakes,
most of which timed out waiting for a connection and were retried. A bound on kopf's
workers bounds its requests too; a worker that has nothing left to do gives its place up
after `IDLE` seconds instead of kopf's five.
"""

from __future__ import annotations

import kopf

from mooring.api import names
from mooring.kube.pacing import PacingSettings

IDLE = 1.0
BACKOFFS = (1, 2, 4, 8, 15, 30, 30, 30, 30, 30, 30, 30, 30, 30)
BINDING_SECRETS = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY},{names.LABEL_DATABASE}"


def client_settings(qps: float, burst: int) -> PacingSettings:
    """Pacing for the operator's client: it rides out stalls (up to two minutes for one
    request) and refusals of the server, instead of failing the reconcile at once."""
    return PacingSettings(qps=qps, burst=burst, retry_budget=120, retry_unreachable=True)


def configure_kopf(settings: kopf.OperatorSettings, workers: int) -> None:
    settings.queueing.worker_limit = workers
    settings.queueing.idle_timeout = IDLE
    # kopf waits the longer of its backoff and a 429's Retry-After, and keeps trying for
    # about five minutes (not one) before it gives a request up.
    settings.networking.enforce_retry_after = False
    settings.networking.error_backoffs = BACKOFFS
    # kopf filters handlers' labels on its side: without a selector it would watch (and
    # remember) every Secret in the cluster to see binding Secrets go.
    settings.watching.label_selectors["", "v1", "secrets"] = BINDING_SECRETS
