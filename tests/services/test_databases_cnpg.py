"""Where CloudNativePG is installed, a dedicated Database becomes a CloudNativePG Cluster.

CloudNativePG's own CRDs (tests/fixtures/cloudnative-pg, v1.25.1) are installed, so the
API server checks the rendered Cluster and ScheduledBackup against the real schema. No
CloudNativePG controller runs here, so the Database stays `Starting`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from mooring.api import names
from mooring.kube.client import Kube
from mooring.services.install import apply_objects
from tests.services.conftest import (
    NamespaceFactory,
    OperatorProcess,
    database,
    eventually,
    ready_reason,
)
from tests.services.test_databases_shared import _with_reason, secret_values

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudnative-pg"


@pytest_asyncio.fixture
async def cloudnative_pg(kube: Kube, operator: OperatorProcess) -> AsyncIterator[None]:
    crds = [yaml.safe_load(path.read_text()) for path in sorted(FIXTURES.glob("*.yaml"))]
    await apply_objects(kube, crds)
    operator.stop()  # a fresh operator discovers the new kinds at once
    operator.start()
    yield
    for crd in crds:
        await kube.delete(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
        )
    kube.forget_discovery()
    operator.stop()  # and forgets them again, for the tests after this one
    operator.start()


async def test_a_dedicated_database_becomes_a_cloudnative_pg_cluster(
    kube: Kube, cloudnative_pg: None, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("elephant")
    await kube.create(
        database(
            "ledger",
            namespace,
            plan="dedicated",
            storage="5Gi",
            extensions=["pgcrypto"],
            backup={"schedule": "0 4 * * *"},
        )
    )
    body = await eventually(
        lambda: _with_reason(kube, namespace, "ledger", "Starting"), timeout=60, what="Starting"
    )
    assert "Cluster" in ready_reason(body)[2]
    cluster = await kube.get("postgresql.cnpg.io/v1", "Cluster", "ledger", namespace)
    assert cluster["spec"]["storage"]["size"] == "5Gi"
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"] == {"name": "ledger-app"}
    backup = await kube.get("postgresql.cnpg.io/v1", "ScheduledBackup", "ledger-backup", namespace)
    assert backup["spec"]["schedule"] == "0 0 4 * * *"
    values = await secret_values(kube, namespace, "ledger")
    assert values["host"] == f"ledger-rw.{namespace}.svc"
    app = await kube.get("v1", "Secret", "ledger-app", namespace)
    assert app["type"] == "kubernetes.io/basic-auth"
    # Marked Ready once CloudNativePG reports a ready instance.
    await kube.patch(
        "postgresql.cnpg.io/v1",
        "Cluster",
        "ledger",
        {"status": {"readyInstances": 1}},
        namespace=namespace,
        subresource="status",
    )
    await kube.patch(
        names.API_VERSION,
        "Database",
        "ledger",
        {"spec": {"connectionLimit": 30}},
        namespace=namespace,
    )
    body = await eventually(
        lambda: _with_reason(kube, namespace, "ledger", "Provisioned"), timeout=60, what="Ready"
    )
    assert ready_reason(body)[0] == "True"
