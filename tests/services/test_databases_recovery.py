"""Databases survive the operator being killed, the PostgreSQL server going away, and the
events that mattered being lost (the resync)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from mooring.api import names
from mooring.devcluster.postgres import LocalPostgres
from mooring.kube.client import Kube
from mooring.services.databases import wait_ready
from mooring.services.postgres import ServerUnavailable
from tests.conftest import kopf_done
from tests.services.conftest import (
    NamespaceFactory,
    OperatorProcess,
    database,
    eventually,
    ready_reason,
)
from tests.services.test_databases_shared import (
    _values_or_none,
    _with_reason,
    conninfo,
    databases_of,
    roles_of,
    secret_values,
)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


@pytest.mark.parametrize(
    "step",
    ["role-created", "secret-written"],
    ids=["killed after creating the role", "killed after writing the Secret"],
)
async def test_an_operator_killed_mid_provisioning_converges_on_restart_with_one_role(
    step: str,
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    namespace = await tenant_namespace("crashy")
    operator.stop()
    operator.start("--crash-at", f"{step}@{namespace}/events")
    await kube.create(database("events", namespace))
    exit_code = await asyncio.to_thread(operator.wait_exit, 60)
    assert exit_code == -signal.SIGKILL, operator.tail()
    roles_after_crash = await roles_of(postgres, namespace)
    assert roles_after_crash == {f"{namespace}_events", f"{namespace}_events_1"}
    if step == "role-created":
        assert await _values_or_none(kube, namespace, "events") is None

    operator.start()
    body = await wait_ready(kube, namespace, "events", timeout=60)
    assert ready_reason(body)[:2] == ("True", "Provisioned")
    assert await roles_of(postgres, namespace) == roles_after_crash
    assert await databases_of(postgres, namespace) == {f"{namespace}_events"}
    values = await secret_values(kube, namespace, "events")
    async with await psycopg.AsyncConnection.connect(conninfo(values)) as conn:
        await conn.execute("SELECT 1")


async def test_a_server_outage_shows_in_status_and_heals_by_itself(
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    namespace = await tenant_namespace("outage")
    await kube.create(database("before", namespace))
    await wait_ready(kube, namespace, "before")

    postgres.stop()
    try:
        # A Database that was Ready says the server is gone, without anyone touching it ...
        body = await eventually(
            lambda: _with_reason(kube, namespace, "before", "ServerUnavailable"),
            timeout=30,
            what="ServerUnavailable on the existing Database",
        )
        assert ready_reason(body)[0] == "False"
        assert "cannot reach PostgreSQL" in ready_reason(body)[2]
        # ... and one asked for during the outage says so too.
        await kube.create(database("during", namespace))
        body = await eventually(
            lambda: _with_reason(kube, namespace, "during", "ServerUnavailable"),
            timeout=30,
            what="ServerUnavailable on the new Database",
        )
        with pytest.raises(ServerUnavailable):
            from mooring.services import postgres as sql

            await sql.ping(sql.AdminLogin(postgres.host, postgres.port, "disable", "nobody", "x"))
    finally:
        postgres.start()

    for name in ("before", "during"):
        await wait_ready(kube, namespace, name, timeout=60)
        values = await secret_values(kube, namespace, name)
        async with await psycopg.AsyncConnection.connect(conninfo(values)) as conn:
            await conn.execute("SELECT 1")


RESYNC_SECONDS = 2


async def _kopf_done(kube: Kube, namespace: str, name: str) -> bool:
    """kopf handled the Database's spec as it is and has nothing in progress for it."""
    body = await kube.get(names.API_VERSION, "Database", name, namespace)
    return kopf_done(body)


async def _lose_status(kube: Kube, namespace: str, name: str) -> None:
    """The status is gone but for kopf's record: a status change is no spec change, so
    kopf has nothing to do."""
    body = await kube.get(names.API_VERSION, "Database", name, namespace)
    stripped = {key: None for key in body["status"] if key != names.KOPF_STATUS}
    await kube.patch(
        names.API_VERSION,
        "Database",
        name,
        {"status": stripped},
        namespace=namespace,
        subresource="status",
    )


async def _status_behind(kube: Kube, namespace: str, name: str) -> None:
    """The status says an older generation than kopf's record says was handled. (Both are
    written in one request, kopf's record being in status.kopf: a lost status write loses
    the record with it, and kopf handles the spec again. This is what a status written by
    something else, or restored from an older copy, looks like.)"""
    body = await kube.get(names.API_VERSION, "Database", name, namespace)
    await kube.patch(
        names.API_VERSION,
        "Database",
        name,
        {"status": {"observedGeneration": body["metadata"]["generation"] - 1}},
        namespace=namespace,
        subresource="status",
    )


@pytest.mark.parametrize(
    "lose",
    [_lose_status, _status_behind],
    ids=["its status stripped", "its status behind kopf's record"],
)
async def test_a_database_whose_event_was_lost_is_reconciled_again_by_the_resync(
    lose: Callable[[Kube, str, str], Awaitable[None]],
    kube: Kube,
    operator: OperatorProcess,
    tenant_namespace: NamespaceFactory,
    postgres: LocalPostgres,
) -> None:
    """Issue 14: a Database whose status is missing or behind its generation, with no event
    left for kopf to act on, is reconciled again by the resync alone (within two of its
    intervals and a reconcile: 2 s intervals here), and only that one, not its Ready twin."""
    namespace = await tenant_namespace("resync")
    operator.stop()
    operator.start("--resync-seconds", str(RESYNC_SECONDS))
    try:
        for name in ("lost", "twin"):
            await kube.create(database(name, namespace))
        for name in ("lost", "twin"):
            await wait_ready(kube, namespace, name, timeout=60)
            await eventually(
                lambda name=name: _kopf_done(kube, namespace, name), 60, f"kopf done: {name}"
            )
        series = 'mooring_resync_picked_up_total{kind="Database"}'
        before = operator.metric(series)
        said = f"Database {namespace}/lost: status behind the spec"
        lines_before = operator.log.read_text(errors="replace").count(said)

        await lose(kube, namespace, "lost")
        lost = await kube.get(names.API_VERSION, "Database", "lost", namespace)
        observed = (lost.get("status") or {}).get("observedGeneration")
        assert observed is None or observed < lost["metadata"]["generation"], lost.get("status")

        body = await wait_ready(kube, namespace, "lost", timeout=60)
        assert ready_reason(body)[:2] == ("True", "Provisioned"), body["status"]
        await eventually(
            lambda: _async(operator.metric(series) == before + 1),
            10,
            "the resync's count to go up by one (the lost Database, not its twin)",
        )
        assert operator.log.read_text(errors="replace").count(said) == lines_before + 1, (
            operator.tail()
        )
        async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn()) as conn:
            cursor = await conn.execute(
                "SELECT datconnlimit FROM pg_database WHERE datname = %s", [f"{namespace}_lost"]
            )
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == body["spec"]["connectionLimit"], (row, body["spec"])
        values = await secret_values(kube, namespace, "lost")
        async with await psycopg.AsyncConnection.connect(conninfo(values)) as conn:
            await conn.execute("SELECT 1")
        assert operator.running()
    finally:
        operator.stop()
        operator.start()


async def _async(value: bool) -> bool:
    return value
