"""A real Argo CD (built from its Go module) on the local control plane, as local processes.

Side effects: installs Argo CD's CRDs and configuration objects into the `argocd` namespace
(from the pinned module's own manifests/), writes a state folder (redis data, Argo CD's temp,
TLS, SSH and GnuPG folders, its ask-pass socket), and starts Debian's redis-server,
argocd-repo-server, argocd-applicationset-controller and argocd-application-controller on
127.0.0.1, attached to the DevCluster so `mooring dev down` stops them with the rest.

No argocd-server, dex or UI: the controllers are all a Git-to-cluster loop needs. Out of a
cluster, Argo CD reads the destination https://kubernetes.default.svc from $KUBECONFIG when
ARGOCD_FAKE_IN_CLUSTER is set; `argocd-cmd-params-cm` is not read, so settings are flags.
Facts and pitfalls behind these choices: docs/gitops.md ("The local loop").
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mooring.devcluster.binaries import (
    ARGOCD,
    ARGOCD_VERSION,
    GITOPS,
    BuildError,
    ensure_built,
    module_source,
)
from mooring.devcluster.cluster import Component, DevCluster, DevClusterError, free_port, http_ok
from mooring.kube.client import Kube

NAMESPACE = "argocd"
REDIS = "argocd-redis"
REPO_SERVER = "argocd-repo-server"
APPSET_CONTROLLER = "argocd-applicationset-controller"
APP_CONTROLLER = "argocd-application-controller"
COMPONENTS = (REDIS, REPO_SERVER, APPSET_CONTROLLER, APP_CONTROLLER)
MODULE = "github.com/argoproj/argo-cd/v3"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Polling:
    """How often Argo CD looks at Git by itself, without a refresh hook.

    The defaults are Argo CD's own (app resync 120 s + up to 60 s jitter; the repo-server
    keeps a branch's resolved revision 3 min; the ApplicationSet controller requeues every
    3 min). The local loop keeps them, and refreshes on push instead (devcluster/githook.py),
    as production does with Git webhooks.
    """

    app_resync: int = 120
    app_resync_jitter: int = 60
    revision_cache: str = "3m"
    appset_requeue: str = "3m"


@dataclass(frozen=True)
class ArgoEndpoints:
    repo_server: str
    redis: str
    appset_webhook: str
    metrics: dict[str, int]


class LocalArgoCD:
    """Argo CD's controllers for one DevCluster, state under <cluster dir>/argocd."""

    def __init__(self, cluster: DevCluster, polling: Polling = Polling()) -> None:
        self.cluster = cluster
        self.polling = polling
        self.dir = cluster.dir / "argocd"

    # -- queries -------------------------------------------------------------------------------

    def components(self) -> dict[str, Component]:
        state = self.cluster.state()
        if state is None:
            return {}
        return {n: c for n, c in state.components.items() if n in COMPONENTS}

    def running(self) -> bool:
        statuses = {s.name: s.alive for s in self.cluster.status()}
        return all(statuses.get(name) for name in COMPONENTS)

    def log(self, name: str) -> Path:
        return self.cluster.logs / f"{name}.log"

    # -- up --------------------------------------------------------------------------------------

    def up(self, say: Say = print, timeout: float = 120) -> None:
        """Build what is missing, install Argo CD's objects, start the four processes."""
        if not self.cluster.running():
            raise DevClusterError("the local control plane is not running; run `mooring dev up`")
        if self.running():
            say("Argo CD is already running")
            return
        redis = shutil.which("redis-server")
        if redis is None:
            raise DevClusterError(
                "redis-server is not installed (Argo CD's cache); run scripts/bootstrap "
                "(it installs Debian's redis-server)"
            )
        binaries = ensure_built(GITOPS, say=say)
        started = time.monotonic()
        manifests = module_manifests()
        asyncio.run(self._install(manifests))
        say(f"  Argo CD {ARGOCD_VERSION}: CRDs and configuration installed in {NAMESPACE}")
        for folder in ("tmp", "tls", "ssh", "gnupg", "gpg", "redis"):
            (self.dir / folder).mkdir(parents=True, exist_ok=True)
        (self.dir / "gnupg").chmod(0o700)
        env = self._env(binaries["kustomize"].parent)
        ports: dict[str, int] = {}
        for name in COMPONENTS:
            for attempt in range(3):
                ports.update(_ports(name))
                argv, port, healthy = self._command(name, redis, str(binaries["argocd"]), ports)
                extra = {"ARGOCD_BINARY_NAME": name}
                if name == APPSET_CONTROLLER:
                    extra["ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER"] = (
                        self.polling.appset_requeue
                    )
                try:
                    component = self.cluster.attach(
                        name, argv, port, healthy, timeout=timeout, env={**env, **extra}
                    )
                except DevClusterError as error:
                    # A free port taken by another process between our check and its bind.
                    if "address already in use" in str(error) and attempt < 2:
                        continue
                    raise
                say(f"  {name} up (pid {component.pid}, port {component.port})")
                break
        say(f"  Argo CD ready in {time.monotonic() - started:.1f} s")

    def _command(
        self, name: str, redis: str, argocd: str, ports: dict[str, int]
    ) -> tuple[list[str], int, Callable[[int], bool]]:
        """One component's command line, its main port and its readiness check."""
        redis_address = f"127.0.0.1:{ports.get('redis')}"
        repo_address = f"127.0.0.1:{ports.get('repo')}"  # set once the repo-server runs
        p = self.polling
        if name == REDIS:
            argv = [
                redis,
                *("--bind", "127.0.0.1", "--port", str(ports["redis"])),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir / "redis")),
                "--daemonize",
                "no",
                # Keep argv as started: `down` recognises its processes by their command.
                *("--set-proc-title", "no"),
            ]
            return argv, ports["redis"], _redis_ok
        if name == REPO_SERVER:
            metrics = ports["repo-metrics"]
            argv = [
                argocd,
                *("--address", "127.0.0.1", "--port", str(ports["repo"])),
                *("--metrics-address", "127.0.0.1", "--metrics-port", str(metrics)),
                *("--redis", redis_address),
                *("--revision-cache-expiration", p.revision_cache),
                *("--loglevel", "warn"),
            ]
            return argv, ports["repo"], lambda _: http_ok(f"http://127.0.0.1:{metrics}/healthz")
        if name == APPSET_CONTROLLER:
            log_start = _size(self.log(APPSET_CONTROLLER))
            argv = [
                argocd,
                *("--namespace", NAMESPACE, "--argocd-repo-server", repo_address),
                *("--metrics-addr", f"127.0.0.1:{ports['appset-metrics']}"),
                *("--probe-addr", f"127.0.0.1:{ports['appset-probe']}"),
                *("--webhook-addr", f"127.0.0.1:{ports['appset-webhook']}"),
                "--enable-leader-election=false",
                *("--loglevel", "info"),
            ]
            # Its probe port answers 404 in 3.2.11; this log line (of this start) is the signal.
            return (
                argv,
                ports["appset-metrics"],
                lambda _: "Starting workers" in _read(self.log(APPSET_CONTROLLER), log_start),
            )
        argv = [
            argocd,
            *("--namespace", NAMESPACE, "--redis", redis_address, "--repo-server", repo_address),
            *("--metrics-port", str(ports["controller-metrics"])),
            *("--app-resync", str(p.app_resync), "--app-resync-jitter", str(p.app_resync_jitter)),
            # Without it the Lua health message never reaches the Application.
            "--persist-resource-health",
            *("--status-processors", "20", "--operation-processors", "10"),
            *("--loglevel", "warn"),
        ]
        return (
            argv,
            ports["controller-metrics"],
            lambda port: http_ok(f"http://127.0.0.1:{port}/healthz"),
        )

    def _env(self, kustomize_dir: Path) -> dict[str, str]:
        d = self.dir
        return {
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            # The destination https://kubernetes.default.svc is read from here, not --kubeconfig.
            "KUBECONFIG": str(self.cluster.kubeconfig_path),
            "ARGOCD_ASK_PASS_SOCK": str(d / "askpass.sock"),
            "TMPDIR": str(d / "tmp"),
            "ARGOCD_TLS_DATA_PATH": str(d / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(d / "ssh"),
            "ARGOCD_GNUPGHOME": str(d / "gnupg"),
            "ARGOCD_GPG_DATA_PATH": str(d / "gpg"),
            "ARGOCD_GPG_ENABLED": "false",
            # The repo-server runs kustomize (and git) from PATH.
            "PATH": f"{kustomize_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        }

    async def _install(self, manifests: Path) -> None:
        async with Kube.from_kubeconfig(self.cluster.kubeconfig_path) as kube:
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
            )
            crds = _load(sorted((manifests / "crds").glob("*-crd.yaml")))
            for crd in crds:
                await kube.apply(crd)  # server-side: the ApplicationSet CRD is 1 MB
            await _established(kube, [c["metadata"]["name"] for c in crds])
            kube.forget_discovery()
            for obj in _load(sorted((manifests / "base" / "config").glob("argocd-*.yaml"))):
                obj["metadata"]["namespace"] = NAMESPACE
                if obj["kind"] == "Secret" and obj["metadata"]["name"] == "argocd-secret":
                    continue  # written below with a key of its own
                await kube.apply(obj)
            if await kube.get_or_none("v1", "Secret", "argocd-secret", NAMESPACE) is None:
                # Without a server.secretkey the ApplicationSet webhook is disabled.
                key = base64.b64encode(secrets.token_bytes(32)).decode()
                await kube.apply(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {
                            "name": "argocd-secret",
                            "namespace": NAMESPACE,
                            "labels": {"app.kubernetes.io/part-of": "argocd"},
                        },
                        "data": {"server.secretkey": base64.b64encode(key.encode()).decode()},
                    }
                )
            # Only argocd-server creates the `default` project; without a server, we do.
            await kube.apply(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AppProject",
                    "metadata": {"name": "default", "namespace": NAMESPACE},
                    "spec": {
                        "sourceRepos": ["*"],
                        "destinations": [{"server": "*", "namespace": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                    },
                }
            )


def module_manifests() -> Path:
    """The pinned Argo CD module's manifests/ folder: CRDs and configuration objects."""
    folder = module_source(ARGOCD, MODULE) / "manifests"
    if not (folder / "crds").is_dir():
        raise BuildError(f"no manifests/crds in {folder.parent}")
    return folder


def _load(paths: list[Path]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in paths:
        objects += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return objects


async def _established(kube: Kube, names: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = await kube.get_or_none(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", name
            )
            conditions = ((crd or {}).get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise DevClusterError(f"Argo CD's CRD {name} was not Established in {timeout} s")
            await asyncio.sleep(0.1)


def _ports(component: str) -> dict[str, int]:
    """Fresh free ports for one component's listeners."""
    names = {
        REDIS: ("redis",),
        REPO_SERVER: ("repo", "repo-metrics"),
        APPSET_CONTROLLER: ("appset-metrics", "appset-probe", "appset-webhook"),
        APP_CONTROLLER: ("controller-metrics",),
    }[component]
    return {name: free_port() for name in names}


def _redis_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read(path: Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
