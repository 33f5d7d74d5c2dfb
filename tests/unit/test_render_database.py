"""Pure renderers of a Database's objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mooring.api import names
from mooring.api.database import Database
from mooring.api.platform import DatabaseServer, DedicatedSettings, PeerSelector, SecretRef
from mooring.core.policy.context import build_context
from mooring.core.policy.engine import Engine
from mooring.core.render.database import (
    Owner,
    admission_policy,
    render_cnpg,
    render_dedicated,
    render_shared,
)

OWNER = Owner("orders", "uid-1")
BINDING = {"username": "orders", "password": "pw", "database": "orders"}


def db(**spec: Any) -> Database:
    return Database.model_validate(
        {"metadata": {"name": "orders", "namespace": "shop-dev"}, "spec": spec}
    )


def server(host: str = "10.0.0.5", peer: PeerSelector | None = None) -> DatabaseServer:
    return DatabaseServer(
        name="main", host=host, admin_secret=SecretRef(namespace="ops", name="pg"), peer=peer
    )


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def test_shared_renders_the_binding_and_egress_to_the_server() -> None:
    objects = render_shared(db(), server(), OWNER, BINDING, DedicatedSettings())
    assert kinds(objects) == ["Secret/orders-credentials", "NetworkPolicy/orders-database-egress"]
    secret, policy = objects
    assert secret["type"] == "servicebinding.io/postgresql"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert names.LABEL_TENANT not in secret["metadata"]["labels"]  # not the tenant's to prune
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.0.0.5/32"}}]


def test_egress_to_a_server_named_by_dns_needs_its_peer() -> None:
    objects = render_shared(db(), server("pg.example.com"), OWNER, BINDING, DedicatedSettings())
    assert kinds(objects) == ["Secret/orders-credentials"]
    peer = PeerSelector(namespace="databases", pod_labels={"app": "postgres"})
    objects = render_shared(db(), server("pg.db.svc", peer), OWNER, BINDING, DedicatedSettings())
    to = objects[1]["spec"]["egress"][0]["to"][0]
    assert to["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "databases"}}


def test_a_backup_volume_is_never_owned_by_the_database() -> None:
    objects = render_shared(
        db(backup={"schedule": "@daily"}), server(), OWNER, BINDING, DedicatedSettings()
    )
    by_name = {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}
    assert "ownerReferences" not in by_name["PersistentVolumeClaim/orders-backup"]["metadata"]
    cronjob = by_name["CronJob/orders-backup"]
    assert cronjob["spec"]["schedule"] == "@daily"
    assert (
        "tail -n +8"
        in cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][
            -1
        ]
    )


@pytest.mark.parametrize(
    ("policy", "when_deleted"),
    [("Retain", "Retain"), ("Delete", "Delete")],
    ids=["Retain keeps the data volume", "Delete deletes it with the server"],
)
def test_dedicated_volume_follows_the_deletion_policy(policy: str, when_deleted: str) -> None:
    objects = render_dedicated(
        db(plan="dedicated", deletionPolicy=policy),
        "shop",
        DedicatedSettings(),
        OWNER,
        BINDING,
        "superpw",
    )
    assert kinds(objects) == [
        "Secret/orders-credentials",
        "Secret/orders-superuser",
        "ConfigMap/orders-init",
        "Service/orders-headless",
        "Service/orders",
        "NetworkPolicy/orders-database",
        "PodDisruptionBudget/orders",
        "StatefulSet/orders",
    ]
    sts = objects[-1]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == when_deleted
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == DedicatedSettings().images["15"]
    assert all("value" not in e or "PASSWORD" not in e["name"] for e in container["env"])


def test_cloudnativepg_gets_a_cluster_and_a_scheduled_backup_with_seconds() -> None:
    objects = render_cnpg(
        db(plan="dedicated", extensions=["citext"], backup={"schedule": "0 3 * * *"}),
        "shop",
        DedicatedSettings(),
        OWNER,
        BINDING,
    )
    by_kind = {o["kind"]: o for o in objects}
    initdb = by_kind["Cluster"]["spec"]["bootstrap"]["initdb"]
    assert initdb["postInitApplicationSQL"] == ['CREATE EXTENSION IF NOT EXISTS "citext"']
    assert by_kind["ScheduledBackup"]["spec"]["schedule"] == "0 0 3 * * *"


def test_the_admission_policy_names_the_tenant_labels() -> None:
    policy, binding = admission_policy()
    expression = policy["spec"]["validations"][0]["expression"]
    assert names.LABEL_TENANT in expression and names.LABEL_MANAGED_BY in expression
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]


def test_database_workloads_pass_every_guardrail_of_the_tenant_namespace() -> None:
    """Mooring's own workloads in a tenant namespace meet the rules it enforces there."""
    objects = render_dedicated(
        db(plan="dedicated", backup={"schedule": "@daily"}),
        "shop",
        DedicatedSettings(),
        OWNER,
        BINDING,
        "superpw",
    )
    objects += render_shared(
        db(backup={"schedule": "@daily"}), server(), OWNER, BINDING, DedicatedSettings()
    )
    assert {"StatefulSet", "CronJob"} <= {o["kind"] for o in objects}
    context = build_context("shop-dev", None, now=datetime(2026, 1, 1, tzinfo=UTC))
    judged = [
        (o["kind"], result.rule.id, [v.message for v in result.violations])
        for o in objects
        for result in Engine().evaluate(o, context)
        if result.verdict != "pass"
    ]
    assert judged == []
    (cluster,) = [
        o
        for o in render_cnpg(db(plan="dedicated"), "shop", DedicatedSettings(), OWNER, BINDING)
        if o["kind"] == "Cluster"
    ]
    assert cluster["spec"]["imagePullPolicy"] == "Always"
