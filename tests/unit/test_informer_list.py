"""An informer lists a page at a time (issue 14's memory): it never holds a whole kind as
the API server sends it, a continue token that expired starts the list again, and a relist
tells what changed exactly once."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

from mooring.kube import informer as informer_module
from mooring.kube.client import Gone
from mooring.kube.informer import Informer

Obj = dict[str, Any]


def policy(i: int, version: int = 1) -> Obj:
    """A tenant's NetworkPolicy as a list serves it (managedFields included)."""
    namespace = f"team{i:05d}-dev"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "mooring-default-deny",
            "namespace": namespace,
            "uid": f"{i:08d}-aaaa-bbbb-cccc-{i:012d}",
            "resourceVersion": str(version * 100000 + i),
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {"app.kubernetes.io/managed-by": "mooring", "mooring.dev/tenant": f"t{i}"},
            "managedFields": [
                {
                    "manager": "mooring",
                    "operation": "Apply",
                    "apiVersion": "networking.k8s.io/v1",
                    "time": "2026-11-30T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:labels": {
                                "f:app.kubernetes.io/managed-by": {},
                                "f:mooring.dev/tenant": {},
                            }
                        },
                        "f:spec": {"f:podSelector": {}, "f:policyTypes": {}, "f:ingress": {}},
                    },
                }
            ],
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{i}"}}}]}],
        },
    }


class PagedKube:
    """list_pages as the client does it: each page made when it is asked for. `expire_at`:
    the page index at which the first list's continue token has expired (410 Gone)."""

    def __init__(self, objects: list[Obj], expire_at: int | None = None) -> None:
        self.objects = objects
        self.expire_at = expire_at
        self.lists = 0
        self.pages_asked: list[int] = []

    async def list_pages(
        self, api_version: str, kind: str, *, labels: str | None = None, page: int = 500
    ) -> AsyncIterator[tuple[list[Obj], str]]:
        self.lists += 1
        attempt = self.lists
        self.pages_asked.append(page)
        for index, start in enumerate(range(0, len(self.objects), page)):
            if attempt == 1 and index == self.expire_at:
                raise Gone(410, "Expired", "The provided continue parameter is too old")
            await asyncio.sleep(0)
            # A fresh copy each time, as a parsed answer would be.
            yield [policy_copy(o) for o in self.objects[start : start + page]], "777"


def policy_copy(obj: Obj) -> Obj:
    meta = obj["metadata"]
    version = int(meta["resourceVersion"])
    return policy(version % 100000, version // 100000)


def test_a_relist_after_an_expired_continue_token_tells_each_change_once() -> None:
    told: list[tuple[str, str]] = []

    def remember(event_type: str, obj: Obj) -> None:
        told.append((event_type, obj["metadata"]["namespace"]))

    kept = [policy(i) for i in range(12)]
    changed = [policy(i, version=2) if i == 9 else policy(i) for i in range(1, 12)]
    added = policy(40)
    kube = PagedKube([*changed, added], expire_at=2)
    informer = Informer(kube, "networking.k8s.io/v1", "NetworkPolicy", on_event=remember)  # type: ignore[arg-type]
    for obj in kept:
        informer._store(informer_module._key(obj), informer.keep(obj))
    informer.synced.set()  # a relist: a watch was lost after the first list

    original_page = informer_module.LIST_PAGE
    informer_module.LIST_PAGE = 4
    try:
        version = asyncio.run(informer._list())
    finally:
        informer_module.LIST_PAGE = original_page

    assert version == "777"
    assert kube.lists == 2  # the first list's token expired on its third page: listed again
    assert kube.pages_asked == [4, 4]
    assert sorted(told) == sorted(
        [
            ("MODIFIED", "team00009-dev"),
            ("ADDED", "team00040-dev"),
            ("DELETED", "team00000-dev"),
        ]
    )
    assert informer.get("team00000-dev", "mooring-default-deny") is None
    current = informer.get("team00009-dev", "mooring-default-deny")
    assert current is not None and current["metadata"]["resourceVersion"] == "200009"
    assert "managedFields" not in current["metadata"]
    assert len(informer) == 12


def test_a_first_list_tells_nothing_unless_asked_and_syncs_at_its_end() -> None:
    told: list[str] = []
    kube = PagedKube([policy(i) for i in range(10)])
    informer = Informer(
        kube,  # type: ignore[arg-type]
        "networking.k8s.io/v1",
        "NetworkPolicy",
        on_event=lambda t, o: told.append(t),
    )
    asyncio.run(informer._list())
    assert told == [] and informer.synced.is_set() and len(informer) == 10
    listed = Informer(
        PagedKube([policy(i) for i in range(10)]),  # type: ignore[arg-type]
        "networking.k8s.io/v1",
        "NetworkPolicy",
        on_event=lambda t, o: told.append(t),
        notify_listed=True,
    )
    asyncio.run(listed._list())
    assert told == ["ADDED"] * 10


def test_a_list_holds_one_page_as_served_not_the_whole_kind() -> None:
    """5,000 NetworkPolicies: the list's peak above what the cache keeps is about a page as
    parsed, where holding every object as served (the list before paging) was all of them."""
    count = 5000
    kube = PagedKube([policy(i) for i in range(count)])
    informer = Informer(kube, "networking.k8s.io/v1", "NetworkPolicy")  # type: ignore[arg-type]

    tracemalloc.start()
    try:
        whole = [policy(i) for i in range(count)]
        served_size, _ = tracemalloc.get_traced_memory()
        del whole
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        asyncio.run(informer._list())
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(informer) == count
    kept = after - base
    above = peak - after
    # The whole kind as served is what the unpaged list held at once, besides the cache.
    assert above < served_size / 4, (above, served_size, kept)
    assert kept < served_size / 5, (kept, served_size)
