"""Run the operator: kopf with Mooring's registry and handlers, /metrics and the probes.

Side effects: connects to the cluster, serves /metrics and (when asked) /healthz and
/readyz. The order of a start: probes, the Kubernetes version check, leader election (a
standby waits there, doing nothing else), then kopf and the handlers. A leader that loses
its Lease exits at once (status 1; Kubernetes restarts the pod as a standby).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import kopf
from prometheus_client import start_http_server

# Settings first: their startup handler creates the client the others use (the handler
# modules import settings themselves, so it registers first whatever the order here).
from mooring.core import versions
from mooring.kube import incluster
from mooring.kube.client import Kube, KubeError
from mooring.kube.incluster import InClusterError
from mooring.operator import cost as _cost  # noqa: F401  (registers handlers)
from mooring.operator import databases as _databases  # noqa: F401  (registers handlers)
from mooring.operator import guardrails as _guardrails  # noqa: F401  (registers handlers)
from mooring.operator import kopf_fixes, logs, settings
from mooring.operator import platform as _platform  # noqa: F401  (registers handlers)
from mooring.operator import tenants as _tenants  # noqa: F401  (registers handlers)
from mooring.operator.health import Health
from mooring.operator.leader import Election, Elector, LostLeadership
from mooring.operator.registry import REGISTRY
from mooring.operator.settings import Options

__all__ = ["OperatorStartError", "Options", "run"]
_ = settings
DEFAULT_NAMESPACE = "mooring-system"
EXIT_LOST_LEADERSHIP = 1
log = logging.getLogger("mooring.operator")


class OperatorStartError(RuntimeError):
    """The operator could not start; the message says why and what to change."""


def run(options: Options) -> None:
    """Run until interrupted."""
    logging.basicConfig(
        level=getattr(logging, options.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    logs.install()  # object names in every line; expected waits are warnings
    # kopf logs every handler call at INFO; keep that for --log-level=debug.
    logging.getLogger("kopf.objects").setLevel(
        logging.DEBUG if options.log_level == "debug" else logging.WARNING
    )
    try:
        start_http_server(options.metrics_port, addr=options.metrics_address)
    except OSError as error:
        raise OperatorStartError(
            f"cannot serve metrics on {options.metrics_address}:{options.metrics_port} "
            f"({error.strerror}); pass another --metrics-port"
        ) from None
    kopf_fixes.install()  # before kopf starts: it binds its event processor then
    try:
        asyncio.run(_main(options))
    except InClusterError as error:
        raise OperatorStartError(str(error)) from None


async def _main(options: Options) -> None:
    memo = kopf.Memo(options=options)
    started = asyncio.Event()  # kopf's startup handlers are done (caches synced)
    # A client of its own for the Lease and the version check, with a short timeout: a
    # renewal that hangs must not outlive the renew deadline.
    kube = options.connect(timeout=max(1.0, options.renew_deadline / 2))
    elector = _elector(options, kube) if options.leader_election else None
    health = _health(options, memo, started, elector)
    try:
        if health is not None:
            await health.start()
        await _check_version(kube)
        if elector is not None:
            await elector.acquire()
        await _operate(memo, started, elector)
    finally:
        if elector is not None:
            await elector.release()
        if health is not None:
            await health.stop()
        await kube.aclose()


async def _operate(memo: kopf.Memo, started: asyncio.Event, elector: Elector | None) -> None:
    """kopf until it stops; with an election, only as long as the Lease is ours."""
    operator = asyncio.create_task(
        kopf.operator(
            registry=REGISTRY,
            clusterwide=True,
            standalone=True,  # no kopf peering: the Lease decides who runs
            memo=memo,
            ready_flag=started,
        ),
        name="kopf",
    )
    if elector is None:
        await operator
        return
    keeper = asyncio.create_task(elector.keep(), name="leader-election")
    done, _ = await asyncio.wait({operator, keeper}, return_when=asyncio.FIRST_COMPLETED)
    if keeper in done:
        lost = keeper.exception()
        if isinstance(lost, LostLeadership):
            # Another replica may take over any moment now: stop at once, mid-handler if
            # need be (the operator is stateless; the next leader resumes every object).
            log.error("lost leadership (%s); exiting so that only the new leader works", lost)
            logging.shutdown()
            os._exit(EXIT_LOST_LEADERSHIP)
        keeper.result()
    keeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await keeper
    operator.result()


def _identity(options: Options) -> str:
    return options.identity or os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _elector(options: Options, kube: Kube) -> Elector:
    namespace = options.lease_namespace or os.environ.get("POD_NAMESPACE")
    if namespace is None and options.in_cluster:
        namespace = incluster.load().namespace
    election = Election(
        namespace=namespace or DEFAULT_NAMESPACE,
        name="mooring-operator",
        identity=_identity(options),
        lease_duration=options.lease_duration,
        renew_deadline=options.renew_deadline,
        retry_period=options.retry_period,
    )
    return Elector(kube, election)


def _health(
    options: Options, memo: kopf.Memo, started: asyncio.Event, elector: Elector | None
) -> Health | None:
    if options.health_port is None:
        return None

    def renewing() -> str | None:
        if elector is not None and not elector.healthy():
            return "the leader Lease is not being renewed"
        return None

    def synced() -> str | None:
        if elector is not None and not elector.leading:
            return None  # a standby is ready: it can take over
        waiting = _unsynced(memo)
        if waiting:
            return "caches not synced yet: " + ", ".join(waiting)
        if not started.is_set():
            return "starting (kopf's startup handlers are running)"
        return None

    return Health(options.health_address, options.health_port, live=[renewing], ready=[synced])


def _unsynced(memo: kopf.Memo) -> list[str]:
    """Kinds whose informer caches have not been listed yet (tenants' and guardrails')."""
    waiting = []
    for key in ("watches", "guardrails"):
        owner: Any = memo.get(key)
        for kind, informer in (getattr(owner, "informers", None) or {}).items():
            if not informer.synced.is_set():
                waiting.append(kind)
    return sorted(set(waiting))


async def _check_version(kube: Kube) -> None:
    """Refuse a Kubernetes older than the supported range; warn about a newer one."""
    try:
        info = await kube.request("GET", "/version", what="the server's version")
    except KubeError as error:
        log.warning("could not read the Kubernetes version (%s); going on", error)
        return
    verdict = versions.judge(info)
    if not verdict.supported:
        raise OperatorStartError(verdict.message)
    if verdict.message:
        log.warning("%s", verdict.message)
    else:
        log.info(
            "Kubernetes %s (supported: %s)", info.get("gitVersion"), versions.supported_range()
        )
