"""Provision one Database: gather (cluster and server facts), decide (core), act (SQL, apply
the binding Secret and the rest, status).

Side effects: API requests through `Kube`; SQL on the shared server through
services/postgres.py. Every step is idempotent and ordered so that a reconcile cut short
anywhere (the operator killed, the server gone) converges when it runs again:

1. roles (owner, then the active login with the password to publish), 2. the database,
   extensions, 3. the binding Secret. A password that never reached the Secret is replaced
   on the next run; the login role is the same one, so there is never a second role.

Passwords are drawn here, published only in the binding Secret, and sent to PostgreSQL
as SCRAM verifiers. They are never logged, never in status, never in an Event.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mooring.api import names
from mooring.api.database import Binding, Database, DatabaseStatus
from mooring.api.documents import model_errors
from mooring.api.platform import DatabaseServer, PlatformConfig
from mooring.api.quantity import format_bytes, parse_quantity
from mooring.api.status import set_condition
from mooring.core.database import (
    POSTGRES_PORT,
    Claim,
    Endpoint,
    binding_data,
    not_a_tenant_namespace,
    over_limits,
    placement_problem,
    rotation_requested,
    secret_name,
    tenant_of_namespace,
)
from mooring.core.dbnames import database_names
from mooring.core.plan import ref
from mooring.core.render import database as render
from mooring.core.render.database import Owner
from mooring.core.scram import scram_verifier
from mooring.kube.client import Kube, KubeError
from mooring.services import postgres
from mooring.services.postgres import AdminLogin, PostgresFailure, ServerUnavailable
from mooring.services.tenants import load_platform, timestamp, utc_now

KubeObject = dict[str, Any]
Clock = Callable[[], datetime.datetime]
# A named point between steps; the operator can stop there (tests kill it at one).
Checkpoint = Callable[[str], Awaitable[None]]
CNPG = ("postgresql.cnpg.io/v1", "Cluster")
PASSWORD_BYTES = 32


async def no_checkpoint(step: str) -> None:
    return None


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


@dataclass
class Outcome:
    """What a reconcile did: the status to write, Events, and whether to try again."""

    status: dict[str, Any]
    ready: bool
    retry: bool = False
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message


@dataclass
class _Done:
    """What a plan's steps did: the status so far and how the Ready condition reads."""

    status: DatabaseStatus
    message: str
    events: list[tuple[str, str, str]]
    ready: bool = True
    reason: str = "Provisioned"


class _Stop(Exception):
    """A step found why the Database cannot be provisioned now."""

    def __init__(self, reason: str, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry = retry


# -- gather ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the cluster says about one Database before anything is done."""

    db: Database
    tenant: str
    platform: PlatformConfig
    over_limit: str | None


async def gather(kube: Kube, body: Mapping[str, Any]) -> Facts:
    """Parse the Database and check where it lives and the tier's limits; raise _Stop."""
    # The spec as written: status (and anything else the server adds) is not the model's.
    written = {k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body}
    model, errors = model_errors(Database, written)
    if model is None:
        detail = "; ".join(f"{e.dotted}: {e.message}" for e in errors)
        raise _Stop("InvalidSpec", detail, retry=False)
    assert isinstance(model, Database)
    db = model
    namespace, platform = await asyncio.gather(
        kube.get_or_none("v1", "Namespace", db.namespace), load_platform(kube)
    )
    tenant = tenant_of_namespace((namespace or {}).get("metadata", {}).get("labels"))
    if tenant is None:
        raise _Stop("NotInTenantNamespace", not_a_tenant_namespace(db.namespace))
    if platform is None:
        raise _Stop(
            "NoPlatformConfig",
            "PlatformConfig 'default' does not exist; the platform team applies platform.yaml",
        )
    tier_name, claims = await asyncio.gather(
        _tier_of(kube, tenant, platform), _claims(kube, tenant)
    )
    tier = platform.spec.tiers.get(tier_name)
    if tier is None:
        raise _Stop("UnknownTier", f"tenant {tenant!r} uses tier {tier_name!r}, which is unknown")
    over_limit = over_limits(claims, tier.databases, tier_name).get((db.namespace, db.name))
    provisioned = bool((body.get("status") or {}).get("binding"))
    if over_limit and not provisioned:
        # One already provisioned keeps working (its data is never taken away); a new one
        # waits until the tenant has room.
        raise _Stop("OverLimit", over_limit)
    return Facts(db, tenant, platform, over_limit)


async def _tier_of(kube: Kube, tenant: str, platform: PlatformConfig) -> str:
    body = await kube.get_or_none(names.API_VERSION, "Tenant", tenant)
    tier = ((body or {}).get("spec") or {}).get("tier")
    return str(tier) if tier else platform.spec.default_tier


async def _claims(kube: Kube, tenant: str) -> list[Claim]:
    """Every live Database of the tenant, across its namespaces."""
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY},{names.LABEL_TENANT}={tenant}"
    namespaces = await kube.list("v1", "Namespace", labels=selector)
    # Per namespace: the cost grows with the tenant, not with the cluster.
    listings = await asyncio.gather(
        *(kube.list(names.API_VERSION, "Database", n["metadata"]["name"]) for n in namespaces)
    )
    claims = []
    for body in (d for listing in listings for d in listing):
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        try:
            storage = parse_quantity((body.get("spec") or {}).get("storage", "1Gi"))
        except ValueError:
            continue  # its own reconcile reports the bad spec
        waiting = not ((body.get("status") or {}).get("binding"))
        claims.append(
            Claim(
                waiting, meta.get("creationTimestamp", ""), meta["namespace"], meta["name"], storage
            )
        )
    return claims


async def admin_login(kube: Kube, server: DatabaseServer) -> AdminLogin:
    """The admin credentials of a shared server, from the Secret PlatformConfig names."""
    ref_ = server.admin_secret
    where = f"Secret {ref_.namespace}/{ref_.name}"
    secret = await kube.get_or_none("v1", "Secret", ref_.name, ref_.namespace)
    if secret is None:
        raise _Stop(
            "AdminSecretMissing",
            f"{where}, the admin login of server {server.name!r}, does not exist; the platform "
            "team creates it with keys 'username' and 'password'",
        )
    data = _decode(secret)
    missing = [k for k in ("username", "password") if not data.get(k)]
    if missing:
        raise _Stop(
            "AdminSecretInvalid",
            f"{where} lacks {', '.join(missing)}; it needs keys 'username' and 'password'",
        )
    return AdminLogin(server.host, server.port, server.ssl_mode, data["username"], data["password"])


def _decode(secret: Mapping[str, Any]) -> dict[str, str]:
    raw = secret.get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in raw.items()}


def _secret_is_ours(secret: Mapping[str, Any], db: Database) -> bool:
    labels = secret.get("metadata", {}).get("labels") or {}
    return (
        labels.get(names.LABEL_MANAGED_BY) == names.MANAGED_BY
        and labels.get(names.LABEL_DATABASE) == db.name
    )


async def _binding_secret(kube: Kube, db: Database) -> dict[str, str]:
    """The values of the current binding Secret ({} when there is none yet)."""
    secret = await kube.get_or_none("v1", "Secret", secret_name(db.name), db.namespace)
    if secret is None:
        return {}
    if not _secret_is_ours(secret, db):
        raise _Stop(
            "SecretConflict",
            f"Secret {db.namespace}/{secret_name(db.name)} exists and is not this Database's; "
            "rename or delete it (Mooring does not take over a Secret it did not make)",
        )
    return _decode(secret)


# -- reconcile -------------------------------------------------------------------------------


async def reconcile(
    kube: Kube,
    body: Mapping[str, Any],
    *,
    clock: Clock = utc_now,
    checkpoint: Checkpoint = no_checkpoint,
) -> Outcome:
    """Bring the server and the cluster to what the Database says; return the status."""
    meta = body["metadata"]
    generation = meta.get("generation")
    previous = DatabaseStatus.model_validate(body.get("status") or {})
    now = timestamp(clock)
    status = previous.model_copy(update={"observed_generation": generation})

    def finish(
        ready: bool, reason: str, message: str, events: list[tuple[str, str, str]], retry: bool
    ) -> Outcome:
        conditions = set_condition(
            status.conditions,
            "Ready",
            "True" if ready else "False",
            reason,
            message,
            now,
            generation,
        )
        final = status.model_copy(
            update={"conditions": conditions, "ready": "True" if ready else "False"}
        )
        was = previous.ready == "True"
        if not ready and (was or _reason(previous) != reason):
            events.append(("Warning", reason, message))
        return Outcome(_dump(final), ready=ready, retry=retry, events=events)

    try:
        facts = await gather(kube, body)
        status = status.model_copy(update={"plan": facts.db.spec.plan})
        if facts.db.spec.plan == "shared":
            done = await _shared(kube, facts, meta, status, now, checkpoint)
        else:
            done = await _dedicated(kube, facts, meta, status)
    except _Stop as stop:
        return finish(False, stop.reason, stop.message, [], stop.retry)
    except ServerUnavailable as error:
        return finish(False, "ServerUnavailable", f"{error}; retrying until it is back", [], True)
    except PostgresFailure as error:
        reason = "AdminLoginFailed" if isinstance(error, postgres.AdminLoginFailed) else "Failed"
        return finish(False, reason, str(error), [], True)
    except KubeError as error:
        return finish(False, "ApplyFailed", str(error), [], True)
    status = done.status
    message = done.message
    if facts.over_limit:
        message += f"; over the tier's limits, so it is no longer changed: {facts.over_limit}"
    return finish(done.ready, done.reason, message, done.events, not done.ready)


def _reason(status: DatabaseStatus) -> str | None:
    return next((c.reason for c in status.conditions if c.type == "Ready"), None)


def _dump(status: DatabaseStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _owner(meta: Mapping[str, Any]) -> Owner:
    return Owner(meta["name"], meta["uid"])


async def _apply(kube: Kube, objects: list[KubeObject]) -> None:
    """Apply every object (at once: none depends on another being there first)."""
    errors: list[str] = []

    async def one(obj: KubeObject) -> None:
        try:
            await kube.apply(obj)
        except KubeError as error:
            errors.append(f"{ref(obj)}: {error.message}")

    await asyncio.gather(*(one(o) for o in objects))
    if errors:
        raise _Stop("ApplyFailed", "; ".join(errors))


# -- shared plan -----------------------------------------------------------------------------


def choose_server(db: Database, platform: PlatformConfig) -> DatabaseServer:
    settings = platform.spec.databases
    problem = placement_problem(db.spec, settings)
    if problem is not None:
        raise _Stop(problem.reason, problem.message)
    server = settings.server(db.spec.server)
    assert server is not None  # placement_problem said so
    return server


async def _shared(
    kube: Kube,
    facts: Facts,
    meta: Mapping[str, Any],
    status: DatabaseStatus,
    now: str,
    checkpoint: Checkpoint,
) -> _Done:
    db = facts.db
    # gather
    server = choose_server(db, facts.platform)
    login, current = await asyncio.gather(admin_login(kube, server), _binding_secret(kube, db))
    db_names = database_names(db.namespace, db.name)

    # decide: which login slot, which password
    rotation = rotation_requested(meta.get("annotations"), status.rotation)
    slot = db_names.slot_of(current.get("username"))
    events: list[tuple[str, str, str]] = []
    if slot is None or not current.get("password"):
        slot, password = slot or 0, new_password()
    elif rotation is not None:
        slot, password = 1 - slot, new_password()
    else:
        password = current["password"]

    # act: roles, database, extensions, then the Secret
    verifier = scram_verifier(password, secrets.token_bytes(16))
    async with postgres.session(login) as conn:
        await postgres.ensure_owner(conn, db_names)
        await postgres.ensure_login(conn, db_names, slot, verifier)
        await checkpoint("role-created")
        existed = await postgres.ensure_database(
            conn, db_names, db.spec.connection_limit, server.create_strategy
        )
        size = await postgres.database_size(conn, db_names.database)
    failed_extensions = await postgres.ensure_extensions(login, db_names, db.spec.extensions)

    endpoint = Endpoint(server.host, server.port, db_names.database, server.ssl_mode)
    binding = binding_data(endpoint, db_names.login(slot), password)
    objects = render.render_shared(
        db, server, _owner(meta), binding, facts.platform.spec.databases.dedicated
    )
    await _apply(kube, objects)
    await checkpoint("secret-written")

    if existed and status.binding is None:
        events.append(
            (
                "Normal",
                "Adopted",
                f"database {db_names.database!r} on server {server.name!r} was kept from an "
                "earlier Database of this name; adopted it, with a new password",
            )
        )
    elif status.binding is None:
        events.append(
            (
                "Normal",
                "Provisioned",
                f"database {db_names.database!r} on server {server.name!r}; credentials in "
                f"Secret {secret_name(db.name)}",
            )
        )
    update: dict[str, Any] = {
        "server": server.name,
        "endpoint": f"{server.host}:{server.port}",
        "database": db_names.database,
        "binding": Binding(name=secret_name(db.name)),
        "size": format_bytes(parse_quantity(size)) if size is not None else None,
    }
    if rotation is not None:
        update["rotation"] = rotation
        update["rotated_at"] = now
        events.append(
            (
                "Normal",
                "PasswordRotated",
                f"new password for login {db_names.login(slot)!r} in Secret "
                f"{secret_name(db.name)}; the previous login keeps working until the next "
                "rotation",
            )
        )
    status = status.model_copy(update=update)
    if failed_extensions:
        message = (
            f"could not create {'; '.join(failed_extensions)} (the shared plan creates trusted "
            "extensions only; ask the platform team for others)"
        )
        return _Done(status, message, events, ready=False, reason="ExtensionFailed")
    return _Done(status, f"database {db_names.database!r} on server {server.name!r}", events)


# -- dedicated plan --------------------------------------------------------------------------


async def _dedicated(
    kube: Kube, facts: Facts, meta: Mapping[str, Any], status: DatabaseStatus
) -> _Done:
    db = facts.db
    settings = facts.platform.spec.databases.dedicated
    problem = placement_problem(db.spec, facts.platform.spec.databases)
    if problem is not None:
        raise _Stop(problem.reason, problem.message)
    cnpg = await kube.has_kind(*CNPG)
    current = await _binding_secret(kube, db)
    database, role = render.dedicated_names(db)
    host = render.cnpg_host(db) if cnpg else render.dedicated_host(db)
    password = current.get("password") or new_password()
    endpoint = Endpoint(host, POSTGRES_PORT, database, "prefer")
    binding = binding_data(endpoint, role, password)
    owner = _owner(meta)
    events: list[tuple[str, str, str]] = []
    if cnpg:
        objects = render.render_cnpg(db, facts.tenant, settings, owner, binding)
    else:
        superuser = await kube.get_or_none("v1", "Secret", f"{db.name}-superuser", db.namespace)
        superuser_password = _decode(superuser).get("password") if superuser else None
        objects = render.render_dedicated(
            db, facts.tenant, settings, owner, binding, superuser_password or new_password()
        )
    await _apply(kube, objects)
    if rotation_requested(meta.get("annotations"), status.rotation) is not None:
        events.append(
            (
                "Warning",
                "RotationUnsupported",
                "password rotation is done for the shared plan only; a dedicated server keeps "
                "its password",
            )
        )
        status = status.model_copy(
            update={"rotation": meta.get("annotations", {}).get(names.ANNOTATION_ROTATE)}
        )
    status = status.model_copy(
        update={
            "endpoint": f"{host}:{POSTGRES_PORT}",
            "database": database,
            "binding": Binding(name=secret_name(db.name)),
        }
    )
    if db.spec.deletion_policy == "Retain":
        await _retain_volumes(kube, db, cnpg)
    if not await _server_ready(kube, db, cnpg):
        kind = "Cluster" if cnpg else "StatefulSet"
        message = f"{kind} {db.namespace}/{db.name} has no ready server yet"
        return _Done(status, message, events, ready=False, reason="Starting")
    return _Done(status, f"dedicated server {host}", events)


async def _retain_volumes(kube: Kube, db: Database, cnpg: bool) -> None:
    """Make the data volumes outlive their claims: deleting the namespace (a tenant going)
    deletes the claims, and a volume's usual reclaim policy would then delete the data."""
    if cnpg:
        claims = await kube.list(
            "v1", "PersistentVolumeClaim", db.namespace, labels=f"cnpg.io/cluster={db.name}"
        )
    else:
        claim = await kube.get_or_none(
            "v1", "PersistentVolumeClaim", f"data-{db.name}-0", db.namespace
        )
        claims = [claim] if claim else []
    for claim in claims:
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            continue  # not bound yet; the next reconcile sees it
        volume = await kube.get_or_none("v1", "PersistentVolume", volume_name)
        if volume is None or volume["spec"].get("persistentVolumeReclaimPolicy") == "Retain":
            continue
        reason = f"data of Database {db.namespace}/{db.name} (deletionPolicy Retain)"
        await kube.patch(
            "v1",
            "PersistentVolume",
            volume_name,
            {
                "metadata": {"annotations": {names.ANNOTATION_RETAINED: reason}},
                "spec": {"persistentVolumeReclaimPolicy": "Retain"},
            },
        )


async def _server_ready(kube: Kube, db: Database, cnpg: bool) -> bool:
    if cnpg:
        cluster = await kube.get_or_none(*CNPG, db.name, db.namespace)
        return int(((cluster or {}).get("status") or {}).get("readyInstances") or 0) >= 1
    sts = await kube.get_or_none("apps/v1", "StatefulSet", db.name, db.namespace)
    return int(((sts or {}).get("status") or {}).get("readyReplicas") or 0) >= 1


# -- deletion --------------------------------------------------------------------------------


class RetryLater(Exception):
    """Deletion could not finish now (the server is down); the finalizer stays."""


async def finalize(kube: Kube, body: Mapping[str, Any]) -> Outcome:
    """The Database is being deleted: drop its data only if its deletionPolicy says Delete.

    Raises RetryLater when a Delete cannot be carried out yet (the finalizer then stays and
    the deletion is retried; data is never left half-dropped silently).
    """
    meta = body["metadata"]
    spec = body.get("spec") or {}
    policy = spec.get("deletionPolicy", "Retain")
    plan = spec.get("plan", "shared")
    name, namespace = meta["name"], meta["namespace"]
    events: list[tuple[str, str, str]] = []
    if policy != "Delete":
        if plan == "dedicated":
            kept = await _keep_cnpg_volumes(kube, name, namespace)
            what = f"its volume(s) {', '.join(kept)}" if kept else "its data volume"
            message = f"deletionPolicy Retain: kept {what} in namespace {namespace}"
        else:
            db_names = database_names(namespace, name)
            server = (body.get("status") or {}).get("server") or "the shared server"
            message = (
                f"deletionPolicy Retain: kept database {db_names.database!r} and its roles on "
                f"{server}; a new Database {namespace}/{name} adopts them"
            )
        events.append(("Normal", "Retained", message))
        return Outcome({}, ready=False, events=events)
    if plan == "shared":
        platform = await load_platform(kube)
        db_names = database_names(namespace, name)
        server_name = (body.get("status") or {}).get("server") or spec.get("server")
        server = platform.spec.databases.server(server_name) if platform else None
        if server is None:
            raise RetryLater(
                f"cannot drop database {db_names.database!r}: its server "
                f"{server_name or '(default)'} is not in PlatformConfig"
            )
        try:
            login = await admin_login(kube, server)
            found = await postgres.drop(login, db_names)
        except (_Stop, PostgresFailure) as error:
            raise RetryLater(f"cannot drop database {db_names.database!r} yet: {error}") from None
        verb = "dropped" if found else "found nothing to drop for"
        events.append(
            (
                "Normal",
                "Deleted",
                f"deletionPolicy Delete: {verb} database {db_names.database!r} and its roles "
                f"on server {server.name!r}",
            )
        )
    else:
        events.append(
            ("Normal", "Deleted", "deletionPolicy Delete: the server and its volume go with it")
        )
    await kube.delete("v1", "PersistentVolumeClaim", f"{name}-backup", namespace)
    return Outcome({}, ready=False, events=events)


async def _keep_cnpg_volumes(kube: Kube, name: str, namespace: str) -> list[str]:
    """CloudNativePG's volumes are owned by its Cluster; release them so they stay."""
    if not await kube.has_kind(*CNPG):
        return []
    kept = []
    for pvc in await kube.list(
        "v1", "PersistentVolumeClaim", namespace, labels=f"cnpg.io/cluster={name}"
    ):
        await kube.patch(
            "v1",
            "PersistentVolumeClaim",
            pvc["metadata"]["name"],
            {"metadata": {"ownerReferences": None}},
            namespace=namespace,
        )
        kept.append(pvc["metadata"]["name"])
    return kept


# -- for the demo and people -----------------------------------------------------------------


async def register_server(
    kube: Kube,
    name: str,
    host: str,
    port: int,
    username: str,
    password: str,
    *,
    ssl_mode: str = "disable",
    versions: tuple[str, ...] = ("15",),
    secret_namespace: str = "mooring-system",
    field_manager: str = "mooring-databases",
) -> None:
    """Make a PostgreSQL server the platform's default shared server: its admin Secret,
    and its entry in PlatformConfig (applied under a field manager of its own, so the rest
    of the PlatformConfig is left as it is). For the demo and local setups; in production
    the platform repository holds both."""
    secret = f"postgres-{name}-admin"
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": secret_namespace},
            "data": {
                "username": base64.b64encode(username.encode()).decode(),
                "password": base64.b64encode(password.encode()).decode(),
            },
        },
        field_manager=field_manager,
    )
    await kube.apply(
        {
            "apiVersion": names.API_VERSION,
            "kind": "PlatformConfig",
            "metadata": {"name": "default"},
            "spec": {
                "databases": {
                    "defaultServer": name,
                    "servers": [
                        {
                            "name": name,
                            "host": host,
                            "port": port,
                            "sslMode": ssl_mode,
                            "versions": list(versions),
                            "adminSecret": {"namespace": secret_namespace, "name": secret},
                        }
                    ],
                }
            },
        },
        field_manager=field_manager,
    )


@dataclass(frozen=True)
class Credentials:
    """A Database's binding, read from its Secret."""

    secret: str
    values: dict[str, str]

    @property
    def conninfo(self) -> str:
        v = self.values
        return psycopg.conninfo.make_conninfo(
            host=v["host"],
            port=v["port"],
            dbname=v["database"],
            user=v["username"],
            password=v["password"],
            sslmode=v.get("sslmode", "prefer"),
            connect_timeout=5,
        )


async def credentials(kube: Kube, namespace: str, name: str) -> Credentials:
    """The binding of a Database: its status names the Secret. Raises LookupError."""
    body = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
    if body is None:
        raise LookupError(f"no Database {name!r} in namespace {namespace!r}")
    secret_ref = ((body.get("status") or {}).get("binding") or {}).get("name")
    if not secret_ref:
        reason = next(
            (
                f"{c.get('reason')}: {c.get('message')}"
                for c in (body.get("status") or {}).get("conditions", [])
                if c.get("type") == "Ready"
            ),
            "not provisioned yet",
        )
        raise LookupError(f"Database {namespace}/{name} has no credentials yet ({reason})")
    secret = await kube.get("v1", "Secret", secret_ref, namespace)
    return Credentials(secret_ref, _decode(secret))


async def wait_ready(
    kube: Kube, namespace: str, name: str, timeout: float = 60, poll: float = 0.05
) -> dict[str, Any]:
    """The Database once Ready; TimeoutError saying its last reason otherwise."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        body = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
        if body and (body.get("status") or {}).get("ready") == "True":
            generation = body["metadata"].get("generation")
            if body["status"].get("observedGeneration") == generation:
                return body
        await asyncio.sleep(poll)
    conditions = ((body or {}).get("status") or {}).get("conditions", [])
    last: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    raise TimeoutError(
        f"Database {namespace}/{name} not Ready within {timeout:.0f} s "
        f"({last.get('reason', 'no status')}: {last.get('message', '')})"
    )


@dataclass(frozen=True)
class TryResult:
    database: str
    secret: str
    rows: list[tuple[Any, ...]]
    seconds: float


async def try_database(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    spec: Mapping[str, Any] | None = None,
    timeout: float = 60,
) -> TryResult:
    """For the demo: ask for a Database, wait until it is Ready, then, with nothing but its
    Secret's values, create a table, insert and read back. Needs the operator running."""
    started = time.monotonic()
    await kube.apply(
        {
            "apiVersion": names.API_VERSION,
            "kind": "Database",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec or {"plan": "shared"}),
        }
    )
    await wait_ready(kube, namespace, name, timeout)
    binding = await credentials(kube, namespace, name)
    async with await psycopg.AsyncConnection.connect(binding.conninfo, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS mooring_demo (id serial PRIMARY KEY, said text NOT NULL)"
        )
        await conn.execute("INSERT INTO mooring_demo (said) VALUES (%s)", ["hello from Mooring"])
        cursor = await conn.execute("SELECT id, said FROM mooring_demo ORDER BY id")
        rows = [tuple(row) for row in await cursor.fetchall()]
    return TryResult(binding.values["database"], binding.secret, rows, time.monotonic() - started)
