"""kopf handlers for Databases. Thin: events in, services.databases out.

- Database created, changed or resumed: services.databases.reconcile; status, Events;
  retried with backoff while it cannot finish. Setting the rotate-password annotation is
  a change like any other (kopf's own annotations live under kopf.mooring.dev).
- Database deleted: services.databases.finalize (kopf's finalizer is mooring.dev/finalizer):
  Retain keeps the data, Delete drops it; a Delete that cannot reach the server waits.
- Its binding Secret deleted: the Database is reconciled again (a new password is issued).
- Shared servers are probed every few seconds: when one goes down, its Databases say so at
  once; when it is back, they are reconciled and Ready again without anyone's help.
- A Database left behind (status behind its spec, nothing happening to it) is reconciled
  again by the resync (operator/resync.py), under the same lock as the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any

import kopf

from mooring.api import names
from mooring.api.database import DatabaseStatus
from mooring.api.status import set_condition
from mooring.core.database import backoff
from mooring.kube.client import Kube, KubeError, NotFound
from mooring.kube.events import post_event
from mooring.operator.logs import waiting_message
from mooring.operator.metrics import DATABASE_READY, RECONCILES
from mooring.operator.registry import REGISTRY
from mooring.operator.resync import Key, Seen, Source, behind, resync_of
from mooring.operator.settings import Options
from mooring.services import databases as service
from mooring.services import postgres
from mooring.services.tenants import load_platform, timestamp, utc_now

DATABASES = (names.GROUP, names.VERSION, "databases")
HEALTH_INTERVAL = 5.0
log = logging.getLogger("mooring.databases")


def _lock(memo: kopf.Memo, uid: str) -> asyncio.Lock:
    """One reconcile at a time per Database (the handlers and the health probe share it)."""
    locks: dict[str, asyncio.Lock] = memo.setdefault("database_locks", {})
    return locks.setdefault(uid, asyncio.Lock())


def _checkpoint(memo: kopf.Memo, body: Mapping[str, Any]) -> service.Checkpoint:
    """Where `mooring operator --crash-at STEP[@NAMESPACE/NAME]` kills itself (tests of
    convergence): at STEP of any Database's reconcile, or of that one only."""
    options: Options = memo["options"]
    meta = body.get("metadata", {})
    here = f"{meta.get('namespace')}/{meta.get('name')}"

    async def checkpoint(step: str) -> None:
        if options.crash_at in (step, f"{step}@{here}"):
            log.warning("crash requested at %s of %s: killing this process", step, here)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


async def _post(kube: Kube, body: Mapping[str, Any], events: list[tuple[str, str, str]]) -> None:
    for type_, reason, message in events:
        await post_event(kube, body, type_, reason, message)


@kopf.on.resume(*DATABASES, registry=REGISTRY)
@kopf.on.create(*DATABASES, registry=REGISTRY)
@kopf.on.update(*DATABASES, registry=REGISTRY)
async def reconcile_database(
    body: kopf.Body, uid: str, memo: kopf.Memo, patch: kopf.Patch, retry: int, **_: Any
) -> None:
    try:
        async with _lock(memo, uid):
            outcome = await service.reconcile(
                memo["kube"], body, checkpoint=_checkpoint(memo, body)
            )
    except KubeError as error:  # the API server refused or stalled past the retries
        said = waiting_message(error, error.status) or str(error)
        raise kopf.TemporaryError(f"{said}; trying again", delay=backoff(retry)) from error
    RECONCILES.labels("Database", "ready" if outcome.ready else "not-ready").inc()
    log.info(
        "reconciled Database %s/%s: %s",
        body["metadata"]["namespace"],
        body["metadata"]["name"],
        _ready_reason(outcome.status),
    )
    patch.status.update(outcome.status)  # beside kopf's own status.kopf (kopf_state.py)
    await _post(memo["kube"], body, outcome.events)
    if outcome.retry:
        # Status says why; kopf tries again, sooner at first, at most a minute apart.
        raise kopf.TemporaryError("not ready yet", delay=backoff(retry))


@kopf.on.event(*DATABASES, registry=REGISTRY)
async def publish_readiness(type: str, body: kopf.Body, **_: Any) -> None:
    """mooring_database_ready follows each Database's Ready condition (for its alert)."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    if type == "DELETED":
        with contextlib.suppress(KeyError):
            DATABASE_READY.remove(*key)
        return
    ready = (body.get("status") or {}).get("ready") == "True"
    DATABASE_READY.labels(*key).set(1 if ready else 0)


@kopf.on.delete(*DATABASES, registry=REGISTRY)
async def finalize_database(
    body: kopf.Body, uid: str, memo: kopf.Memo, retry: int, **_: Any
) -> None:
    try:
        async with _lock(memo, uid):
            outcome = await service.finalize(memo["kube"], body)
    except service.RetryLater as error:
        await post_event(memo["kube"], body, "Warning", "DeleteBlocked", str(error))
        raise kopf.TemporaryError(str(error), delay=backoff(retry)) from error
    except KubeError as error:
        raise kopf.TemporaryError(str(error), delay=backoff(retry)) from error
    await _post(memo["kube"], body, outcome.events)
    memo.get("database_locks", {}).pop(uid, None)


@kopf.on.event(
    "",
    "v1",
    "secrets",
    registry=REGISTRY,
    labels={names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_DATABASE: kopf.PRESENT},
    id="restore-binding",
)
async def binding_deleted(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A deleted binding Secret comes back (with a new password: the old one went with it)."""
    if type != "DELETED":
        return
    meta = body.get("metadata", {})
    namespace = meta.get("namespace")
    database = (meta.get("labels") or {}).get(names.LABEL_DATABASE)
    if not namespace or not database:
        return
    await _reconcile_now(memo, namespace, database)


def _ready_reason(status: Mapping[str, Any]) -> str:
    return next(
        (c["reason"] for c in status.get("conditions", []) if c.get("type") == "Ready"), "?"
    )


async def _reconcile_now(memo: kopf.Memo, namespace: str, name: str) -> None:
    """Reconcile outside kopf's handlers and write the status (the probe and repairs)."""
    kube: Kube = memo["kube"]
    current = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
    if current is None or current["metadata"].get("deletionTimestamp"):
        return
    async with _lock(memo, current["metadata"]["uid"]):
        current = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
        if current is None:
            return
        outcome = await service.reconcile(kube, current, checkpoint=_checkpoint(memo, current))
        log.info(
            "reconciled Database %s/%s: %s (outside a handler)",
            namespace,
            name,
            _ready_reason(outcome.status),
        )
        await _write_status(kube, current, outcome.status)
    await _post(kube, current, outcome.events)


async def _write_status(kube: Kube, body: Mapping[str, Any], status: dict[str, Any]) -> None:
    meta = body["metadata"]
    with contextlib.suppress(NotFound):  # deleted meanwhile
        await kube.patch(
            names.API_VERSION,
            "Database",
            meta["name"],
            {"status": status},
            namespace=meta["namespace"],
            subresource="status",
        )


# -- shared servers: probe, report, recover ----------------------------------------------------


@kopf.on.startup(registry=REGISTRY)
async def start_probe(memo: kopf.Memo, **_: Any) -> None:
    memo["database_probe"] = asyncio.create_task(_probe_forever(memo))
    resync = resync_of(memo)
    if resync is not None:
        resync.sources.append(
            Source(
                "Database",
                names.API_VERSION,
                again=lambda key, seen: _reconcile_again(memo, key, seen),
                busy=lambda _key, seen: _lock(memo, seen.uid).locked(),
            )
        )


async def _reconcile_again(memo: kopf.Memo, key: Key, seen: Seen) -> bool:
    """Left behind (the resync says): reconcile unless it changed meanwhile."""
    namespace, name = key
    kube: Kube = memo["kube"]
    async with _lock(memo, seen.uid):
        current = await kube.get_or_none(names.API_VERSION, "Database", name, namespace)
        if (
            current is None
            or not behind(current)
            or current["metadata"].get("resourceVersion") != seen.version
        ):
            return False
        outcome = await service.reconcile(kube, current, checkpoint=_checkpoint(memo, current))
        await _write_status(kube, current, outcome.status)
    await _post(kube, current, outcome.events)
    return True


@kopf.on.cleanup(registry=REGISTRY)
async def stop_probe(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = memo.get("database_probe")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _probe_forever(memo: kopf.Memo) -> None:
    up: dict[str, bool] = {}
    while True:
        try:
            await _probe(memo, up)
        except KubeError as error:  # the API server is away for a moment: next round
            log.warning("probing the shared database servers: %s", error)
        except Exception:  # the probe must outlive any one bad round
            log.exception("probing the shared database servers failed")
        await asyncio.sleep(HEALTH_INTERVAL)


async def _probe(memo: kopf.Memo, up: dict[str, bool]) -> None:
    kube: Kube = memo["kube"]
    platform = await load_platform(kube)
    if platform is None:
        return
    for server in platform.spec.databases.servers:
        try:
            login = await service.admin_login(kube, server)
        except Exception:  # a missing Secret: each Database's status says so already
            continue
        try:
            await postgres.ping(login)
            reachable, why = True, ""
        except postgres.PostgresFailure as error:
            reachable, why = False, str(error)
        if up.get(server.name) == reachable:
            continue
        was_known = server.name in up
        up[server.name] = reachable
        if not reachable:
            log.warning("shared server %s is unavailable: %s", server.name, why)
            await _mark_unavailable(kube, server.name, why, platform.spec.databases.default_server)
        elif was_known:
            log.info("shared server %s is back; reconciling its databases", server.name)
            await _recover(memo, server.name, platform.spec.databases.default_server)


def _on_server(body: Mapping[str, Any], server: str, default: str | None) -> bool:
    spec = body.get("spec") or {}
    if spec.get("plan", "shared") != "shared" or body["metadata"].get("deletionTimestamp"):
        return False
    named = (body.get("status") or {}).get("server") or spec.get("server") or default
    return bool(named == server)


async def _mark_unavailable(kube: Kube, server: str, why: str, default: str | None) -> None:
    now = timestamp(utc_now)
    message = f"{why}; the database is unreachable until the server is back"
    for body in await kube.list(names.API_VERSION, "Database"):
        if not _on_server(body, server, default):
            continue
        status = DatabaseStatus.model_validate(body.get("status") or {})
        conditions = set_condition(
            status.conditions,
            "Ready",
            "False",
            "ServerUnavailable",
            message,
            now,
            body["metadata"].get("generation"),
        )
        updated = status.model_copy(update={"conditions": conditions, "ready": "False"})
        await _write_status(
            kube, body, updated.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        await post_event(kube, body, "Warning", "ServerUnavailable", message)


async def _recover(memo: kopf.Memo, server: str, default: str | None) -> None:
    kube: Kube = memo["kube"]
    bodies = [
        b for b in await kube.list(names.API_VERSION, "Database") if _on_server(b, server, default)
    ]
    limit = asyncio.Semaphore(postgres.CONCURRENCY)

    async def one(body: Mapping[str, Any]) -> None:
        async with limit:
            meta = body["metadata"]
            await _reconcile_now(memo, meta["namespace"], meta["name"])

    await asyncio.gather(*(one(b) for b in bodies))
