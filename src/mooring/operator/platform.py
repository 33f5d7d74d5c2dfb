"""kopf handlers that keep the PlatformConfig's status (Ready: tiers exist, quotas fit).

Any change of a Tenant or of the PlatformConfig marks the status dirty; one loop writes it
at most every DEBOUNCE seconds from the tenant handlers' caches (operator/tenants.py), so a
merge of 500 tenant files costs a handful of writes, not 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from mooring.api.platform import PLATFORM_CONFIG_NAME
from mooring.kube.client import KubeError
from mooring.operator.registry import REGISTRY
from mooring.operator.tenants import PLATFORM_RESOURCE, TENANTS_RESOURCE, Watches
from mooring.services import platform as service

DEBOUNCE = 1.0
log = logging.getLogger(__name__)


class PlatformStatus:
    """The dirty flag and the loop that writes the status."""

    def __init__(self) -> None:
        self.dirty = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self, memo: kopf.Memo) -> None:
        while True:
            await self.dirty.wait()
            await asyncio.sleep(DEBOUNCE)
            self.dirty.clear()
            watches: Watches | None = memo.get("watches")
            if watches is None or not watches.synced() or watches.platform is None:
                continue
            try:
                await service.report(memo["kube"], watches.platform, list(watches.tenants.values()))
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
async def tenant_seen(memo: kopf.Memo, **_: Any) -> None:
    if "platform_status" in memo:
        _status(memo).dirty.set()


@kopf.on.event(*PLATFORM_RESOURCE, registry=REGISTRY)
async def platform_seen(name: str, memo: kopf.Memo, **_: Any) -> None:
    if name == PLATFORM_CONFIG_NAME and "platform_status" in memo:
        _status(memo).dirty.set()
