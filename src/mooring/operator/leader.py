"""Leader election: of the operator's replicas, only the holder of a coordination.k8s.io
Lease reconciles; the others stand by, ready to take over.

Side effects: reads and writes the Lease <namespace>/mooring-operator through a client of
its own. The decisions are core/lease.py's. A standby takes the Lease once the holder's
record has not changed for leaseDurationSeconds; a leader that could not renew for
renewDeadlineSeconds (less than the lease duration) stops the process before anyone may
take over, so two operators never reconcile at once. A clean stop releases the Lease,
and a standby takes it at its next try.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge

from mooring.core import lease
from mooring.kube.client import Conflict, Kube, KubeError, NotFound

API = "/apis/coordination.k8s.io/v1"
LEADER = Gauge(
    "mooring_operator_leader", "1 while this operator process holds the leader Lease, else 0."
)
log = logging.getLogger(__name__)


class LostLeadership(RuntimeError):
    """The Lease could not be renewed in time, or another holds it: stop reconciling now."""


@dataclass(frozen=True)
class Election:
    namespace: str
    name: str
    identity: str
    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class Elector:
    def __init__(
        self,
        kube: Kube,
        election: Election,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.election = election
        self.clock = clock
        self.wall = wall
        self.leading = False
        self.holder: str | None = None  # as last seen
        self.renewed_at = 0.0  # clock() of the last successful renewal
        self._seen: lease.Observation | None = None
        self._complained = False
        LEADER.set(0)

    @property
    def _path(self) -> str:
        e = self.election
        return f"{API}/namespaces/{e.namespace}/leases/{e.name}"

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease."""
        e = self.election
        try:
            current = await self.kube.request(
                "GET", self._path, what=f"Lease {e.namespace}/{e.name}"
            )
        except NotFound:
            current = None
        now = self.clock()
        if current is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": e.name, "namespace": e.namespace},
                "spec": lease.claim({}, e.identity, self.wall(), e.lease_duration),
            }
            try:
                await self.kube.request(
                    "POST", f"{API}/namespaces/{e.namespace}/leases", body=body, what="Lease"
                )
            except Conflict:
                return False  # another candidate created it first
            self.holder = e.identity
            return True
        spec: dict[str, Any] = current.get("spec") or {}
        self._seen = lease.observe(self._seen, spec, now)
        self.holder = lease.holder(spec)
        if not lease.may_take(spec, self._seen, e.identity, now):
            return False
        # The resourceVersion makes this a compare-and-swap: of two candidates, one wins.
        body = {**current, "spec": lease.claim(spec, e.identity, self.wall(), e.lease_duration)}
        try:
            await self.kube.request("PUT", self._path, body=body, what="Lease")
        except Conflict:
            return False
        if self.holder != e.identity:
            previous = self.holder or "nobody"
            log.info("took the leader Lease %s/%s over from %s", e.namespace, e.name, previous)
        self.holder = e.identity
        return True

    async def acquire(self) -> None:
        """Wait until this process holds the Lease."""
        e = self.election
        log.info(
            "standing by as %s: waiting for the leader Lease %s/%s", e.identity, e.namespace, e.name
        )
        while True:
            try:
                if await self._try():
                    break
            except KubeError as error:
                self._complain(error)
            # Jitter, so that standbys do not all try at the same instant.
            await asyncio.sleep(e.retry_period * random.uniform(1.0, 1.2))
        self.leading = True
        self.renewed_at = self.clock()
        LEADER.set(1)
        log.info("leading as %s (Lease %s/%s)", e.identity, e.namespace, e.name)

    async def keep(self) -> None:
        """Renew until the process stops; raises LostLeadership when it cannot."""
        e = self.election
        while True:
            await asyncio.sleep(e.retry_period)
            left = e.renew_deadline - (self.clock() - self.renewed_at)
            try:
                renewed = await asyncio.wait_for(self._try(), timeout=max(left, 0.1))
            except (KubeError, TimeoutError) as error:
                renewed = False
                self._complain(error)
            if renewed:
                self.renewed_at = self.clock()
                self._complained = False
                continue
            if self.holder not in (None, e.identity):
                self._lost(f"{self.holder} holds the Lease now")
            if self.clock() - self.renewed_at >= e.renew_deadline:
                self._lost(f"could not renew the Lease for {e.renew_deadline:g} s")

    def healthy(self) -> bool:
        """Liveness: a leader that is renewing (a standby is always alive)."""
        if not self.leading:
            return True
        return self.clock() - self.renewed_at < self.election.renew_deadline

    async def release(self) -> None:
        """A clean stop: hand the Lease back so that a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        LEADER.set(0)
        try:
            current = await self.kube.request("GET", self._path, what="Lease")
            spec = current.get("spec") or {}
            if lease.holder(spec) == self.election.identity:
                body = {**current, "spec": lease.release(spec, self.wall())}
                await self.kube.request("PUT", self._path, body=body, what="Lease")
                log.info("released the leader Lease")
        except KubeError as error:
            log.warning("could not release the leader Lease (it expires by itself): %s", error)

    def _lost(self, why: str) -> None:
        self.leading = False
        LEADER.set(0)
        raise LostLeadership(why)

    def _complain(self, error: Exception) -> None:
        # Once per streak: an API server that is down for a while is one message, not many.
        if not self._complained:
            log.warning("leader election: %s", error)
            self._complained = True
