"""The SQL steps against a real PostgreSQL: idempotent, quoting hostile names, least privilege."""

from __future__ import annotations

import os
import secrets
import subprocess

import psycopg
import pytest

from mooring.api.database import Database
from mooring.core.dbnames import DatabaseNames, database_names, shorten
from mooring.core.render.database import INIT_SCRIPT, init_environment
from mooring.core.scram import scram_verifier
from mooring.devcluster.postgres import Admin, LocalPostgres
from mooring.services import postgres as sql
from mooring.services.postgres import AdminLogin, AdminLoginFailed

pytestmark = pytest.mark.postgres


def login(postgres: LocalPostgres, admin: Admin) -> AdminLogin:
    return AdminLogin(postgres.host, postgres.port, "disable", admin.username, admin.password)


async def provision(server: AdminLogin, names: DatabaseNames, password: str) -> bool:
    verifier = scram_verifier(password, secrets.token_bytes(16))
    async with sql.session(server) as conn:
        await sql.ensure_owner(conn, names)
        await sql.ensure_login(conn, names, 0, verifier)
        return await sql.ensure_database(conn, names, 5)


def hostile(base: str) -> DatabaseNames:
    return DatabaseNames(base, base, (shorten(f"{base}_1"), shorten(f"{base}_2")))


HOSTILE = [
    pytest.param('x"; DROP ROLE mooring_admin; --', id="a quote and a semicolon"),
    pytest.param("robert'); DROP DATABASE postgres; --", id="a single quote"),
    pytest.param("données-été_ü_ß_日本語", id="unicode"),
    pytest.param("$$ SELECT pg_sleep(10) $$", id="dollar quoting"),
    pytest.param(shorten("very-long-" * 20), id="shortened from 200 characters"),
    pytest.param(shorten("é" * 40), id="shortened unicode, cut between characters"),
]


@pytest.mark.parametrize("base", HOSTILE)
async def test_hostile_names_are_quoted_and_stored_exactly(
    base: str, postgres: LocalPostgres, admin: Admin
) -> None:
    names = hostile(base)
    server = login(postgres, admin)
    password = secrets.token_urlsafe(16)
    assert await provision(server, names, password) is False

    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn()) as conn:
        cursor = await conn.execute("SELECT datname FROM pg_database WHERE datname = %s", [base])
        assert await cursor.fetchone() == (base,)
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
            [[names.owner, names.logins[0], admin.username]],
        )
        assert (await cursor.fetchone() or [0])[0] == 3  # the admin was not dropped
    dsn = psycopg.conninfo.make_conninfo(
        host=postgres.host,
        port=postgres.port,
        user=names.logins[0],
        password=password,
        dbname=names.database,
        sslmode="disable",
    )
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cursor = await conn.execute("SELECT current_database(), current_user")
        assert await cursor.fetchone() == (base, base)  # sessions run as the owner
    assert await sql.drop(server, names) is True


async def test_provisioning_twice_changes_nothing_but_the_password(
    postgres: LocalPostgres, admin: Admin
) -> None:
    names = database_names("twice-dev", "orders")
    server = login(postgres, admin)
    assert await provision(server, names, "first-password") is False
    assert await provision(server, names, "second-password") is True
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn()) as conn:
        cursor = await conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'twice-dev%' ORDER BY 1"
        )
        assert [r[0] for r in await cursor.fetchall()] == [names.owner, names.logins[0]]
        cursor = await conn.execute(
            "SELECT datconnlimit, pg_get_userbyid(datdba), "
            "has_database_privilege('public', datname, 'CONNECT') "
            "FROM pg_database WHERE datname = %s",
            [names.database],
        )
        assert await cursor.fetchone() == (5, names.owner, False)
        cursor = await conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles "
            "WHERE rolname = %s",
            [names.logins[0]],
        )
        assert await cursor.fetchone() == (False, False, False, True)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await psycopg.AsyncConnection.connect(
            postgres.dsn(names.logins[0], "first-password", names.database)
        )
    async with await psycopg.AsyncConnection.connect(
        postgres.dsn(names.logins[0], "second-password", names.database)
    ) as conn:
        await conn.execute("SELECT 1")
    await sql.drop(server, names)


@pytest.mark.parametrize("strategy", ["WAL_LOG", "FILE_COPY"])
async def test_the_servers_create_strategy_is_used(
    strategy: str, postgres: LocalPostgres, admin: Admin
) -> None:
    names = database_names("strategy-dev", strategy.lower().replace("_", "-"))
    server = login(postgres, admin)
    async with sql.session(server) as conn:
        await sql.ensure_owner(conn, names)
        assert await sql.ensure_database(conn, names, 5, strategy) is False  # type: ignore[arg-type]
        assert await sql.ensure_database(conn, names, 5, strategy) is True  # type: ignore[arg-type]
    await sql.drop(server, names)


async def test_an_untrusted_extension_is_reported_not_fatal(
    postgres: LocalPostgres, admin: Admin
) -> None:
    names = database_names("ext-dev", "app")
    server = login(postgres, admin)
    await provision(server, names, "pw-pw-pw")
    failures = await sql.ensure_extensions(server, names, ["citext", "adminpack", "no_such_ext"])
    assert [f.split(":")[0] for f in failures] == ["adminpack", "no_such_ext"]
    assert "permission denied" in failures[0]
    await sql.drop(server, names)


async def test_a_wrong_admin_password_is_told_apart_from_a_server_that_is_down(
    postgres: LocalPostgres, admin: Admin
) -> None:
    wrong = AdminLogin(postgres.host, postgres.port, "disable", admin.username, "wrong")
    with pytest.raises(AdminLoginFailed, match="refused the admin login"):
        await sql.ping(wrong)
    with pytest.raises(AdminLoginFailed) as caught:
        await sql.ping(wrong)
    assert "wrong" not in str(caught.value)  # never a password in a message


async def test_the_dedicated_servers_init_script_runs_on_a_real_server(
    postgres: LocalPostgres,
) -> None:
    """The script the image's entrypoint runs, against Debian's PostgreSQL with psql."""
    db = Database.model_validate(
        {
            "metadata": {"name": "inventory", "namespace": "shop-dev"},
            "spec": {"plan": "dedicated", "extensions": ["citext", "pgcrypto"]},
        }
    )
    password = 'it\'s a "quoted"; password'
    env = {
        "PATH": f"{postgres.bin}:{os.environ['PATH']}",
        "PGHOST": postgres.host,
        "PGPORT": str(postgres.port),
        "PGPASSWORD": postgres.superuser_password,
        "POSTGRES_USER": "postgres",
        "APP_USERNAME": "inventory",
        "APP_PASSWORD": password,
        "APP_DATABASE": "inventory",
        **init_environment(db),
    }
    result = subprocess.run(
        ["sh", "-c", INIT_SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    async with await psycopg.AsyncConnection.connect(
        postgres.dsn("inventory", password, "inventory")
    ) as conn:
        cursor = await conn.execute("SELECT extname FROM pg_extension ORDER BY 1")
        assert [r[0] for r in await cursor.fetchall()] == ["citext", "pgcrypto", "plpgsql"]
        cursor = await conn.execute(
            "SELECT datconnlimit FROM pg_database WHERE datname = 'inventory'"
        )
        assert await cursor.fetchone() == (20,)
    async with await psycopg.AsyncConnection.connect(
        postgres.superuser_dsn(), autocommit=True
    ) as conn:
        await conn.execute("DROP DATABASE inventory WITH (FORCE)")
        await conn.execute("DROP ROLE inventory")
