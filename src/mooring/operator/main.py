"""Run the operator: kopf with Mooring's registry and handlers, and /metrics.

Side effects: connects to the cluster, serves /metrics (and /healthz when asked).
"""

from __future__ import annotations

import asyncio

import kopf
from prometheus_client import start_http_server

# Settings first: their startup handler creates the client the others use.
from mooring.operator import settings
from mooring.operator import tenants as _tenants  # noqa: F401  (registers handlers)
from mooring.operator.registry import REGISTRY
from mooring.operator.settings import Options

__all__ = ["Options", "run"]
_ = settings


def run(options: Options) -> None:
    """Run until interrupted."""
    start_http_server(options.metrics_port, addr=options.metrics_address)
    liveness = f"http://0.0.0.0:{options.liveness_port}/healthz" if options.liveness_port else None
    memo = kopf.Memo(options=options)
    asyncio.run(
        kopf.operator(
            registry=REGISTRY,
            clusterwide=True,
            standalone=True,
            memo=memo,
            liveness_endpoint=liveness,
        )
    )
