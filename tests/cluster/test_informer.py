"""The informer keeps a slim, indexed copy of a kind, as the API server's watch says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mooring.kube.client import Kube
from mooring.kube.informer import Informer
from tests.cluster.conftest import eventually

pytestmark = pytest.mark.cluster


async def test_an_informer_lists_watches_indexes_and_forgets(kube: Kube) -> None:
    namespace = "default"
    events: list[tuple[str, str]] = []

    def group(obj: dict[str, Any]) -> str | None:
        return (obj["metadata"].get("labels") or {}).get("team")

    def remember(event_type: str, obj: dict[str, Any]) -> None:
        events.append((event_type, obj["metadata"]["name"]))

    def config_map(name: str, team: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"team": team}},
            "data": {"k": name},
        }

    await kube.apply(config_map("inf-before", "red"))
    informer = Informer(kube, "v1", "ConfigMap", on_event=remember, index=group)
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), timeout=10)
        before = informer.get(namespace, "inf-before")
        assert before is not None
        assert "managedFields" not in before["metadata"]  # slim
        assert before["data"] == {"k": "inf-before"}
        await kube.apply(config_map("inf-after", "red"))
        await kube.apply(config_map("inf-before", "blue"))

        async def indexed() -> bool:
            red = {o["metadata"]["name"] for o in informer.indexed("red")}
            blue = {o["metadata"]["name"] for o in informer.indexed("blue")}
            return red == {"inf-after"} and blue == {"inf-before"}

        await eventually(indexed, timeout=10, what="the index to follow a relabel")
        await kube.delete("v1", "ConfigMap", "inf-after", namespace)

        async def forgotten() -> bool:
            return informer.get(namespace, "inf-after") is None and not informer.indexed("red")

        await eventually(forgotten, timeout=10, what="the deleted object to leave the cache")
        assert ("ADDED", "inf-after") in events
        assert ("MODIFIED", "inf-before") in events
        assert ("DELETED", "inf-after") in events
    finally:
        await informer.stop()
        await kube.delete("v1", "ConfigMap", "inf-before", namespace)
