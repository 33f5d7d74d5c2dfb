"""Operator-wide settings: kopf under mooring.dev, the cluster login, the shared client.

Side effects: creates the Kube client at startup and closes it at cleanup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import yaml

from mooring.api.names import FINALIZER, KOPF_PREFIX
from mooring.kube.client import Kube
from mooring.operator.registry import REGISTRY


@dataclass
class Options:
    kubeconfig: Path | None = None
    metrics_port: int = 8080
    metrics_address: str = "127.0.0.1"
    liveness_port: int | None = None
    log_level: str = "info"
    # How often to look for optional parts installed later (Cilium's CRDs).
    feature_poll_seconds: float = 30.0
    # Tests of convergence: kill the process (SIGKILL) at this named step of a reconcile.
    crash_at: str | None = None
    audit_interval: float = 300.0  # seconds between full guardrail audits
    # Seconds between refreshes of tenants' status.cost (None: the PlatformConfig's).
    cost_refresh_seconds: float | None = None


@kopf.on.startup(registry=REGISTRY)
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    """kopf keeps its finalizer, progress and diff base under mooring.dev, not zalando.org."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    # kopf would turn every log line into a Kubernetes Event; Mooring posts its own.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    options: Options = memo["options"]
    memo["kube"] = Kube.from_kubeconfig(options.kubeconfig)


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
    if options.kubeconfig is None:
        return kopf.login_with_service_account(
            settings=settings, **kwargs
        ) or kopf.login_with_kubeconfig(settings=settings, **kwargs)
    return _from_kubeconfig(options.kubeconfig)


def _from_kubeconfig(path: Path) -> kopf.ConnectionInfo:
    config = yaml.safe_load(path.read_text())
    context_name = config["current-context"]
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
