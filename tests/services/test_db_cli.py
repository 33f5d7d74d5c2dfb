"""`mooring db` as a tenant member runs it: their own kubeconfig, their role's rights."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.core.render.rbac import cluster_role_name
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube
from mooring.services.databases import wait_ready
from tests.services.conftest import NamespaceFactory, OperatorProcess, database

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


async def mooring(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("mooring")), *args]
    return await asyncio.to_thread(
        subprocess.run, command, input=stdin, capture_output=True, text=True, timeout=60
    )


async def member(
    kube: Kube, cluster: DevCluster, folder: Path, namespace: str, user: str, role: str
) -> str:
    await kube.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{user}-{role}", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role_name(role),
            },
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )
    path = folder / f"{user}.kubeconfig"
    path.write_text(cluster.mint_kubeconfig(user))
    return str(path)


async def test_a_developer_lists_reads_credentials_and_connects(
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    dev_cluster: DevCluster,
    tmp_path: Path,
) -> None:
    namespace = await tenant_namespace("cli")
    developer = await member(kube, dev_cluster, tmp_path, namespace, "dora", "developer")
    viewer = await member(kube, dev_cluster, tmp_path, namespace, "vic", "viewer")
    await kube.create(database("shop", namespace))
    await wait_ready(kube, namespace, "shop")

    listed = await mooring("db", "list", "-n", namespace, "--kubeconfig", developer, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["ready"], row["secret"]) == ("shop", "True", "shop-credentials")

    env = await mooring("db", "credentials", "shop", "-n", namespace, "--kubeconfig", developer)
    assert env.returncode == 0, env.stderr
    assert "export PGPASSWORD=" in env.stdout and "export PGDATABASE=" in env.stdout

    session = await mooring(
        "db",
        "connect",
        "shop",
        "-n",
        namespace,
        "--kubeconfig",
        developer,
        stdin="SELECT 40 + 2 AS answer;\n",
    )
    assert session.returncode == 0, session.stderr
    assert "42" in session.stdout

    # A viewer sees the Database but not its password.
    seen = await mooring("db", "list", "-n", namespace, "--kubeconfig", viewer)
    assert seen.returncode == 0 and "shop-credentials" in seen.stdout
    refused = await mooring("db", "credentials", "shop", "-n", namespace, "--kubeconfig", viewer)
    assert refused.returncode == 3
    assert "developer or owner role" in refused.stderr

    missing = await mooring("db", "credentials", "nope", "-n", namespace, "--kubeconfig", developer)
    assert missing.returncode == 2 and "no Database 'nope'" in missing.stderr
