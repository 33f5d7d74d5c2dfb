"""`mooring operator`: run the operator (kopf) against a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mooring.cli.output import EXIT_FAILED, err
from mooring.operator.main import OperatorStartError, Options, run


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Cluster credentials (default: in-cluster service account, then $KUBECONFIG).",
)
@click.option("--metrics-port", default=8080, show_default=True, help="Port of /metrics.")
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@click.option("--liveness-port", type=int, default=None, help="Serve /healthz on this port.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--feature-poll-seconds",
    default=30.0,
    show_default=True,
    help="How often to look for optional parts installed later (Cilium's CRDs).",
)
@click.option(
    "--request-timeout",
    default=60.0,
    show_default=True,
    help="Seconds one API request may take before it is abandoned and retried.",
)
@click.option(
    "--api-qps",
    default=500.0,
    show_default=True,
    help="Client-side rate limit: API requests a second on average (0: none).",
)
@click.option("--api-burst", default=1000, show_default=True, help="Requests allowed at once.")
@click.option(
    "--resync-seconds",
    default=60.0,
    show_default=True,
    help="How often to look for Tenants and Databases left behind (0: never).",
)
@click.option(
    "--workers", default=100, show_default=True, help="Objects handled at once (kopf's workers)."
)
@click.option(
    "--crash-at", default=None, hidden=True, help="Tests: SIGKILL itself at STEP[@NAMESPACE/NAME]."
)
def operator(
    kubeconfig: Path | None,
    metrics_port: int,
    metrics_address: str,
    liveness_port: int | None,
    log_level: str,
    feature_poll_seconds: float,
    request_timeout: float,
    api_qps: float,
    api_burst: int,
    resync_seconds: float,
    workers: int,
    crash_at: str | None,
) -> None:
    """Reconcile Tenants (and the rest of Mooring's resources) until interrupted."""
    try:
        run(
            Options(
                kubeconfig=kubeconfig,
                metrics_port=metrics_port,
                metrics_address=metrics_address,
                liveness_port=liveness_port,
                log_level=log_level,
                feature_poll_seconds=feature_poll_seconds,
                request_timeout=request_timeout,
                api_qps=api_qps,
                api_burst=api_burst,
                resync_seconds=resync_seconds,
                workers=workers,
                crash_at=crash_at,
            )
        )
    except OperatorStartError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
