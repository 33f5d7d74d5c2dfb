"""Databases survive the operator being killed and the PostgreSQL server going away."""

from __future__ import annotations

import asyncio
import signal

import psycopg
import pytest

from mooring.devcluster.postgres import LocalPostgres
from mooring.kube.client import Kube
from mooring.services.databases import wait_ready
from mooring.services.postgres import ServerUnavailable
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
