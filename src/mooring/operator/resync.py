"""Nobody left behind: a periodic look for Tenants and Databases whose status is behind
their spec, and a periodic full recompute of the guardrails.

kopf reacts to watch events, and its retries rely on its own patches producing the next
event. When a patch is lost (a stalled or refusing API server), an object can wait for an
event that never comes. So every `interval` seconds the resync looks at each kind: from
what the operator's watches remember (free), or, every `full_every`-th look, from a paged
list (one page in memory at a time), in case a watch missed something. An object is left
behind when it is not being deleted, its status is missing or its
`status.observedGeneration` is below its generation, and it was so at the previous look
with the same resourceVersion (nothing happened to it for a whole interval) while no
handler holds it. Such an object is reconciled again directly and its status written, so a
lost object is back within two intervals and a reconcile. While the API server is under
pressure, or the kind's handlers have a backlog (every tenant reconcile slot taken: what is
behind is then queued in kopf, not lost), objects behind are left to their handlers and
picked up once both are calm. The guardrails recompute every
context and policy at each look (their dirty flags), so a lost event there costs at most
one interval as well.

Side effects: GETs, reconciles and status writes through the services; logs a warning
naming each object it had to pick up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mooring.kube.client import Kube, KubeError
from mooring.operator.metrics import RESYNC_LAST_SECONDS, RESYNC_PICKED_UP, RESYNC_SECONDS

log = logging.getLogger(__name__)
AT_ONCE = 8  # objects reconciled again at once
# Tenants listed a page at a time every tenth look: a page of 500 Ready Tenants as served
# (status, managedFields) is some 10 MiB of dicts at once; 100 keep it to 2.
PAGE = 100
Key = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]


@dataclass(frozen=True)
class Seen:
    """What one look saw of an object that was behind."""

    version: str
    uid: str = ""


def behind(obj: Mapping[str, Any]) -> bool:
    """Pure: is the object's status behind its spec (and the object not being deleted)?"""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    generation = meta.get("generation")
    return observed is None or (generation is not None and observed < generation)


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


def left_behind(previous: Mapping[Key, Seen], current: Mapping[Key, Seen]) -> list[Key]:
    """Pure: what was behind at both looks, unchanged (same uid and resourceVersion)."""
    return sorted(key for key, seen in current.items() if previous.get(key) == seen)


class KeyedLocks:
    """One asyncio lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def held(self, key: str) -> bool:
        return key in self._locks


@dataclass
class Source:
    """One kind the resync looks after.

    `remembered()`: what the watches last saw behind (None: list the objects instead);
    `busy(key, seen)`: a handler works on it now; `again(key, seen)`: reconcile it and
    write its status, True if it did (it checks anew under its lock).
    """

    kind: str
    api_version: str
    again: Callable[[Key, Seen], Awaitable[bool]]
    remembered: Callable[[], Mapping[Key, Seen]] | None = None
    busy: Callable[[Key, Seen], bool] = lambda _key, _seen: False
    # Its handlers have more than they can do at once: what is behind is most likely
    # queued, not lost, and is left to them until they catch up.
    backlog: Callable[[], bool] = lambda: False
    previous: dict[Key, Seen] = field(default_factory=dict)


@dataclass
class Resync:
    kube: Kube
    interval: float = 60.0
    full_every: int = 10
    sources: list[Source] = field(default_factory=list)
    # Called at each look (the guardrails mark everything to recompute).
    on_look: list[Callable[[], None]] = field(default_factory=list)
    # Is the API server calm? While it refuses or stalls, kopf is merely slow, and picking
    # objects up beside it would add load: they are picked up once it is calm again.
    calm: Callable[[], bool] = lambda: True
    looks: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="resync")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.look()
            except asyncio.CancelledError:
                raise
            except KubeError as error:  # the API server is away: next time
                log.warning("resync: %s; trying again in %.0f s", error, self.interval)
            except Exception:  # the resync must outlive any one look
                log.exception("resync: a look failed; trying again in %.0f s", self.interval)

    async def look(self) -> int:
        """One look over every source; returns how many objects were picked up."""
        started = time.perf_counter()
        full = self.looks % self.full_every == self.full_every - 1
        self.looks += 1
        for callback in self.on_look:
            callback()
        picked = 0
        for source in self.sources:
            current = await self._behind(source, full)
            stuck = left_behind(source.previous, current)
            source.previous = current
            if stuck and (not self.calm() or source.backlog()):
                log.info(
                    "resync: %d %s(s) behind, left to their handlers while %s",
                    len(stuck),
                    source.kind,
                    "the API server is under pressure" if not self.calm() else "they catch up",
                )
                continue
            limit = asyncio.Semaphore(AT_ONCE)
            done = await asyncio.gather(
                *(self._pick(source, key, current[key], limit) for key in stuck)
            )
            again = [key for key, did in zip(stuck, done, strict=True) if did]
            if again:
                shown = ", ".join("/".join(filter(None, key)) for key in again[:10])
                more = f" and {len(again) - 10} more" if len(again) > 10 else ""
                log.warning(
                    "%s %s%s: status behind the spec and untouched for %.0f s; reconciled again",
                    source.kind,
                    shown,
                    more,
                    self.interval,
                )
            picked += len(again)
        elapsed = time.perf_counter() - started
        RESYNC_SECONDS.observe(elapsed)
        RESYNC_LAST_SECONDS.labels("listed" if full else "remembered").set(elapsed)
        return picked

    async def _pick(self, source: Source, key: Key, seen: Seen, limit: asyncio.Semaphore) -> bool:
        if source.busy(key, seen):
            return False
        async with limit:
            log.info("%s %s: reconciling it again", source.kind, "/".join(filter(None, key)))
            try:
                done = await source.again(key, seen)
            except KubeError as error:
                log.warning("%s %s: could not reconcile again: %s", source.kind, key[1], error)
                return False
        if done:
            RESYNC_PICKED_UP.labels(source.kind).inc()
        return done

    async def _behind(self, source: Source, full: bool) -> dict[Key, Seen]:
        found: dict[Key, Seen] = {}

        def note(objects: Iterable[Mapping[str, Any]]) -> None:
            for obj in objects:
                if behind(obj):
                    meta = obj.get("metadata") or {}
                    found[key_of(obj)] = Seen(
                        str(meta.get("resourceVersion", "")), str(meta.get("uid", ""))
                    )

        if source.remembered is not None and not full:
            return dict(source.remembered())
        async for page, _ in self.kube.list_pages(source.api_version, source.kind, page=PAGE):
            note(page)
        return found


def resync_of(memo: Any) -> Resync | None:
    """The operator's Resync (made and started on first use; None when turned off).

    Each handler module adds its Source at its startup; the client and options come from
    the settings' startup, which runs first.
    """
    existing: Resync | None = memo.get("resync")
    if existing is not None:
        return existing
    interval = float(getattr(memo["options"], "resync_seconds", 60.0))
    if interval <= 0:
        return None
    kube: Kube = memo["kube"]
    resync = Resync(kube, interval=interval, calm=lambda: kube.pacer.calm_for(interval))
    memo["resync"] = resync
    memo.setdefault("on_close", []).append(resync.stop)
    resync.start()
    return resync
