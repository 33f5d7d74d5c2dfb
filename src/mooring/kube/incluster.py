"""The in-cluster login, as a pod has it: the API server from KUBERNETES_SERVICE_HOST and
KUBERNETES_SERVICE_PORT, the ServiceAccount's token, CA and namespace from a folder.

Side effects: reads the environment and the folder. The folder is the kubelet's mount
(/var/run/secrets/kubernetes.io/serviceaccount) unless $MOORING_SERVICE_ACCOUNT_DIR names
another, which is how tests run the operator "in a pod" on the local control plane. Both
of the operator's clients (kopf's and Mooring's) log in through here; the token is read
again as the kubelet rotates it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DIR_VARIABLE = "MOORING_SERVICE_ACCOUNT_DIR"


class InClusterError(RuntimeError):
    """Not in a pod (or the ServiceAccount is not mounted); the message says what is missing."""


@dataclass(frozen=True)
class InCluster:
    server: str
    ca_path: Path
    token_path: Path
    namespace: str

    def token(self) -> str:
        return self.token_path.read_text().strip()


def load(environ: Mapping[str, str] | None = None) -> InCluster:
    """The pod's login; InClusterError naming what is missing when there is none."""
    env = os.environ if environ is None else environ
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    folder = Path(env.get(DIR_VARIABLE) or SERVICE_ACCOUNT_DIR)
    if not host or not port:
        raise InClusterError(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: this is not a "
            "pod; outside a cluster pass --kubeconfig instead of --in-cluster"
        )
    missing = [name for name in ("token", "ca.crt") if not (folder / name).is_file()]
    if missing:
        raise InClusterError(
            f"no {' or '.join(missing)} in {folder}: the pod's ServiceAccount token is not "
            "mounted (automountServiceAccountToken: false?)"
        )
    namespace_file = folder / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return InCluster(
        server=f"https://{host}:{port}",
        ca_path=folder / "ca.crt",
        token_path=folder / "token",
        namespace=namespace or env.get("POD_NAMESPACE", ""),
    )
