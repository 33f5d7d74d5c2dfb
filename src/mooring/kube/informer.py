"""An informer: list once, then watch, keeping a slim copy of every object of one kind.

Side effects: a long-running list+watch against the API server. The cache is the watch's
latest view (never a source of truth of its own); it lets the operator see drift the moment
it happens and know what exists without asking again. On 410 Gone it lists anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mooring.api.names import KOPF_DIFF_BASE
from mooring.kube.client import Gone, Kube, KubeError

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[str, Obj], Awaitable[None] | None]

log = logging.getLogger(__name__)
KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "ownerReferences",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
)


BULKY_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        KOPF_DIFF_BASE,  # kopf's diff base, a copy of the spec
    }
)


def slim(obj: Obj) -> Obj:
    """The object without managedFields and other bulk the operator never reads."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in KEPT_METADATA if k in meta}
    annotations = kept.get("annotations")
    if annotations and "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        kept["annotations"] = {
            k: v
            for k, v in annotations.items()
            if k != "kubectl.kubernetes.io/last-applied-configuration"
        }
    return {**obj, "metadata": kept}


class Informer:
    """One kind, cluster-wide. `on_event(type, obj)` runs for every change after the list;
    it should be quick (schedule slow work as a task), as it holds up the watch.

    `index(obj)` names a group for an object (for example its tenant label); `indexed(g)`
    returns the objects of a group without scanning the whole cache.
    """

    def __init__(
        self,
        kube: Kube,
        api_version: str,
        kind: str,
        on_event: Handler | None = None,
        index: Callable[[Obj], str | None] | None = None,
        labels: str | None = None,
    ) -> None:
        self.kube = kube
        # A label selector narrows what is watched (an object that stops matching it is
        # seen as DELETED, as the API server reports it).
        self.labels = labels
        self.api_version = api_version
        self.kind = kind
        self.on_event = on_event
        self.index = index
        # Objects are kept as compact JSON: a thousand tenants' children as Python dicts
        # would cost five times the memory, and they are read far less often than written.
        self._cache: dict[Key, bytes] = {}
        self._groups_of: dict[Key, str] = {}
        self._groups: dict[str, set[Key]] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.kind}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, namespace: str | None, name: str) -> Obj | None:
        raw = self._cache.get((namespace or "", name))
        return None if raw is None else _load(raw)

    def indexed(self, group: str) -> list[Obj]:
        return [_load(self._cache[k]) for k in self._groups.get(group, ()) if k in self._cache]

    def __len__(self) -> int:
        return len(self._cache)

    def keys(self) -> list[Key]:
        return list(self._cache)

    def _store(self, key: Key, obj: Obj | None) -> None:
        if self.index is not None:
            old_group = self._groups_of.pop(key, None)
            new_group = self.index(obj) if obj is not None else None
            if old_group is not None and old_group != new_group:
                self._groups.get(old_group, set()).discard(key)
            if new_group is not None:
                self._groups.setdefault(new_group, set()).add(key)
                self._groups_of[key] = new_group
        if obj is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = _dump(obj)

    async def _run(self) -> None:
        backoff = 0.5
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list()
                async for event_type, obj in self.kube.watch(
                    self.api_version,
                    self.kind,
                    labels=self.labels,
                    resource_version=version,
                    timeout_seconds=300,
                ):
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event_type == "BOOKMARK":
                        continue
                    await self._apply(event_type, obj)
                backoff = 0.5
            except Gone:
                version = ""  # too old: list again
            except asyncio.CancelledError:
                raise
            except (KubeError, OSError, ValueError) as error:
                log.warning(
                    "watching %s failed (%s); retrying in %.1f s", self.kind, error, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)
            except Exception:  # keep the informer alive whatever a handler does
                log.exception("informer %s failed; restarting", self.kind)
                await asyncio.sleep(backoff)
                version = ""

    async def _list(self) -> str:
        items, version = await self.kube.list_with_version(
            self.api_version, self.kind, labels=self.labels
        )
        fresh = {_key(o): slim(o) for o in items}
        gone = [_load(self._cache[k]) for k in self._cache.keys() - fresh.keys()]
        for key in list(self._cache):
            if key not in fresh:
                self._store(key, None)
        for key, obj in fresh.items():
            self._store(key, obj)
        self.synced.set()
        for obj in gone:
            await self._notify("DELETED", obj)
        return version

    async def _apply(self, event_type: str, obj: Obj) -> None:
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        self._store(_key(obj), None if event_type == "DELETED" else slim(obj))
        await self._notify(event_type, obj)

    async def _notify(self, event_type: str, obj: Obj) -> None:
        if self.on_event is None:
            return
        result = self.on_event(event_type, obj)
        if result is not None:
            await result


def _dump(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _load(raw: bytes) -> Obj:
    obj: Obj = json.loads(raw)
    return obj


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta["name"]
