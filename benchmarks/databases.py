"""Benchmark: from a Database created to a successful query with its Secret (shared plan).

On a fresh local control plane with Debian's PostgreSQL and the operator running as its
own process:
- one at a time: N Databases created one after another, each timed from the create request
  to the first successful query made with nothing but its Secret's values (p50, p99);
- at once: N more Databases created together; each timed the same way, and the time until
  the last one answers;
- the floor, in the same run, both ways: the same SQL provisioning done directly (roles,
  database, revoke, as services/postgres.py does it, with the same limit of concurrent admin
  sessions) followed by the same query, without Kubernetes or the operator; the difference
  is what the platform costs.

The Secrets are noticed through one watch (not by polling), so the measurement does not
load the API server. Prints the figures and the machine's load average.

Usage: .venv/bin/python benchmarks/databases.py [--count 100] [--strategy FILE_COPY]
(PROFILE=out.prof profiles the operator with cProfile.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from mooring.api import names
from mooring.core.dbnames import database_names
from mooring.core.render.platform import install
from mooring.core.scram import scram_verifier
from mooring.devcluster.cluster import DevCluster, NodeShape, free_port, operator_command
from mooring.devcluster.postgres import Admin, LocalPostgres
from mooring.kube.client import Kube
from mooring.services import postgres as sql
from mooring.services.install import apply_objects

NAMESPACE = "bench-dev"
ADMIN_SECRET = ("mooring-system", "postgres-bench-admin")


def platform(port: int, strategy: str | None) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": {
            "defaultTier": "bench",
            "tiers": {
                "bench": {
                    "quota": {"cpu": "8", "memory": "16Gi", "pods": 50},
                    "databases": {"count": 10000, "storage": "100Ti"},
                }
            },
            "databases": {
                "defaultServer": "bench",
                "servers": [
                    {
                        "name": "bench",
                        "host": "127.0.0.1",
                        "port": port,
                        "sslMode": "disable",
                        "adminSecret": {"namespace": ADMIN_SECRET[0], "name": ADMIN_SECRET[1]},
                        **({"createStrategy": strategy} if strategy else {}),
                    }
                ],
            },
        },
    }


async def prepare(kube: Kube, server: LocalPostgres, admin: Admin, strategy: str | None) -> None:
    await apply_objects(kube, install())
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ADMIN_SECRET[1], "namespace": ADMIN_SECRET[0]},
            "data": {
                "username": base64.b64encode(admin.username.encode()).decode(),
                "password": base64.b64encode(admin.password.encode()).decode(),
            },
        }
    )
    await kube.apply(platform(server.port, strategy))
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {names.LABEL_TENANT: "bench", names.LABEL_MANAGED_BY: "mooring"},
            },
        }
    )


class Secrets:
    """One watch on the namespace's Secrets: when each binding Secret first appears."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.seen: dict[str, dict[str, str]] = {}
        self.arrived: dict[str, asyncio.Event] = {}
        self.task: asyncio.Task[None] | None = None

    def expect(self, name: str) -> asyncio.Event:
        return self.arrived.setdefault(name, asyncio.Event())

    async def run(self) -> None:
        version = None
        while True:
            _, version = await self.kube.list_with_version("v1", "Secret", NAMESPACE)
            async for kind, obj in self.kube.watch(
                "v1", "Secret", NAMESPACE, resource_version=version
            ):
                if kind in ("ADDED", "MODIFIED") and obj.get("data"):
                    name = obj["metadata"]["name"]
                    self.seen[name] = {
                        k: base64.b64decode(v).decode() for k, v in obj["data"].items()
                    }
                    self.expect(name).set()


async def query_until_it_answers(values: dict[str, str], deadline: float) -> None:
    conninfo = psycopg.conninfo.make_conninfo(
        host=values["host"],
        port=values["port"],
        dbname=values["database"],
        user=values["username"],
        password=values["password"],
        sslmode=values["sslmode"],
    )
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo) as conn:
                await conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


async def one(kube: Kube, watch: Secrets, name: str, timeout: float = 120) -> float:
    """Seconds from the create request to a successful query with the Secret's values."""
    arrived = watch.expect(f"{name}-credentials")
    started = time.monotonic()
    await kube.create(
        {
            "apiVersion": names.API_VERSION,
            "kind": "Database",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"plan": "shared"},
        }
    )
    await asyncio.wait_for(arrived.wait(), timeout)
    await query_until_it_answers(watch.seen[f"{name}-credentials"], started + timeout)
    return time.monotonic() - started


async def floor_one(server: LocalPostgres, admin: Admin, name: str, strategy: Any) -> float:
    """The same provisioning SQL and query, straight to PostgreSQL (no Kubernetes)."""
    login = sql.AdminLogin(server.host, server.port, "disable", admin.username, admin.password)
    started = time.monotonic()
    db_names = database_names("floor-dev", name)
    password = secrets.token_urlsafe(32)
    async with sql.session(login) as conn:
        await sql.ensure_owner(conn, db_names)
        await sql.ensure_login(conn, db_names, 0, scram_verifier(password, secrets.token_bytes(16)))
        await sql.ensure_database(conn, db_names, 20, strategy)
    values = {
        "host": server.host,
        "port": str(server.port),
        "database": db_names.database,
        "username": db_names.logins[0],
        "password": password,
        "sslmode": "disable",
    }
    await query_until_it_answers(values, started + 60)
    return time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def describe(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} n={len(values):<4} p50 {percentile(values, 50) * 1000:7.0f} ms   "
        f"p99 {percentile(values, 99) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms   "
        f"mean {statistics.fmean(values) * 1000:7.0f} ms"
    )


async def measure(
    cluster: DevCluster, server: LocalPostgres, admin: Admin, count: int, strategy: str | None
) -> None:
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        watch = Secrets(kube)
        watch.task = asyncio.create_task(watch.run())
        await asyncio.sleep(1)  # the watch is open
        # A first Database warms up the operator (discovery, connections) and is not counted.
        await one(kube, watch, "warmup")

        sequential = [await one(kube, watch, f"seq{i:04d}") for i in range(count)]

        started = time.monotonic()
        burst = await asyncio.gather(*(one(kube, watch, f"burst{i:04d}") for i in range(count)))
        burst_total = time.monotonic() - started
        watch.task.cancel()

    floor_sequential = [
        await floor_one(server, admin, f"seq{i:04d}", strategy) for i in range(count)
    ]
    started = time.monotonic()
    floor_burst = await asyncio.gather(
        *(floor_one(server, admin, f"burst{i:04d}", strategy) for i in range(count))
    )
    floor_total = time.monotonic() - started
    print()
    print(describe("one at a time (operator)", sequential))
    print(describe("  floor: same SQL straight to PG", floor_sequential))
    print(describe(f"{count} at once (operator), each", list(burst)))
    print(describe("  floor: same SQL straight to PG", list(floor_burst)))
    print(f"{f'{count} at once (operator), all':<34} {burst_total:.2f} s until the last answered")
    print(f"{'  floor: same SQL straight to PG':<34} {floor_total:.2f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument(
        "--strategy",
        choices=["WAL_LOG", "FILE_COPY"],
        default=None,
        help="the shared server's createStrategy (default: the server's own, WAL_LOG)",
    )
    args = parser.parse_args()
    print(f"createStrategy: {args.strategy or 'server default (WAL_LOG)'}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)")
    root = Path(tempfile.mkdtemp(prefix="mooring-bench-databases-"))
    cluster = DevCluster(root / "cluster", NodeShape(count=1))
    server = LocalPostgres()
    process: subprocess.Popen[bytes] | None = None
    try:
        cluster.up(say=lambda _: None)
        server.start()
        admin = server.create_admin()

        async def setup() -> None:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                await prepare(kube, server, admin, args.strategy)

        asyncio.run(setup())
        config = cluster.operator_kubeconfig(root / "operator.kubeconfig")
        log = (root / "operator.log").open("wb")
        profile = (
            ["-m", "cProfile", "-o", os.environ["PROFILE"]] if os.environ.get("PROFILE") else []
        )
        process = subprocess.Popen(
            operator_command(
                config,
                free_port(),
                "--log-level",
                os.environ.get("OPERATOR_LOG_LEVEL", "warning"),
                python=profile,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(3)  # kopf lists and watches before the first Database, as in production
        asyncio.run(measure(cluster, server, admin, args.count, args.strategy))
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        server.remove()
        cluster.down(say=lambda _: None, purge=True)
        print(f"operator log: {root / 'operator.log'}")


if __name__ == "__main__":
    main()
