"""Run the operator: kopf with Mooring's registry and handlers, and /metrics.

Side effects: connects to the cluster, serves /metrics (and /healthz when asked).
"""

from __future__ import annotations

import asyncio
import logging

import kopf
from prometheus_client import start_http_server

# Settings first: their startup handler creates the client the others use (the handler
# modules import settings themselves, so it registers first whatever the order here).
from mooring.operator import cost as _cost  # noqa: F401  (registers handlers)
from mooring.operator import databases as _databases  # noqa: F401  (registers handlers)
from mooring.operator import guardrails as _guardrails  # noqa: F401  (registers handlers)
from mooring.operator import settings
from mooring.operator import tenants as _tenants  # noqa: F401  (registers handlers)
from mooring.operator.registry import REGISTRY
from mooring.operator.settings import Options

__all__ = ["OperatorStartError", "Options", "run"]
_ = settings


class OperatorStartError(RuntimeError):
    """The operator could not start; the message says why and what to change."""


def run(options: Options) -> None:
    """Run until interrupted."""
    logging.basicConfig(
        level=getattr(logging, options.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    # kopf logs every handler call at INFO; keep that for --log-level=debug.
    logging.getLogger("kopf.objects").setLevel(
        logging.DEBUG if options.log_level == "debug" else logging.WARNING
    )
    try:
        start_http_server(options.metrics_port, addr=options.metrics_address)
    except OSError as error:
        raise OperatorStartError(
            f"cannot serve metrics on {options.metrics_address}:{options.metrics_port} "
            f"({error.strerror}); pass another --metrics-port"
        ) from None
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
