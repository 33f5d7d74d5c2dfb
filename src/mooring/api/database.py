"""The Database resource: a managed PostgreSQL database in a tenant namespace.

Pure models. The CRD schema is generated from these classes (api/kinds.py), so the API
server and `mooring validate` refuse the same specs for the same reasons.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mooring.api.base import DnsLabel, Lenient, Model, Resource, check_name
from mooring.api.quantity import Quantity
from mooring.api.status import Condition

# A StatefulSet's pods carry `controller-revision-hash: <name>-<hash>` (a 63-character
# label value), so a dedicated server's name must stay well under 63.
MAX_DATABASE_NAME = 50
Engine = Literal["postgres"]
DatabasePlan = Literal["shared", "dedicated"]
DeletionPolicy = Literal["Retain", "Delete"]
EXTENSION_PATTERN = r"^[a-z][a-z0-9_-]*$"
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$"

ExtensionName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=EXTENSION_PATTERN,
        description="A PostgreSQL extension, such as pgcrypto or citext.",
    ),
]


class Backup(Model):
    """Scheduled backups: pg_dump to a volume (shared plan), ScheduledBackup (CloudNativePG)."""

    schedule: str = Field(
        max_length=128,
        pattern=CRON_PATTERN,
        description="When, as a cron schedule such as '0 3 * * *' (UTC) or '@daily'.",
    )
    keep: int = Field(7, ge=1, le=366, description="How many dumps to keep on the volume.")
    storage: Quantity = Field("5Gi", description="Size of the backup volume.")


class Resources(Model):
    cpu: Quantity = "500m"
    memory: Quantity = "512Mi"


class DatabaseSpec(Model):
    engine: Engine = Field("postgres", description="The database engine; only postgres today.")
    version: str = Field(
        "15", pattern=r"^[0-9]{2}$", description="PostgreSQL major version, such as '15'."
    )
    plan: DatabasePlan = Field(
        "shared",
        description="shared: a database on a server the platform operates; dedicated: a "
        "server of its own in this namespace.",
    )
    server: DnsLabel | None = Field(
        None,
        description="Shared plan: which of the platform's servers (default: the platform's "
        "defaultServer).",
    )
    storage: Quantity = Field(
        "1Gi",
        description="Disk for the data. Dedicated: the volume's size. Shared: counted against "
        "the tier's database storage.",
    )
    extensions: list[ExtensionName] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="PostgreSQL extensions to create in the database, such as pgcrypto.",
    )
    connection_limit: int = Field(
        20, ge=1, le=10000, description="At most this many connections at once."
    )
    deletion_policy: DeletionPolicy = Field(
        "Retain",
        description="Retain (default) keeps the database and its login when this resource is "
        "deleted; Delete drops them, with their data.",
    )
    backup: Backup | None = None
    resources: Resources | None = Field(
        None, description="Dedicated plan: CPU and memory of the server."
    )

    @model_validator(mode="after")
    def _plan_fields(self) -> DatabaseSpec:
        if self.plan == "dedicated" and self.server is not None:
            raise ValueError(
                "'server' names a shared server; a dedicated database has its own: remove "
                "'server' or use plan: shared"
            )
        if self.plan == "shared" and self.resources is not None:
            raise ValueError(
                "'resources' sizes a dedicated server; the shared plan has none: remove "
                "'resources' or use plan: dedicated"
            )
        return self


class Database(Resource):
    kind: Literal["Database"] = "Database"
    spec: DatabaseSpec = Field(default_factory=DatabaseSpec)

    @model_validator(mode="after")
    def _name(self) -> Database:
        check_name(self.metadata.name, MAX_DATABASE_NAME, "database")
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        if self.metadata.namespace is None:
            raise ValueError(f"Database {self.name!r} has no metadata.namespace")
        return self.metadata.namespace


class Binding(Lenient):
    """Service Binding spec's Provisioned Service: the Secret an application binds to."""

    name: str = Field(description="The Secret's name, in the Database's namespace.")


class DatabaseStatus(Lenient):
    """Written by the operator only. Never holds a password."""

    observed_generation: int | None = Field(
        None, description="The spec generation this status describes."
    )
    ready: str | None = Field(None, description="Ready condition's status, for printing.")
    plan: str | None = Field(None, description="The plan the database was provisioned with.")
    server: str | None = Field(None, description="The shared server holding the database.")
    endpoint: str | None = Field(None, description="host:port applications connect to.")
    database: str | None = Field(None, description="The database's name on the server.")
    binding: Binding | None = None
    rotation: str | None = Field(
        None, description="The last rotate-password request handled (the annotation's value)."
    )
    rotated_at: str | None = Field(None, description="When the password last changed.")
    size: str | None = Field(None, description="Space used on the server, as last seen.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Ready (and why not).",
    )
