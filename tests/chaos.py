"""Pressure on a real API server, for the chaos test and the benchmark: API Priority and
Fairness that gives one user a tiny share (so it is answered with 429s), stalls of the
kube-apiserver process (SIGSTOP, then SIGCONT, by its PID), and a census of what Tenants
own afterwards.

Nothing here imitates the API server: it is the real one, made slow and refusing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mooring.api import names
from mooring.kube.client import Conflict, Kube, KubeError

FLOWCONTROL = "flowcontrol.apiserver.k8s.io/v1"
THROTTLE = "mooring-chaos"


def throttle_objects(user: str, seats: int = 1, queue: int = 8) -> list[dict[str, Any]]:
    """A priority level with a tiny concurrency share and a short queue, and a flow schema
    that puts every request of `user` there: beyond a handful in flight, 429s."""
    return [
        {
            "apiVersion": FLOWCONTROL,
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": THROTTLE},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": seats,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {
                        "type": "Queue",
                        "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": queue},
                    },
                },
            },
        },
        {
            "apiVersion": FLOWCONTROL,
            "kind": "FlowSchema",
            "metadata": {"name": THROTTLE},
            "spec": {
                "priorityLevelConfiguration": {"name": THROTTLE},
                "matchingPrecedence": 200,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [{"kind": "User", "user": {"name": user}}],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "clusterScope": True,
                                "namespaces": ["*"],
                            }
                        ],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        },
    ]


async def throttle(kube: Kube, user: str, seats: int = 1, queue: int = 8) -> None:
    for obj in throttle_objects(user, seats, queue):
        await kube.apply(obj)


async def unthrottle(kube: Kube) -> None:
    await kube.delete(FLOWCONTROL, "FlowSchema", THROTTLE)
    await kube.delete(FLOWCONTROL, "PriorityLevelConfiguration", THROTTLE)


class Stalls:
    """SIGSTOP the process `pid` for `pause` seconds (drawn from the range), then SIGCONT
    it for `run` seconds, over and over, until `stop()` (which always leaves it running)."""

    def __init__(
        self,
        pid: int,
        pause: tuple[float, float] = (2.0, 6.0),
        run: tuple[float, float] = (4.0, 10.0),
        seed: int = 14,
    ) -> None:
        self.pid = pid
        self.pause = pause
        self.run = run
        self.random = random.Random(seed)
        self.count = 0
        self.stalled_seconds = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stalls", daemon=True)

    def start(self) -> Stalls:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        os.kill(self.pid, signal.SIGCONT)

    def _loop(self) -> None:
        while not self._done.wait(self.random.uniform(*self.run)):
            pause = self.random.uniform(*self.pause)
            os.kill(self.pid, signal.SIGSTOP)
            try:
                self._done.wait(pause)
            finally:
                os.kill(self.pid, signal.SIGCONT)
            self.count += 1
            self.stalled_seconds += pause


async def patiently(job: Any, attempts: int = 60) -> Any:
    """Run `job()` until the API server answers (it may be stalled or refusing)."""
    for attempt in range(attempts):
        try:
            return await job()
        except Conflict:
            raise
        except KubeError as error:
            if error.status not in (0, 429, 500, 503, 504) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    return None


async def create_all(kube: Kube, bodies: Sequence[dict[str, Any]], concurrency: int = 32) -> None:
    """Create every object, `concurrency` at a time, riding out stalls."""
    limit = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            with contextlib.suppress(Conflict):  # made by an attempt whose answer was lost
                await patiently(lambda: kube.create(body))

    await asyncio.gather(*(one(b) for b in bodies))


def _ready(tenant: dict[str, Any]) -> bool:
    status = tenant.get("status") or {}
    return bool(
        status.get("ready") == "True"
        and status.get("observedGeneration") == tenant["metadata"].get("generation")
    )


async def wait_all_ready(
    kube: Kube, wanted: Iterable[str], timeout: float, say: Any = print
) -> tuple[float, set[str]]:
    """Seconds until every named Tenant is Ready; the names still missing at the timeout."""
    wanted = set(wanted)
    started = time.monotonic()
    missing = wanted
    last_said = 0.0
    while time.monotonic() - started < timeout:
        tenants = await patiently(lambda: kube.list(names.API_VERSION, "Tenant"))
        ready = {t["metadata"]["name"] for t in tenants if _ready(t)}
        missing = wanted - ready
        if not missing:
            return time.monotonic() - started, set()
        if time.monotonic() - last_said > 15:
            last_said = time.monotonic()
            say(
                f"{len(wanted) - len(missing)}/{len(wanted)} Ready after "
                f"{time.monotonic() - started:.0f} s"
            )
        await asyncio.sleep(1)
    return time.monotonic() - started, missing


@dataclass
class Census:
    """What exists, by tenant label, against what each tenant should own."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)  # tenant -> kind -> count
    orphans: list[str] = field(default_factory=list)  # labelled for a tenant that is gone
    unlabelled_children: list[str] = field(default_factory=list)


OWNED = (
    ("v1", "Namespace"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


async def census(kube: Kube) -> Census:
    tenants = {t["metadata"]["name"] for t in await kube.list(names.API_VERSION, "Tenant")}
    found = Census()
    selector = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    for api_version, kind in OWNED:
        for obj in await kube.list(api_version, kind, labels=selector):
            tenant = (obj["metadata"].get("labels") or {}).get(names.LABEL_TENANT)
            if tenant is None:
                continue
            if tenant not in tenants:
                meta = obj["metadata"]
                found.orphans.append(f"{kind} {meta.get('namespace', '')}/{meta['name']}")
                continue
            found.counts.setdefault(tenant, Counter())[kind] += 1
    return found


class HoldingRelay:
    """A TCP relay to the API server (TLS passes through untouched) that, once armed, holds
    back the answers on the next connection that sends encrypted data (a request, or the
    end of a new connection's handshake just before one): the server has done the work,
    the client waits in vain, times out and sends the request again. This is how an
    answer gets lost in a stalled or overloaded cluster, made to happen on purpose."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.held = 0  # connections whose answers were held
        self._hold: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="relay", daemon=True)

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def arm(self, hold: float) -> None:
        """Hold the answers of the next connection that sends something, for `hold` s."""
        self._hold = hold

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        held_until = [0.0]

        async def upstream() -> None:
            while data := await client_r.read(65536):
                # Encrypted records only (TLS content type 23): on a new connection the
                # hold starts once the handshake is through, so the request itself reaches
                # the server. (Held from the ClientHello on, the request was never sent, the
                # retry was a plain first try, and the lost answer was not exercised.)
                if self._hold is not None and held_until[0] == 0.0 and data[:1] == b"\x17":
                    held_until[0] = time.monotonic() + self._hold
                    self._hold = None
                    self.held += 1
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                while time.monotonic() < held_until[0]:
                    await asyncio.sleep(0.05)
                client_w.write(data)
                await client_w.drain()

        pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client_w, server_w):
                writer.close()
