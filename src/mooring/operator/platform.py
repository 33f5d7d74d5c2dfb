"""kopf handlers that keep the PlatformConfig's status (Ready: tiers exist, quotas fit).

A change of a Tenant's spec or of the PlatformConfig marks the status dirty; one loop writes
it at most every DEBOUNCE seconds, so a merge of 500 tenant files costs a handful of writes,
not 500. The loop judges the small shape kept of each tenant (name, tier, quotas), made once
per generation: a Tenant's status changes (the operator's own writes, thousands of them
while it onboards thousands of tenants) neither parse the Tenant nor wake the loop. Before,
every such change re-read and re-validated every Tenant a second later: at 5,000 tenants
that was nearly half of the operator's CPU, and a copy of every Tenant in memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from mooring.api.platform import PLATFORM_CONFIG_NAME
from mooring.core.validate import TenantShape
from mooring.kube.client import KubeError
from mooring.operator.registry import REGISTRY
from mooring.operator.tenants import PLATFORM_RESOURCE, TENANTS_RESOURCE, Watches
from mooring.services import platform as service

DEBOUNCE = 1.0
log = logging.getLogger(__name__)


class PlatformStatus:
    """The dirty flag, each tenant's shape, and the loop that writes the status."""

    def __init__(self) -> None:
        self.dirty = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # name -> (generation, shape or None when being deleted or invalid)
        self.shapes: dict[str, tuple[Any, TenantShape | None]] = {}

    def seen(self, type_: str, name: str, body: Mapping[str, Any]) -> None:
        """Keep a Tenant's shape; mark the status dirty only when what it reads changed."""
        if type_ == "DELETED":
            if self.shapes.pop(name, None) is not None:
                self.dirty.set()
            return
        meta = body.get("metadata") or {}
        key = (meta.get("generation"), bool(meta.get("deletionTimestamp")))
        known = self.shapes.get(name)
        if known is not None and known[0] == key:
            return  # a status or metadata change: the spec it judges is the same
        self.shapes[name] = (key, service.shape_of(body))
        self.dirty.set()

    async def run(self, memo: kopf.Memo) -> None:
        while True:
            await self.dirty.wait()
            await asyncio.sleep(DEBOUNCE)
            self.dirty.clear()
            watches: Watches | None = memo.get("watches")
            if watches is None or not watches.synced() or watches.platform is None:
                continue
            try:
                shapes = [shape for _, shape in self.shapes.values() if shape is not None]
                await service.report(memo["kube"], watches.platform, shapes)
            except KubeError as error:
                log.warning("PlatformConfig status not written: %s", error)
                self.dirty.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def _status(memo: kopf.Memo) -> PlatformStatus:
    status: PlatformStatus = memo["platform_status"]
    return status


@kopf.on.startup(registry=REGISTRY)
async def start_platform_status(memo: kopf.Memo, **_: Any) -> None:
    status = PlatformStatus()
    memo["platform_status"] = status
    status.task = asyncio.create_task(status.run(memo))
    status.dirty.set()
    memo.setdefault("on_close", []).append(status.stop)


@kopf.on.event(*TENANTS_RESOURCE, registry=REGISTRY)
async def tenant_seen(type: str, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if "platform_status" in memo:
        _status(memo).seen(type, name, body)


@kopf.on.event(*PLATFORM_RESOURCE, registry=REGISTRY)
async def platform_seen(name: str, memo: kopf.Memo, **_: Any) -> None:
    if name == PLATFORM_CONFIG_NAME and "platform_status" in memo:
        _status(memo).dirty.set()
