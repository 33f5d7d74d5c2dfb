"""Operator-wide settings: kopf under mooring.dev, the cluster login, the shared client.

Side effects: creates the Kube client at startup and closes it at cleanup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import yaml

from mooring.api.names import FINALIZER
from mooring.kube import incluster
from mooring.kube.client import Kube
from mooring.kube.pacing import PacingSettings
from mooring.operator import events, kopf_state, pacing
from mooring.operator.registry import REGISTRY


@dataclass
class Options:
    kubeconfig: Path | None = None
    context: str | None = None  # of the kubeconfig; its current context if None
    # As a pod: the ServiceAccount (kube/incluster.py), never a kubeconfig.
    in_cluster: bool = False
    metrics_port: int = 8080
    metrics_address: str = "127.0.0.1"
    health_port: int | None = None  # /healthz and /readyz (operator/health.py)
    health_address: str = "127.0.0.1"
    log_level: str = "info"
    # Leader election (operator/leader.py): only the holder of the Lease reconciles.
    leader_election: bool = False
    lease_namespace: str | None = None  # default: the pod's namespace, else mooring-system
    identity: str | None = None  # default: $POD_NAME, else host name and PID
    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # How often to look for optional parts installed later (Cilium's CRDs).
    feature_poll_seconds: float = 30.0
    # Tests of convergence: kill the process (SIGKILL) at this named step of a reconcile.
    crash_at: str | None = None
    audit_interval: float = 300.0  # seconds between full guardrail audits
    # How long one API request may take before the client gives up (and retries).
    request_timeout: float = 60.0
    # Client-side rate limit (requests a second, and at once); see kube/pacing.py.
    api_qps: float = 500.0
    api_burst: int = 1000
    # Seconds between looks for objects left behind (operator/resync.py); 0: never.
    resync_seconds: float = 60.0
    # Objects kopf handles at once (operator/pacing.py).
    workers: int = 100
    # Seconds between refreshes of tenants' status.cost (None: the PlatformConfig's).
    cost_refresh_seconds: float | None = None

    def connect(self, timeout: float = 30, pacing: PacingSettings | None = None) -> Kube:
        """A client for the cluster: the pod's ServiceAccount, or the kubeconfig."""
        if self.in_cluster:
            return Kube.in_cluster(incluster.load(), timeout=timeout, pacing=pacing)
        return Kube.from_kubeconfig(
            self.kubeconfig, context=self.context, timeout=timeout, pacing=pacing
        )


def kube_client(options: Options) -> Kube:
    """The client the handlers share, paced for the operator (operator/pacing.py)."""
    return options.connect(
        options.request_timeout, pacing.client_settings(options.api_qps, options.api_burst)
    )


@kopf.on.startup(registry=REGISTRY)
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    """kopf's finalizer is mooring.dev's; its progress and diff base live in status.kopf
    (operator/kopf_state.py: one write per reconcile rather than two)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf_state.progress_storage()
    settings.persistence.diffbase_storage = kopf_state.diffbase_storage()
    # kopf would post Events about cluster-scoped objects where `kubectl describe` does not
    # look (operator/events.py): Mooring posts its own, and kopf's warnings through a bridge.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    options: Options = memo["options"]
    settings.networking.request_timeout = options.request_timeout
    pacing.configure_kopf(settings, options.workers)
    memo["kube"] = kube_client(options)
    memo.setdefault("on_close", []).append(events.install(memo["kube"]).close_async)


@kopf.on.cleanup(registry=REGISTRY)
async def close(memo: kopf.Memo, **_: object) -> None:
    # Whatever uses the client (informers) stops first, then the client closes.
    for stop in memo.get("on_close", []):
        await stop()
    kube: Kube | None = memo.get("kube")
    if kube is not None:
        await kube.aclose()


@kopf.on.login(registry=REGISTRY)
def login(
    memo: kopf.Memo, settings: kopf.OperatorSettings, **kwargs: Any
) -> kopf.ConnectionInfo | None:
    options: Options = memo["options"]
    if options.in_cluster:
        # kopf logs in again on a 401, so a rotated token is read then.
        pod = incluster.load()
        return kopf.ConnectionInfo(
            server=pod.server,
            ca_path=str(pod.ca_path),
            token=pod.token(),
            default_namespace=pod.namespace or None,
        )
    if options.kubeconfig is None:
        return kopf.login_with_service_account(
            settings=settings, **kwargs
        ) or kopf.login_with_kubeconfig(settings=settings, **kwargs)
    return _from_kubeconfig(options.kubeconfig, options.context)


def _from_kubeconfig(path: Path, context_name: str | None = None) -> kopf.ConnectionInfo:
    config = yaml.safe_load(path.read_text())
    context_name = context_name or config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    return kopf.ConnectionInfo(
        server=cluster["server"],
        ca_data=cluster.get("certificate-authority-data"),
        ca_path=cluster.get("certificate-authority"),
        certificate_data=user.get("client-certificate-data"),
        certificate_path=user.get("client-certificate"),
        private_key_data=user.get("client-key-data"),
        private_key_path=user.get("client-key"),
        token=user.get("token"),
        default_namespace=context.get("namespace"),
    )
