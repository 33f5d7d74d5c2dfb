"""`mooring operator`: run the operator (kopf) against a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mooring.cli.output import EXIT_FAILED, EXIT_USAGE
from mooring.cli.output import error as error_
from mooring.operator.main import OperatorStartError, Options, run


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Cluster credentials (default: in-cluster service account, then $KUBECONFIG).",
)
@click.option(
    "--context",
    default=None,
    metavar="NAME",
    help="The kubeconfig context to use (default: its current context).",
)
@click.option(
    "--in-cluster",
    is_flag=True,
    help="Log in as the pod's ServiceAccount (KUBERNETES_SERVICE_HOST/PORT and the mounted "
    "token; $MOORING_SERVICE_ACCOUNT_DIR names another folder), never a kubeconfig.",
)
@click.option("--metrics-port", default=8080, show_default=True, help="Port of /metrics.")
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@click.option(
    "--health-port",
    "--liveness-port",
    "health_port",
    type=int,
    default=None,
    help="Serve /healthz (liveness) and /readyz (readiness) on this port.",
)
@click.option("--health-address", default="127.0.0.1", show_default=True)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--leader-election",
    is_flag=True,
    help="Reconcile only while holding the Lease mooring-operator (for several replicas).",
)
@click.option(
    "--lease-namespace",
    default=None,
    help="Namespace of the Lease (default: $POD_NAMESPACE, the pod's, else mooring-system).",
)
@click.option(
    "--identity", default=None, help="Name in the Lease (default: $POD_NAME, else host-PID)."
)
@click.option("--lease-duration", default=15, show_default=True, help="Seconds a Lease holds.")
@click.option(
    "--renew-deadline",
    default=10.0,
    show_default=True,
    help="A leader that cannot renew for this long exits (less than --lease-duration).",
)
@click.option(
    "--retry-period", default=2.0, show_default=True, help="Seconds between Lease attempts."
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
    context: str | None,
    in_cluster: bool,
    metrics_port: int,
    metrics_address: str,
    health_port: int | None,
    health_address: str,
    log_level: str,
    leader_election: bool,
    lease_namespace: str | None,
    identity: str | None,
    lease_duration: int,
    renew_deadline: float,
    retry_period: float,
    feature_poll_seconds: float,
    request_timeout: float,
    api_qps: float,
    api_burst: int,
    resync_seconds: float,
    workers: int,
    cost_refresh_seconds: float | None,
    crash_at: str | None,
) -> None:
    """Reconcile Tenants (and the rest of Mooring's resources) until interrupted."""
    if in_cluster and kubeconfig is not None:
        error_("--in-cluster and --kubeconfig exclude each other")
        sys.exit(EXIT_USAGE)
    if leader_election and not retry_period < renew_deadline < lease_duration:
        error_(
            "leader election needs --retry-period < --renew-deadline < --lease-duration "
            f"(got {retry_period:g} < {renew_deadline:g} < {lease_duration})"
        )
        sys.exit(EXIT_USAGE)
    try:
        run(
            Options(
                kubeconfig=kubeconfig,
                context=context,
                in_cluster=in_cluster,
                metrics_port=metrics_port,
                metrics_address=metrics_address,
                health_port=health_port,
                health_address=health_address,
                log_level=log_level,
                leader_election=leader_election,
                lease_namespace=lease_namespace,
                identity=identity,
                lease_duration=lease_duration,
                renew_deadline=renew_deadline,
                retry_period=retry_period,
                feature_poll_seconds=feature_poll_seconds,
                request_timeout=request_timeout,
                api_qps=api_qps,
                api_burst=api_burst,
                resync_seconds=resync_seconds,
                workers=workers,
                cost_refresh_seconds=cost_refresh_seconds,
                crash_at=crash_at,
            )
        )
    except OperatorStartError as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
