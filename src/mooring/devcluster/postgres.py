"""A local PostgreSQL server from Debian's packages, for `mooring dev`, the demo and the tests.

Side effects: creates a data folder, runs initdb, pg_ctl start/stop as local processes on a
loopback port. initdb refuses to run as root, so when started by root every program runs
as the `postgres` user (`runuser`), with a folder that user owns. Durability is traded for
speed (fsync off): this server plays the platform's shared server on one machine, nothing
more.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

DEFAULT_VERSION = "15"
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """The local server could not be set up, started or stopped; says which step and why."""


@dataclass(frozen=True)
class Admin:
    """A login the platform uses to create databases and roles (not a superuser)."""

    username: str
    password: str


def find_binaries(version: str = DEFAULT_VERSION) -> Path:
    """Where initdb, pg_ctl and postgres live ($MOORING_PG_BIN, else Debian's folder)."""
    configured = os.environ.get("MOORING_PG_BIN")
    folder = Path(configured) if configured else Path(f"/usr/lib/postgresql/{version}/bin")
    if not (folder / "initdb").exists():
        raise PostgresError(
            f"PostgreSQL {version} is not installed ({folder}/initdb is missing); run "
            "scripts/bootstrap (it installs Debian's postgresql) or set MOORING_PG_BIN"
        )
    return folder


class LocalPostgres:
    """One server in its own folder (created under /tmp when none is given)."""

    def __init__(
        self, root: Path | None = None, port: int | None = None, version: str = DEFAULT_VERSION
    ) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="mooring-postgres-"))
        self.bin = find_binaries(version)
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._password_file = self.root / "superuser-password"
        self._as_postgres = os.geteuid() == 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """initdb on first use, then start and wait until it accepts connections."""
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        options = " ".join(
            f"-c {setting}"
            for setting in (
                f"port={self.port}",
                f"listen_addresses={self.host}",
                f"unix_socket_directories={self.root}",
                "max_connections=300",
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                "password_encryption=scram-sha-256",
            )
        )
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "start",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                options,
            ],
            "start the server",
        )

    def stop(self) -> None:
        """Stop at once (connections are cut); a no-op when it is not running."""
        if not (self.data / "postmaster.pid").exists():
            return
        self._run(
            [str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"],
            "stop the server",
        )

    def running(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def remove(self) -> None:
        """Stop and delete the folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- access ---------------------------------------------------------------------------------

    @property
    def superuser_password(self) -> str:
        return self._password_file.read_text().strip()

    def dsn(self, user: str, password: str, dbname: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            dbname=dbname,
            sslmode="disable",
            connect_timeout=5,
        )

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return self.dsn(SUPERUSER, self.superuser_password, dbname)

    def create_admin(self, username: str = "mooring_admin") -> Admin:
        """A platform login with just what provisioning needs: CREATEROLE, CREATEDB, and
        pg_signal_backend (to end connections when a database is dropped)."""
        password = secrets.token_urlsafe(24)
        with psycopg.connect(self.superuser_dsn(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [username]
            ).fetchone()
            verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                    verb, sql.Identifier(username), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(username)))
            # Tenants' logins have no business in the maintenance database.
            conn.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(sql.Identifier(username))
            )
        return Admin(username, password)

    # -- internals ------------------------------------------------------------------------------

    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self._password_file.chmod(0o600)
        if self._as_postgres:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
            shutil.chown(self._password_file, SUPERUSER, SUPERUSER)
        self.root.chmod(0o700)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                f"--pwfile={self._password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            "initialise the data folder (initdb)",
        )

    def _run(self, argv: list[str], what: str) -> None:
        if self._as_postgres:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            raise PostgresError(
                f"could not {what} in {self.root} (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n{log}".rstrip()
            )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
