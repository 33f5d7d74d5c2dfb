"""Dedicated-plan Databases: the rendered server is accepted by the API server (Pod Security
restricted included) and its pod runs on a kwok node; backups are scheduled."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mooring.api import names
from mooring.kube.client import Kube
from mooring.services.databases import wait_ready
from tests.services.conftest import NamespaceFactory, OperatorProcess, database, eventually
from tests.services.test_databases_shared import secret_values

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


async def _volume(kube: Kube, size: str, policy: str = "Retain") -> str:
    """A pre-provisioned volume (no storage provisioner runs in the local control plane)."""
    name = f"pv-{uuid.uuid4().hex[:8]}"
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": policy,
                "hostPath": {"path": f"/tmp/{name}"},
            },
        }
    )
    return name


async def _restricted(kube: Kube, namespace: str) -> None:
    await kube.patch(
        "v1",
        "Namespace",
        namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )


async def test_a_dedicated_server_is_accepted_and_its_pod_runs_on_a_kwok_node(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("solo")
    await _restricted(kube, namespace)
    volume = await _volume(kube, "2Gi", policy="Delete")
    await kube.create(
        database(
            "billing",
            namespace,
            plan="dedicated",
            storage="2Gi",
            extensions=["citext"],
            backup={"schedule": "30 2 * * *", "keep": 3},
            resources={"cpu": "250m", "memory": "256Mi"},
        )
    )

    body = await wait_ready(kube, namespace, "billing", timeout=90)
    assert body["status"]["endpoint"] == f"billing.{namespace}.svc:5432"
    pods = await kube.list("v1", "Pod", namespace, labels=f"{names.LABEL_DATABASE}=billing")
    server = [p for p in pods if p["metadata"]["name"] == "billing-0"]
    assert server and server[0]["status"]["phase"] == "Running"
    assert server[0]["spec"]["nodeName"].startswith("kwok")
    pvc = await kube.get("v1", "PersistentVolumeClaim", "data-billing-0", namespace)
    assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["volumeName"] == volume
    for api, kind, name in (
        ("v1", "Service", "billing"),
        ("v1", "Service", "billing-headless"),
        ("networking.k8s.io/v1", "NetworkPolicy", "billing-database"),
        ("policy/v1", "PodDisruptionBudget", "billing"),
        ("v1", "ConfigMap", "billing-init"),
        ("batch/v1", "CronJob", "billing-backup"),
        ("v1", "PersistentVolumeClaim", "billing-backup"),
    ):
        assert await kube.get_or_none(api, kind, name, namespace), f"{kind} {name}"
    policy = await kube.get("networking.k8s.io/v1", "NetworkPolicy", "billing-database", namespace)
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers == [{"namespaceSelector": {"matchLabels": {names.LABEL_TENANT: "solo"}}}]
    values = await secret_values(kube, namespace, "billing")
    assert values["host"] == f"billing.{namespace}.svc"
    assert values["username"] == "billing" and values["database"] == "billing"
    sts = await kube.get("apps/v1", "StatefulSet", "billing", namespace)
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    # Retain: the volume outlives its claim (the namespace may go with its tenant).
    pv = await kube.get("v1", "PersistentVolume", volume)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert "billing" in pv["metadata"]["annotations"][names.ANNOTATION_RETAINED]


async def test_a_shared_database_with_a_backup_schedule_gets_a_pg_dump_cronjob(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("careful")
    await _restricted(kube, namespace)
    await _volume(kube, "5Gi")  # for the dumps
    await kube.create(database("audit", namespace, backup={"schedule": "@daily", "keep": 2}))
    await wait_ready(kube, namespace, "audit")
    cronjob: dict[str, Any] = await kube.get("batch/v1", "CronJob", "audit-backup", namespace)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "audit-credentials"}}]
    assert "pg_dump" in pod["containers"][0]["command"][-1]
    # A Job made from it now is admitted under Pod Security restricted and runs on kwok.
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "audit-backup-now", "namespace": namespace},
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }
    await kube.create(job)

    async def job_pod_running() -> bool:
        pods = await kube.list("v1", "Pod", namespace, labels="job-name=audit-backup-now")
        return any(p["status"].get("phase") in ("Running", "Succeeded") for p in pods)

    await eventually(job_pod_running, timeout=60, what="the backup Job's pod to run")
