"""Shared-plan Databases, end to end: the real operator, the real API server, real PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import psycopg
import pytest

from mooring.api import names
from mooring.devcluster.postgres import LocalPostgres
from mooring.kube.client import Kube
from mooring.services.databases import credentials, wait_ready
from tests.services.conftest import (
    NamespaceFactory,
    OperatorProcess,
    database,
    eventually,
    ready_reason,
)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


def conninfo(values: dict[str, str], **override: str) -> str:
    """Only the Secret's values (what an application gets)."""
    params = {
        "host": values["host"],
        "port": values["port"],
        "dbname": values["database"],
        "user": values["username"],
        "password": values["password"],
        "sslmode": values["sslmode"],
        "connect_timeout": "5",
    }
    return psycopg.conninfo.make_conninfo(**{**params, **override})


async def secret_values(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1", "Secret", f"{name}-credentials", namespace)
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def roles_of(postgres: LocalPostgres, namespace: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn()) as conn:
        cursor = await conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"{namespace}\\_%"]
        )
        return {row[0] for row in await cursor.fetchall()}


async def databases_of(postgres: LocalPostgres, namespace: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn()) as conn:
        cursor = await conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"{namespace}\\_%"]
        )
        return {row[0] for row in await cursor.fetchall()}


async def test_a_database_gets_a_secret_that_connects_and_stores_data(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("shop")
    await kube.create(database("orders", namespace, extensions=["pgcrypto"]))

    body = await wait_ready(kube, namespace, "orders", timeout=60)
    values = await secret_values(kube, namespace, "orders")

    async with await psycopg.AsyncConnection.connect(conninfo(values), autocommit=True) as conn:
        await conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
        await conn.execute("INSERT INTO orders (item) VALUES (%s), (%s)", ["tea", "cake"])
        cursor = await conn.execute("SELECT item FROM orders ORDER BY id")
        assert [row[0] for row in await cursor.fetchall()] == ["tea", "cake"]
        cursor = await conn.execute("SELECT encode(digest('x', 'sha256'), 'hex')")
        assert (await cursor.fetchone() or [""])[0].startswith("2d711642")  # pgcrypto works
    async with await psycopg.AsyncConnection.connect(values["uri"]) as conn:
        cursor = await conn.execute("SELECT count(*) FROM orders")
        assert (await cursor.fetchone() or [0])[0] == 2

    # The Service Binding spec's keys, a typed Secret owned by the Database.
    secret = await kube.get("v1", "Secret", "orders-credentials", namespace)
    assert secret["type"] == "servicebinding.io/postgresql"
    assert {"type", "provider", "host", "port", "database", "username", "password", "uri"} <= set(
        values
    )
    assert values["type"] == "postgresql" and values["provider"] == "mooring"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
    # Status: Ready with reason, endpoint, Secret name, observedGeneration; no password.
    status = body["status"]
    assert ready_reason(body)[:2] == ("True", "Provisioned")
    assert status["endpoint"] == f"{values['host']}:{values['port']}"
    assert status["binding"] == {"name": "orders-credentials"}
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert values["password"] not in str(body)
    events = await kube.list("v1", "Event", namespace)
    assert any(e["reason"] == "Provisioned" for e in events)
    assert all(values["password"] not in str(e) for e in events)
    # The same through the service the CLI and the demo use.
    binding = await credentials(kube, namespace, "orders")
    assert binding.values == values


async def test_a_tenants_credentials_cannot_reach_another_tenants_database(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    a = await tenant_namespace("alpha")
    b = await tenant_namespace("beta")
    await kube.create(database("app", a))
    await kube.create(database("app", b))
    await wait_ready(kube, a, "app")
    await wait_ready(kube, b, "app")
    a_values = await secret_values(kube, a, "app")
    b_values = await secret_values(kube, b, "app")
    assert a_values["database"] != b_values["database"]

    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        await psycopg.AsyncConnection.connect(conninfo(a_values, dbname=b_values["database"]))
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        await psycopg.AsyncConnection.connect(conninfo(a_values, dbname="postgres"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await psycopg.AsyncConnection.connect(
            conninfo(a_values, user=b_values["username"], dbname=b_values["database"])
        )
    # And B's own credentials do work.
    async with await psycopg.AsyncConnection.connect(conninfo(b_values)) as conn:
        await conn.execute("SELECT 1")


async def test_retain_keeps_the_data_and_a_new_database_of_the_same_name_adopts_it(
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    namespace = await tenant_namespace("keeper")
    await kube.create(database("ledger", namespace))
    await wait_ready(kube, namespace, "ledger")
    first = await secret_values(kube, namespace, "ledger")
    async with await psycopg.AsyncConnection.connect(conninfo(first), autocommit=True) as conn:
        await conn.execute("CREATE TABLE entries (amount int)")
        await conn.execute("INSERT INTO entries VALUES (42)")

    await kube.delete(names.API_VERSION, "Database", "ledger", namespace)
    await eventually(lambda: _gone(kube, namespace, "ledger"), what="the Database to be deleted")
    assert first["database"] in await databases_of(postgres, namespace)
    events = await kube.list("v1", "Event", namespace)
    retained = [e for e in events if e["reason"] == "Retained"]
    assert retained and "kept database" in retained[0]["message"]

    await kube.create(database("ledger", namespace))
    body = await wait_ready(kube, namespace, "ledger")
    second = await secret_values(kube, namespace, "ledger")
    assert second["database"] == first["database"]
    assert second["password"] != first["password"]  # the old one went with the old Secret
    async with await psycopg.AsyncConnection.connect(conninfo(second)) as conn:
        cursor = await conn.execute("SELECT amount FROM entries")
        assert (await cursor.fetchone() or [0])[0] == 42
    events = await kube.list("v1", "Event", namespace)
    assert any(
        e["reason"] == "Adopted" and e["involvedObject"]["uid"] == body["metadata"]["uid"]
        for e in events
    )


async def test_delete_drops_the_database_and_its_roles(
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    namespace = await tenant_namespace("dropper")
    await kube.create(database("scratch", namespace, deletionPolicy="Delete"))
    await wait_ready(kube, namespace, "scratch")
    values = await secret_values(kube, namespace, "scratch")
    connection = await psycopg.AsyncConnection.connect(conninfo(values))  # left open on purpose
    assert await databases_of(postgres, namespace) == {values["database"]}

    await kube.delete(names.API_VERSION, "Database", "scratch", namespace)
    await eventually(lambda: _gone(kube, namespace, "scratch"), what="the Database to go")
    assert await databases_of(postgres, namespace) == set()
    assert await roles_of(postgres, namespace) == set()
    assert await kube.get_or_none("v1", "Secret", "scratch-credentials", namespace) is None or (
        await eventually(
            lambda: _secret_gone(kube, namespace, "scratch-credentials"), what="GC of the Secret"
        )
    )
    await connection.close()


async def test_deleting_a_tenant_namespace_keeps_retained_databases(
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    namespace = await tenant_namespace("leaving")
    await kube.create(database("kept", namespace))
    await kube.create(database("dropped", namespace, deletionPolicy="Delete"))
    await wait_ready(kube, namespace, "kept")
    await wait_ready(kube, namespace, "dropped")
    kept = (await secret_values(kube, namespace, "kept"))["database"]

    # What a tenant with deletionPolicy Delete ends in: its namespace deleted with everything.
    await kube.delete("v1", "Namespace", namespace)
    await eventually(
        lambda: _namespace_gone(kube, namespace), timeout=60, what="the namespace to go"
    )
    assert await databases_of(postgres, namespace) == {kept}


async def test_rotation_issues_a_new_password_and_old_connections_keep_working(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("rotor")
    await kube.create(database("cache", namespace))
    await wait_ready(kube, namespace, "cache")
    before = await secret_values(kube, namespace, "cache")
    async with await psycopg.AsyncConnection.connect(conninfo(before), autocommit=True) as conn:
        await conn.execute("CREATE TABLE kv (k text PRIMARY KEY, v text)")
        await conn.execute("INSERT INTO kv VALUES ('a', '1')")
    held = await psycopg.AsyncConnection.connect(conninfo(before), autocommit=True)

    await _rotate(kube, namespace, "cache", "2026-01-01T00:00:00Z")
    after = await eventually(
        lambda: _rotated(kube, namespace, "cache", before["password"]), what="a new password"
    )
    body = await eventually(
        lambda: _rotation_recorded(kube, namespace, "cache", "2026-01-01T00:00:00Z"),
        what="status.rotation",
    )
    assert ready_reason(body)[:2] == ("True", "Provisioned")
    assert body["status"]["rotatedAt"]
    assert after["username"] != before["username"]
    # New connections with the new Secret see the same tables, and may write to them.
    async with await psycopg.AsyncConnection.connect(conninfo(after), autocommit=True) as conn:
        await conn.execute("INSERT INTO kv VALUES ('b', '2')")
        cursor = await conn.execute("SELECT count(*) FROM kv")
        assert (await cursor.fetchone() or [0])[0] == 2
        await conn.execute("CREATE TABLE later (x int)")
    # Applications still holding the old values keep connecting until the next rotation.
    async with await psycopg.AsyncConnection.connect(conninfo(before), autocommit=True) as conn:
        await conn.execute("INSERT INTO later VALUES (1)")
    await held.execute("SELECT count(*) FROM kv")
    await held.close()

    # A second rotation retires the first password.
    await _rotate(kube, namespace, "cache", "2026-01-02T00:00:00Z")
    third = await eventually(
        lambda: _rotated(kube, namespace, "cache", after["password"]), what="a third password"
    )
    assert third["username"] == before["username"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await psycopg.AsyncConnection.connect(conninfo(before))
    async with await psycopg.AsyncConnection.connect(conninfo(after)) as conn:
        await conn.execute("SELECT 1")
    async with await psycopg.AsyncConnection.connect(conninfo(third)) as conn:
        cursor = await conn.execute("SELECT count(*) FROM later")
        assert (await cursor.fetchone() or [0])[0] == 1


async def test_a_deleted_binding_secret_comes_back_with_working_credentials(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("careless")
    await kube.create(database("notes", namespace))
    await wait_ready(kube, namespace, "notes")
    await kube.delete("v1", "Secret", "notes-credentials", namespace)
    values = await eventually(
        lambda: _values_or_none(kube, namespace, "notes"), what="the Secret to come back"
    )
    async with await psycopg.AsyncConnection.connect(conninfo(values)) as conn:
        await conn.execute("SELECT 1")


async def test_a_database_outside_a_tenant_namespace_is_refused_with_a_clear_condition(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace(labelled=False)
    # The admission policy refuses it in the API server ...
    with pytest.raises(Exception, match="is not a tenant namespace"):
        await kube.create(database("stray", namespace))
    # ... and should it get in anyway (the policy not installed), the operator refuses it too.
    await kube.delete(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "mooring-databases-in-tenant-namespaces",
    )
    try:
        await eventually(
            lambda: _created(kube, database("stray", namespace)), what="the policy to be gone"
        )
        body = await eventually(
            lambda: _with_reason(kube, namespace, "stray", "NotInTenantNamespace"),
            what="the condition",
        )
        assert "is not a tenant namespace" in ready_reason(body)[2]
        assert await kube.get_or_none("v1", "Secret", "stray-credentials", namespace) is None
    finally:
        from mooring.core.render.database import admission_policy

        await kube.apply(admission_policy()[1])


async def test_the_tiers_database_count_is_enforced_first_come_first_served(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    tenant = "counted"
    dev = await tenant_namespace(tenant)
    prod = await tenant_namespace(tenant)  # the limit is per tenant, across environments
    for index, namespace in enumerate((dev, prod, dev)):
        await kube.create(database(f"db{index}", namespace, storage="1Gi"))
        await wait_ready(kube, namespace, f"db{index}")
    await kube.create(database("db3", prod))  # the small tier allows 3
    try:
        body = await eventually(
            lambda: _with_reason(kube, prod, "db3", "OverLimit"), what="OverLimit"
        )
    except AssertionError:
        seen = await kube.get_or_none(names.API_VERSION, "Database", "db3", prod)
        raise AssertionError(f"db3: {(seen or {}).get('status')}") from None
    assert "allows 3 database(s)" in ready_reason(body)[2]
    assert await kube.get_or_none("v1", "Secret", "db3-credentials", prod) is None
    # Storage too: one more over the budget in another tenant.
    other = await tenant_namespace("hoarder")
    await kube.create(database("big", other, storage="11Gi"))
    body = await eventually(
        lambda: _with_reason(kube, other, "big", "OverLimit"), what="OverLimit on storage"
    )
    assert "10Gi of database storage" in ready_reason(body)[2]


async def test_hostile_values_are_refused_by_the_api_server(
    kube: Kube, operator: OperatorProcess, tenant_namespace: NamespaceFactory
) -> None:
    namespace = await tenant_namespace("hostile")
    cases: list[tuple[dict[str, Any], str]] = [
        (database('x"; DROP ROLE postgres; --', namespace), "metadata.name"),
        (database("a" * 51, namespace), "at most 50 characters"),
        (
            database("ok", namespace, extensions=['pgcrypto"; DROP DATABASE postgres; --']),
            "extensions",
        ),
        (database("ok", namespace, extensions=["crypté"]), "extensions"),
        (database("ok", namespace, plan="dedicated", server="shared-1"), "spec.server"),
    ]
    for obj, expected in cases:
        with pytest.raises(Exception, match=expected):
            await kube.create(obj)


# -- helpers ---------------------------------------------------------------------------------


async def _gone(kube: Kube, namespace: str, name: str) -> bool:
    return await kube.get_or_none(names.API_VERSION, "Database", name, namespace) is None


async def _secret_gone(kube: Kube, namespace: str, name: str) -> bool:
    return await kube.get_or_none("v1", "Secret", name, namespace) is None


async def _namespace_gone(kube: Kube, namespace: str) -> bool:
    return await kube.get_or_none("v1", "Namespace", namespace) is None


async def _rotate(kube: Kube, namespace: str, name: str, value: str) -> None:
    await kube.patch(
        names.API_VERSION,
        "Database",
        name,
        {"metadata": {"annotations": {names.ANNOTATION_ROTATE: value}}},
        namespace=namespace,
    )


async def _values_or_none(kube: Kube, namespace: str, name: str) -> dict[str, str] | None:
    secret = await kube.get_or_none("v1", "Secret", f"{name}-credentials", namespace)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def _rotated(kube: Kube, namespace: str, name: str, old: str) -> dict[str, str] | None:
    values = await _values_or_none(kube, namespace, name)
    return values if values and values["password"] != old else None


async def _rotation_recorded(
    kube: Kube, namespace: str, name: str, value: str
) -> dict[str, Any] | None:
    body = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
    return body if ((body or {}).get("status") or {}).get("rotation") == value else None


async def _with_reason(kube: Kube, namespace: str, name: str, reason: str) -> dict[str, Any] | None:
    body = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
    return body if ready_reason(body)[1] == reason else None


async def _created(kube: Kube, obj: dict[str, Any]) -> bool:
    try:
        await kube.create(obj)
    except Exception:
        return False
    return True
