"""What a pod of the operator gets from the kubelet, made on the local control plane: a
ServiceAccount token (TokenRequest API, signed by the API server), the cluster CA and the
namespace in a folder, and the KUBERNETES_SERVICE_* variables. A process started with
`pod_env` logs in exactly as in a pod (kube/incluster.py), as its ServiceAccount."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mooring.core.render.platform import OPERATOR, SYSTEM_NAMESPACE
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube


async def mount_service_account(
    kube: Kube,
    cluster: DevCluster,
    folder: Path,
    namespace: str = SYSTEM_NAMESPACE,
    account: str = OPERATOR,
) -> Path:
    """Write token, ca.crt and namespace as the kubelet mounts them; returns the folder."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    granted = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body=request,
        what=f"a token for {namespace}/{account}",
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(granted["status"]["token"])
    shutil.copyfile(cluster.pki / "ca.crt", folder / "ca.crt")
    (folder / "namespace").write_text(namespace)
    return folder


def pod_env(
    cluster: DevCluster, folder: Path, pod: str, namespace: str = SYSTEM_NAMESPACE
) -> dict[str, str]:
    """The environment of a pod named `pod`: no kubeconfig, only the in-cluster login."""
    state = cluster.state()
    assert state is not None, "the control plane is not running"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return {
        **env,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(state.api_port),
        "MOORING_SERVICE_ACCOUNT_DIR": str(folder),
        "POD_NAME": pod,
        "POD_NAMESPACE": namespace,
        "PYTHONUNBUFFERED": "1",
    }
