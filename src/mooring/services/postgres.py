"""The SQL side of a shared-plan Database: roles, database, extensions, on a PostgreSQL server.

Side effects: connections to the server with the platform's admin login. Every statement
is idempotent (check, then create or alter), so a step cut short (the operator killed, the
server gone) is simply run again. Identifiers reach SQL only through psycopg's
sql.Identifier, values through parameters or sql.Literal; passwords only as SCRAM
verifiers (core/scram.py), never as text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from mooring.core.dbnames import DatabaseNames

CONNECT_TIMEOUT = 5
# Admin connections this process opens at once, per server (each Database takes one for a
# moment; a burst of new Databases queues here instead of exhausting max_connections).
CONCURRENCY = 8


class PostgresFailure(Exception):
    """Something went wrong on the server; str() says what, never a password."""


class ServerUnavailable(PostgresFailure):
    """The server cannot be reached (down, refusing, timing out)."""


class AdminLoginFailed(PostgresFailure):
    """The server answered but refused the admin login from the admin Secret."""


@dataclass(frozen=True)
class AdminLogin:
    host: str
    port: int
    ssl_mode: str
    username: str
    password: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def conninfo(self, dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.username,
            password=self.password,
            dbname=dbname,
            sslmode=self.ssl_mode,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="mooring",
        )


_LIMITS: dict[str, asyncio.Semaphore] = {}


def _limit(login: AdminLogin) -> asyncio.Semaphore:
    return _LIMITS.setdefault(login.where, asyncio.Semaphore(CONCURRENCY))


@contextlib.asynccontextmanager
async def session(
    login: AdminLogin, dbname: str = "postgres"
) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """An autocommit admin connection; failures come out as PostgresFailure subclasses."""
    async with _limit(login):
        try:
            conn = await psycopg.AsyncConnection.connect(login.conninfo(dbname), autocommit=True)
        except psycopg.OperationalError as error:
            raise _connect_failure(login, error) from None
        try:
            async with conn:
                yield conn
        except psycopg.OperationalError as error:
            raise ServerUnavailable(
                f"lost the connection to PostgreSQL at {login.where}: {_first_line(error)}"
            ) from None
        except psycopg.Error as error:
            raise PostgresFailure(f"PostgreSQL at {login.where}: {_first_line(error)}") from None


# The server answered, but is not (yet, or any more) serving: an outage, not a refusal.
_TRANSIENT = ("starting up", "shutting down", "recovery mode", "too many clients")


def _connect_failure(login: AdminLogin, error: psycopg.OperationalError) -> PostgresFailure:
    text = str(error)
    # libpq gives no SQLSTATE for a failed connection; a FATAL means the server refused us.
    refused = (error.sqlstate or "").startswith("28") or (
        "FATAL:" in text and not any(t in text for t in _TRANSIENT)
    )
    if refused:
        return AdminLoginFailed(
            f"PostgreSQL at {login.where} refused the admin login {login.username!r}: "
            f"{_first_line(error)}; check the admin Secret named in PlatformConfig"
        )
    return ServerUnavailable(f"cannot reach PostgreSQL at {login.where}: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    """The error's message on one line; for a failed connection, just the reason."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, psycopg.OperationalError) and "failed: " in text:
        # libpq: 'connection failed: connection to server at "h", port p failed: <reason>'
        text = text.rsplit("failed: ", 1)[1]
    return text


async def ping(login: AdminLogin) -> None:
    """Raises ServerUnavailable (or AdminLoginFailed) unless the server answers."""
    async with session(login) as conn:
        await conn.execute("SELECT 1")


# -- roles and database --------------------------------------------------------------------


async def existing_roles(
    conn: psycopg.AsyncConnection[tuple[object, ...]], roles: Sequence[str]
) -> set[str]:
    cursor = await conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(roles)]
    )
    return {str(row[0]) for row in await cursor.fetchall()}


async def database_exists(conn: psycopg.AsyncConnection[tuple[object, ...]], name: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return await cursor.fetchone() is not None


async def ensure_owner(
    conn: psycopg.AsyncConnection[tuple[object, ...]], names: DatabaseNames
) -> None:
    """The NOLOGIN role that owns the database and everything the application creates."""
    owner = sql.Identifier(names.owner)
    if names.owner not in await existing_roles(conn, [names.owner]):
        await conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(owner))
    # The admin needs membership to create, alter and drop what the owner owns (it need not
    # be a superuser).
    cursor = await conn.execute(
        "SELECT pg_has_role(current_user, %s, 'MEMBER'), "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        [names.owner],
    )
    member, superuser = await cursor.fetchone() or (False, False)
    if not member and not superuser:
        await conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(owner))


async def ensure_login(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    names: DatabaseNames,
    slot: int,
    verifier: str,
) -> None:
    """Login role `slot` with this password (as a SCRAM verifier), a member of the owner.

    Every session of the login starts as the owner (`SET role`), so the tables it creates
    belong to the owner and stay reachable by the other login after a rotation.
    """
    login = names.login(slot)
    role = sql.Identifier(login)
    password = sql.Literal(verifier)
    if login in await existing_roles(conn, [login]):
        # Only what a CREATEROLE admin may alter; the rest was set at creation.
        await conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, password))
    else:
        await conn.execute(
            sql.SQL(
                "CREATE ROLE {} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION PASSWORD {}"
            ).format(role, password)
        )
    cursor = await conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [login, names.owner])
    row = await cursor.fetchone()
    if not (row and row[0]):
        await conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(names.owner), role))
    await conn.execute(
        sql.SQL("ALTER ROLE {} SET role TO {}").format(role, sql.Literal(names.owner))
    )


async def ensure_database(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    names: DatabaseNames,
    connection_limit: int,
    strategy: Literal["WAL_LOG", "FILE_COPY"] | None = None,
) -> bool:
    """The database, owned by the owner role, closed to PUBLIC. True if it already existed."""
    database = sql.Identifier(names.database)
    owner = sql.Identifier(names.owner)
    existed = await database_exists(conn, names.database)
    if not existed:
        create = sql.SQL("CREATE DATABASE {} OWNER {}").format(database, owner)
        if strategy is not None:
            create += sql.SQL(" STRATEGY {}").format(sql.SQL(strategy))  # one of two keywords
        await conn.execute(create)
    else:
        await conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, owner))
    await conn.execute(
        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database)
    )
    await conn.execute(
        sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
            database, sql.Literal(int(connection_limit))
        )
    )
    return existed


async def database_size(conn: psycopg.AsyncConnection[tuple[object, ...]], name: str) -> int | None:
    cursor = await conn.execute(
        "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s", [name]
    )
    row = await cursor.fetchone()
    return int(str(row[0])) if row else None


async def ensure_extensions(
    login: AdminLogin, names: DatabaseNames, extensions: Sequence[str]
) -> list[str]:
    """CREATE EXTENSION for each, as the owner; the ones that failed, with why.

    As the owner (not a superuser), only trusted extensions can be created; the error says
    so. An extension removed from the spec is kept: dropping it could drop data.
    """
    if not extensions:
        return []
    failures: list[str] = []
    async with session(login, names.database) as conn:
        await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(names.owner)))
        for extension in extensions:
            try:
                await conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension))
                )
            except psycopg.OperationalError:
                raise
            except psycopg.Error as error:
                failures.append(f"{extension}: {_first_line(error)}")
    return failures


async def drop(login: AdminLogin, names: DatabaseNames) -> bool:
    """Drop the database (ending its connections) and its roles. True if anything was there."""
    async with session(login) as conn:
        found = await database_exists(conn, names.database) or bool(
            await existing_roles(conn, names.roles)
        )
        await conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(names.database)
            )
        )
        for role in (*names.logins, names.owner):
            await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    return found
