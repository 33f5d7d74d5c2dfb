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
    "--cost-refresh-seconds",
    type=click.FloatRange(min=1),
    default=None,
    help="Refresh tenants' status.cost this often (default: the PlatformConfig's "
    "spec.cost.refreshSeconds).",
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
    cost_refresh_seconds: float | None,
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
                cost_refresh_seconds=cost_refresh_seconds,
                crash_at=crash_at,
            )
        )
    except OperatorStartError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
