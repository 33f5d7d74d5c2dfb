"""Benchmark: an informer's list of many objects (a relist after a lost watch, or an operator
restarted beside thousands of tenants): the memory it holds at once beside what it keeps.

Feeds `kube.informer.Informer._list` N NetworkPolicies as a paged list serves them (500 a
page, managedFields included, each page parsed when it is asked for, as the client does),
and prints tracemalloc's peak above the cache it leaves, and the resident memory's rise.
Run it with the checkout to measure on PYTHONPATH (main's, then a branch's) to compare.

Usage: .venv/bin/python benchmarks/informer_list.py [--objects 60000]
"""

from __future__ import annotations

import argparse
import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mooring.kube.client import Kube
from mooring.kube.informer import Informer

Obj = dict[str, Any]


def policy(i: int) -> Obj:
    """A tenant's NetworkPolicy as a list serves it."""
    namespace = f"team{i // 6:05d}-{'dev' if i % 2 else 'prod'}"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"mooring-policy-{i % 3}",
            "namespace": namespace,
            "uid": f"{i:08d}-aaaa-bbbb-cccc-{i:012d}",
            "resourceVersion": str(100000 + i),
            "generation": 1,
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {
                "app.kubernetes.io/managed-by": "mooring",
                "mooring.dev/tenant": f"team{i // 6:05d}",
            },
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
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"team": f"team{i // 6:05d}"}}}]}
            ],
        },
    }


class Served:
    """list_pages as the client does it: each page parsed when it is asked for."""

    def __init__(self, count: int) -> None:
        self.count = count

    async def list_pages(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        fields: str | None = None,
        page: int = 500,
    ) -> AsyncIterator[tuple[list[Obj], str]]:
        for start in range(0, self.count, page):
            await asyncio.sleep(0)
            yield [policy(i) for i in range(start, min(self.count, start + page))], "9"

    # The list before paging gathered every page first (the client's own method).
    list_with_version = Kube.list_with_version


def resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=60000)
    args = parser.parse_args()
    informer = Informer(Served(args.objects), "networking.k8s.io/v1", "NetworkPolicy")  # type: ignore[arg-type]
    rss_before = resident()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    asyncio.run(informer._list())
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{len(informer)} objects listed: the cache keeps {(after - base) / 2**20:.1f} MiB; "
        f"the list's peak above it {(peak - after) / 2**20:.1f} MiB; resident memory rose "
        f"{(resident() - rss_before) / 2**20:.0f} MiB (tracemalloc's own tables included)"
    )


if __name__ == "__main__":
    main()
