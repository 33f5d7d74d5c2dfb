"""What grows with a backlog (issue 14's memory): an object waiting for one of kopf's workers
keeps its watch events as compact JSON, and its worker reads them as kopf would have; the
cost refresh keeps of a listed Tenant only what it reads."""

from __future__ import annotations

import asyncio
import copy
import tracemalloc
from typing import Any

from kopf._core.reactor import queueing

from mooring.operator import kopf_fixes
from mooring.operator.kopf_fixes import CompactBacklog, Packed, pack, unpack


def event(i: int, kind: str = "MODIFIED") -> dict[str, Any]:
    """A watch event of a Tenant as the API server sends one (kubectl apply's managedFields
    and kopf's annotations included)."""
    name = f"team{i:04d}"
    return {
        "type": kind,
        "object": {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {
                "name": name,
                "uid": f"5a791b73-5ba5-4322-b803-{i:012d}",
                "resourceVersion": str(4000 + i),
                "generation": 1,
                "creationTimestamp": "2026-11-30T15:42:56Z",
                "finalizers": ["mooring.dev/finalizer"],
                "annotations": {
                    "kopf.mooring.dev/last-handled-configuration": '{"spec":{"owners":{}}}'
                },
                "managedFields": [
                    {
                        "manager": "kubectl",
                        "operation": "Apply",
                        "apiVersion": "mooring.dev/v1alpha1",
                        "time": "2026-11-30T15:42:56Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {
                            "f:spec": {
                                "f:costCenter": {},
                                "f:developers": {"f:groups": {}},
                                "f:environments": {},
                                "f:owners": {"f:users": {}},
                            }
                        },
                    },
                    {
                        "manager": "kopf",
                        "operation": "Update",
                        "apiVersion": "mooring.dev/v1alpha1",
                        "time": "2026-11-30T15:43:01Z",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, "v:x": {}}}},
                        "subresource": "status",
                    },
                ],
            },
            "spec": {
                "owners": {"users": [f"owner{i}@example.com"]},
                "developers": {"groups": [f"{name}-devs"]},
                "environments": [{"name": "dev"}, {"name": "prod"}],
                "costCenter": f"cc-{i % 50}",
                "podSecurity": "restricted",
                "deletionPolicy": "Retain",
            },
            "status": {"ready": "False", "namespaceCount": 0},
        },
    }


def test_a_waiting_event_is_read_back_as_it_came_without_managed_fields() -> None:
    original = event(7)
    waiting = pack(copy.deepcopy(original))
    assert isinstance(waiting, Packed)
    read = unpack(waiting)
    assert "managedFields" not in read["object"]["metadata"]
    del original["object"]["metadata"]["managedFields"]
    assert read == original


def test_kopfs_end_of_stream_token_passes_unchanged() -> None:
    assert pack(queueing.EOS.token) is queueing.EOS.token
    assert unpack(queueing.EOS.token) is queueing.EOS.token


def test_the_backlog_keeps_events_in_order_and_wakes_a_waiting_worker() -> None:
    async def scenario() -> list[Any]:
        backlog = CompactBacklog()
        taken = asyncio.create_task(backlog.get())  # a worker waiting for news
        await asyncio.sleep(0)
        backlog.put_nowait(event(1, "ADDED"))
        first = await asyncio.wait_for(taken, 1)
        await backlog.put(event(1))
        await backlog.put(queueing.EOS.token)
        return [first, await backlog.get(), await backlog.get()]

    first, second, end = asyncio.run(scenario())
    assert (first["type"], second["type"]) == ("ADDED", "MODIFIED")
    assert first["object"]["metadata"]["name"] == "team0001"
    assert end is queueing.EOS.token


def queued_bytes(make: type[asyncio.Queue[Any]], count: int) -> int:
    """Memory held by `count` objects' backlogs, each with one event waiting, the events
    parsed from the watch stream as kopf parses them (and let go of once queued)."""

    async def fill() -> tuple[list[asyncio.Queue[Any]], int]:
        tracemalloc.start()
        try:
            events = [event(i) for i in range(count)]
            queues = []
            while events:
                queue = make()
                queue.put_nowait(events.pop())
                queues.append(queue)
            return queues, tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    _, held = asyncio.run(fill())
    return held


def test_a_thousand_waiting_objects_cost_a_fraction_of_what_kopf_kept() -> None:
    plain = queued_bytes(asyncio.Queue, 1000)
    compact = queued_bytes(CompactBacklog, 1000)
    # Parsed, an event is some 6 KiB of dicts and strings; packed, about 1 KiB.
    assert compact < plain / 2, (plain, compact)


def test_installed_kopf_gives_every_object_a_compact_backlog() -> None:
    assert kopf_fixes.install()
    stream = queueing.Stream(backlog=asyncio.Queue(), pressure=asyncio.Event())
    assert isinstance(stream.backlog, CompactBacklog)
    assert stream._fields == ("backlog", "pressure")
    assert kopf_fixes.install()  # twice: still once
    assert queueing.Stream.__mro__.count(queueing.Stream.__mro__[0]) == 1


def test_the_cost_refresh_keeps_of_a_listed_tenant_only_what_it_reads() -> None:
    from mooring.operator.cost import for_cost

    listed = event(3)["object"]
    listed["status"]["cost"] = {"monthToDate": "1.00", "currency": "USD"}
    kept = for_cost(listed)
    assert kept == {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "team0003", "uid": listed["metadata"]["uid"]},
        "spec": listed["spec"],
        "status": {"cost": {"monthToDate": "1.00", "currency": "USD"}},
    }
    being_deleted = {**listed, "metadata": {**listed["metadata"], "deletionTimestamp": "t"}}
    assert for_cost(being_deleted)["metadata"]["deletionTimestamp"] == "t"
