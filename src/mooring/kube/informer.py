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
import sys
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from mooring.api.names import KOPF_DIFF_BASE, KOPF_STATUS
from mooring.kube.client import Gone, Kube, KubeError

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[str, Obj], Awaitable[None] | None]

log = logging.getLogger(__name__)
LIST_PAGE = 500
SMALL_GROUP = 16
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
    """The object without managedFields and other bulk the operator never reads (kubectl's
    last applied configuration, kopf's diff base in status.kopf or, from an earlier
    version, in an annotation: each a copy of the object's spec)."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in KEPT_METADATA if k in meta}
    annotations = kept.get("annotations")
    if annotations and not BULKY_ANNOTATIONS.isdisjoint(annotations):
        kept["annotations"] = {k: v for k, v in annotations.items() if k not in BULKY_ANNOTATIONS}
    status = obj.get("status")
    if isinstance(status, dict) and KOPF_STATUS in status:
        status = {k: v for k, v in status.items() if k != KOPF_STATUS}
        return {**obj, "metadata": kept, "status": status}
    return {**obj, "metadata": kept}


class Informer:
    """One kind, cluster-wide. `on_event(type, obj)` runs for every change after the list;
    it should be quick (schedule slow work as a task), as it holds up the watch.

    `index(obj)` names a group for an object (for example its tenant label); `indexed(g)`
    returns the objects of a group without scanning the whole cache.

    `keep(obj)` is what the cache keeps of an object (default: `slim`; a caller that only
    needs names and versions keeps far less). After a list that follows a lost watch,
    objects that are new or changed are told as ADDED or MODIFIED, and those gone as
    DELETED; `notify_listed` tells the first list's objects too (as ADDED).
    """

    def __init__(
        self,
        kube: Kube,
        api_version: str,
        kind: str,
        on_event: Handler | None = None,
        index: Callable[[Obj], str | None] | None = None,
        labels: str | None = None,
        keep: Callable[[Obj], Obj] | None = None,
        notify_listed: bool = False,
    ) -> None:
        self.kube = kube
        # A label selector narrows what is watched (an object that stops matching it is
        # seen as DELETED, as the API server reports it).
        self.labels = labels
        self.api_version = api_version
        self.kind = kind
        self.on_event = on_event
        self.index = index
        self.keep = keep or slim
        self.notify_listed = notify_listed
        # Objects are kept as compact JSON, deflated against the kind's first objects
        # (Codec): a thousand tenants' children as Python dicts would cost five times the
        # memory, as plain JSON seven times this, and they are read far less often than
        # written.
        self._codec = Codec()
        self._cache: dict[Key, bytes] = {}
        self._groups_of: dict[Key, str] = {}
        self._groups: dict[str, list[Key] | set[Key]] = {}
        self.synced = asyncio.Event()
        self.relists = 0  # lists after a watch too old (410): each a page at a time
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
        return None if raw is None else self._codec.load(raw)

    def has(self, namespace: str | None, name: str) -> bool:
        return (namespace or "", name) in self._cache

    def indexed(self, group: str) -> list[Obj]:
        return [
            self._codec.load(self._cache[k])
            for k in self._groups.get(group, ())
            if k in self._cache
        ]

    def __len__(self) -> int:
        return len(self._cache)

    def keys(self) -> list[Key]:
        return list(self._cache)

    def _store(self, key: Key, obj: Obj | None) -> None:
        if self.index is not None:
            old_group = self._groups_of.pop(key, None)
            new_group = self.index(obj) if obj is not None else None
            if old_group is not None and old_group != new_group:
                self._leave(old_group, key)
            if new_group is not None:
                new_group = sys.intern(new_group)
                self._join(new_group, key)
                self._groups_of[key] = new_group
        if obj is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = self._codec.dump(obj)

    def _join(self, group: str, key: Key) -> None:
        """A group is a list while it is small (a tenant's few objects of a kind: a set of
        six costs 728 bytes, a list 120), a set once it is large (a namespace's pods)."""
        members = self._groups.get(group)
        if members is None:
            self._groups[group] = [key]
        elif isinstance(members, set):
            members.add(key)
        elif key not in members:
            members.append(key)
            if len(members) > SMALL_GROUP:
                self._groups[group] = set(members)

    def _leave(self, group: str, key: Key) -> None:
        members = self._groups.get(group)
        if members is None:
            return
        if isinstance(members, set):
            members.discard(key)
        elif key in members:
            members.remove(key)
        if not members:
            del self._groups[group]

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
                self.relists += 1
                log.info(
                    "watch of %s too old (410): listing again (relist %d)", self.kind, self.relists
                )
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
        """Every object of the kind into the cache, a page at a time (LIST_PAGE objects), so
        that only one page is ever held as the API server sends it: ten thousand tenants'
        NetworkPolicies in one answer, parsed with their managedFields, were some hundred
        MiB at once. A continue token that expired meanwhile (410 Gone: the list outlived
        etcd's compaction) starts the list again; what was stored is compared, not told
        twice."""
        while True:
            try:
                return await self._list_pages()
            except Gone:
                log.info("listing %s: the continue token expired; listing again", self.kind)

    async def _list_pages(self) -> str:
        told = self.notify_listed or self.synced.is_set()
        seen: set[Key] = set()
        version = ""
        async for page, listed in self.kube.list_pages(
            self.api_version, self.kind, labels=self.labels, page=LIST_PAGE
        ):
            version = listed  # every page of one list has the list's version
            changes: list[tuple[str, Obj]] = []
            for item in page:
                key = _key(item)
                seen.add(key)
                if told:
                    before = self._cache.get(key)
                    if before is None:
                        changes.append(("ADDED", item))
                    elif _version(self._codec.load(before)) != _version(item):
                        changes.append(("MODIFIED", item))
                self._store(key, self.keep(item))
            del page
            await asyncio.sleep(0)  # a page stored: let the rest of the loop run
            for event_type, obj in changes:
                await self._notify(event_type, obj)
        gone = [k for k in self._cache if k not in seen]
        self.synced.set()
        for key in gone:
            raw = self._cache.get(key)
            if raw is None:
                continue
            obj = self._codec.load(raw)
            self._store(key, None)
            await self._notify("DELETED", obj)
        return version

    async def _apply(self, event_type: str, obj: Obj) -> None:
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        self._store(_key(obj), None if event_type == "DELETED" else self.keep(obj))
        await self._notify(event_type, obj)

    async def _notify(self, event_type: str, obj: Obj) -> None:
        if self.on_event is None:
            return
        result = self.on_event(event_type, obj)
        if result is not None:
            await result


class Codec:
    """Objects as compact JSON, deflated with a preset dictionary made of the first objects
    of the kind (an informer's, or the operator's Tenants): objects of one kind differ in
    little more than names and uids, so each shrinks to about a seventh (700 bytes to 100
    for a tenant's NetworkPolicy), for some microseconds per write and fewer per read. The
    first objects, before the dictionary is fixed, stay plain JSON; a leading zero byte
    tells the deflated ones. `sample(obj)`: may this object be one the dictionary is made
    of (default: any); `window`: the deflate window's bits, which the dictionary must fit
    in (larger objects want a larger one)."""

    SAMPLES = 3

    def __init__(self, window: int = 12, sample: Callable[[Obj], bool] | None = None) -> None:
        self._window = -window  # raw deflate, no header
        self._size = (1 << window) - 300
        self._sample = sample
        self._samples: list[bytes] = []
        self._dictionary: bytes | None = None

    def dump(self, obj: Obj) -> bytes:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        if self._dictionary is None:
            if self._sample is None or self._sample(obj):
                self._samples.append(raw)
            if len(self._samples) >= self.SAMPLES:
                self._dictionary = b"".join(self._samples)[-self._size :]
                self._samples.clear()
            return raw
        deflate = zlib.compressobj(
            6, zlib.DEFLATED, self._window, 2, zlib.Z_DEFAULT_STRATEGY, self._dictionary
        )
        return b"\0" + deflate.compress(raw) + deflate.flush()

    def load(self, data: bytes) -> Obj:
        if data[:1] == b"\0":
            assert self._dictionary is not None
            inflate = zlib.decompressobj(self._window, self._dictionary)
            data = inflate.decompress(data[1:]) + inflate.flush()
        obj: Obj = json.loads(data)
        return obj


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def metadata_only(obj: Obj) -> Obj:
    """What a cache keeps when its owner only needs names, labels and versions."""
    meta = obj.get("metadata") or {}
    kept = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "labels", "resourceVersion", "generation")
        if k in meta
    }
    if meta.get("deletionTimestamp"):
        kept["deletionTimestamp"] = meta["deletionTimestamp"]
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept}


def _key(obj: Obj) -> Key:
    """(namespace, name), interned: thousands of objects share a few names and namespaces."""
    meta = obj.get("metadata") or {}
    return sys.intern(meta.get("namespace") or ""), sys.intern(meta["name"])
