"""Pure decisions about Databases: where they may live, tier limits, the binding's values.

Nothing here talks to PostgreSQL or Kubernetes; services/databases.py gathers the facts,
asks these functions, and acts.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from mooring.api import names
from mooring.api.database import DatabaseSpec
from mooring.api.platform import DatabaseLimits, DatabaseSettings
from mooring.api.quantity import format_bytes, parse_quantity

BINDING_TYPE = "postgresql"
BINDING_PROVIDER = "mooring"
SECRET_TYPE = f"servicebinding.io/{BINDING_TYPE}"
POSTGRES_PORT = 5432


def secret_name(database: str) -> str:
    """The binding Secret of a Database."""
    return f"{database}-credentials"


def tenant_of_namespace(labels: Mapping[str, str] | None) -> str | None:
    """The tenant a namespace belongs to, or None when Mooring did not make it for one."""
    labels = labels or {}
    if labels.get(names.LABEL_MANAGED_BY) != names.MANAGED_BY:
        return None
    return labels.get(names.LABEL_TENANT) or None


def not_a_tenant_namespace(namespace: str) -> str:
    return (
        f"namespace {namespace!r} is not a tenant namespace (it lacks the labels "
        f"{names.LABEL_TENANT} and {names.LABEL_MANAGED_BY}={names.MANAGED_BY}); a Database "
        "lives next to a tenant's workloads: create it in one of your tenant's namespaces"
    )


@dataclass(frozen=True)
class Problem:
    """Why a Database cannot be placed: a condition reason, a `validate` code, the field."""

    reason: str
    code: str
    message: str
    path: tuple[str, ...]


def placement_problem(spec: DatabaseSpec, settings: DatabaseSettings) -> Problem | None:
    """Does the platform offer what the spec asks for: a shared server running its version,
    or a dedicated image of its version? The operator and `mooring validate` both ask."""
    if spec.plan == "dedicated":
        if spec.version in settings.dedicated.images:
            return None
        offered = ", ".join(sorted(settings.dedicated.images))
        return Problem(
            "UnsupportedVersion",
            "unsupported-database-version",
            f"dedicated servers run PostgreSQL {offered}, not {spec.version}; set "
            "spec.version to one of those",
            ("spec", "version"),
        )
    server = settings.server(spec.server)
    if server is None:
        offered = ", ".join(s.name for s in settings.servers) or "none"
        return Problem(
            "UnknownServer",
            "unknown-database-server",
            f"no shared server {spec.server or '(default)'!r} in PlatformConfig (offered: "
            f"{offered}); name one of them in spec.server, or ask the platform team to set "
            "databases.defaultServer",
            ("spec", "server") if spec.server else ("spec", "plan"),
        )
    if spec.version not in server.versions:
        return Problem(
            "UnsupportedVersion",
            "unsupported-database-version",
            f"server {server.name!r} runs PostgreSQL {', '.join(server.versions)}, not "
            f"{spec.version}; set spec.version to one of those",
            ("spec", "version"),
        )
    return None


@dataclass(frozen=True, order=True)
class Claim:
    """One Database as the tier limits see it; ordered by who came first.

    Databases already provisioned come before the ones still waiting (a limit lowered later
    never displaces them, and creation times, to the second, cannot order a quick series);
    then by creation time.
    """

    waiting: bool  # not provisioned yet
    created: str  # RFC 3339 creationTimestamp (or a document's order, offline)
    namespace: str
    name: str
    storage: Decimal

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def over_limits(
    claims: Iterable[Claim], limits: DatabaseLimits, tier: str
) -> dict[tuple[str, str], str]:
    """Which of a tenant's Databases the tier does not admit, and why.

    First come, first served: in order (see Claim), a Database is admitted while the count
    and the storage admitted so far leave room for it. A refused one consumes nothing, so a
    later, smaller one may still fit.
    """
    budget = parse_quantity(limits.storage)
    count = 0
    storage = Decimal(0)
    refused: dict[tuple[str, str], str] = {}
    for claim in sorted(claims):
        if count + 1 > limits.count:
            refused[claim.key] = (
                f"tier {tier!r} allows {limits.count} database(s) per tenant and the tenant "
                f"has {count} already; delete one, or ask the platform team for a larger tier"
            )
        elif storage + claim.storage > budget:
            refused[claim.key] = (
                f"tier {tier!r} allows {limits.storage} of database storage per tenant; "
                f"{format_bytes(storage)} is taken and this one asks for "
                f"{format_bytes(claim.storage)}: ask for less spec.storage, or a larger tier"
            )
        else:
            count += 1
            storage += claim.storage
    return refused


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    database: str
    ssl_mode: str


def binding_data(endpoint: Endpoint, username: str, password: str) -> dict[str, str]:
    """The binding Secret's values (Service Binding spec keys, plus libpq's own variables,
    so `envFrom` gives an application both conventions)."""
    quote = urllib.parse.quote
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    uri = (
        f"postgresql://{quote(username, safe='')}:{quote(password, safe='')}@{host}:"
        f"{endpoint.port}/{quote(endpoint.database, safe='')}?sslmode={endpoint.ssl_mode}"
    )
    return {
        "type": BINDING_TYPE,
        "provider": BINDING_PROVIDER,
        "host": endpoint.host,
        "port": str(endpoint.port),
        "database": endpoint.database,
        "username": username,
        "password": password,
        "sslmode": endpoint.ssl_mode,
        "uri": uri,
        "DATABASE_URL": uri,
        "PGHOST": endpoint.host,
        "PGPORT": str(endpoint.port),
        "PGDATABASE": endpoint.database,
        "PGUSER": username,
        "PGPASSWORD": password,
        "PGSSLMODE": endpoint.ssl_mode,
    }


def rotation_requested(annotations: Mapping[str, str] | None, handled: str | None) -> str | None:
    """The rotate-password request to handle now (the annotation's value), if any."""
    value = (annotations or {}).get(names.ANNOTATION_ROTATE)
    if not value or value == handled:
        return None
    return value


def backoff(attempt: int, base: float = 2, cap: float = 60) -> float:
    """Seconds before retry number `attempt` (0, 1, 2, ...): 2, 4, 8 ... up to a minute."""
    return float(min(cap, base * 2 ** max(0, attempt)))
