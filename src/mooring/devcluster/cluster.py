"""Start, stop and inspect the local control plane as processes on 127.0.0.1.

Side effects: writes a state folder (certificates, etcd data, logs, kubeconfigs, state.json
with every PID and port), starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok as detached processes, registers kwok's fake nodes. `down` stops
exactly the PIDs `up` recorded, and checks their ports are free again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mooring.api import yamldump
from mooring.api.names import KWOK_NODE_ANNOTATION, KWOK_NODE_VALUE
from mooring.core.render.platform import operator_user
from mooring.devcluster import pki
from mooring.devcluster.binaries import ensure_built
from mooring.devcluster.postgres import LocalPostgres
from mooring.kube.client import Conflict, Kube

ADMIN_USER = "mooring-admin"
# Who may read the components' /metrics (the dev Prometheus scrapes as this user).
METRICS_READER = "mooring-dev-prometheus"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Starts of one component, each on a newly chosen port, before its taken port is an error.
PORT_ATTEMPTS = 3
# Local ports are chosen from here up to the kernel's ephemeral range (free_port).
PORTS_FROM = 20000

Say = Callable[[str], None]


class DevClusterError(RuntimeError):
    """The local control plane could not be started, stopped or reached; says which part."""


class PortTaken(DevClusterError):
    """A component exited at start because its port was taken after it was chosen."""


@dataclass
class Component:
    name: str
    pid: int
    port: int
    log: str
    argv: list[str]


@dataclass
class State:
    """What `up` started, written to state.json so `down` and `status` find it again."""

    api_port: int
    components: dict[str, Component] = field(default_factory=dict)
    started_at: float = 0.0
    ready_seconds: float = 0.0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @classmethod
    def load(cls, path: Path) -> State:
        raw = json.loads(path.read_text())
        components = {name: Component(**c) for name, c in raw.pop("components").items()}
        return cls(components=components, **raw)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


@dataclass(frozen=True)
class NodeShape:
    """The fake nodes kwok keeps Ready: how many and the capacity of each."""

    count: int = 4
    cpu: str = "8"
    memory: str = "32Gi"
    pods: str = "110"
    ephemeral_storage: str = "100Gi"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int
    port: int
    alive: bool
    log: str


def default_state_dir() -> Path:
    configured = os.environ.get("MOORING_DEV_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mooring" / "dev"


class DevCluster:
    """One local control plane, rooted in a state folder."""

    def __init__(
        self,
        state_dir: Path | None = None,
        nodes: NodeShape = NodeShape(),
        apiserver_args: tuple[str, ...] = (),
    ) -> None:
        """`apiserver_args` are extra kube-apiserver flags (benchmarks turn on audit logs)."""
        self.dir = (state_dir or default_state_dir()).resolve()
        self.nodes = nodes
        self.apiserver_args = apiserver_args
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.state_file = self.dir / "state.json"
        self.kubeconfig_path = self.dir / "kubeconfig"
        # The demo's PostgreSQL: under /tmp, because the postgres user it runs as cannot
        # enter root's home, where the state folder usually is.
        self.postgres_root = Path(tempfile.gettempdir()) / (
            "mooring-dev-postgres-" + hashlib.sha256(str(self.dir).encode()).hexdigest()[:10]
        )
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- queries -------------------------------------------------------------------------------

    def state(self) -> State | None:
        if not self.state_file.is_file():
            return None
        try:
            return State.load(self.state_file)
        except (ValueError, TypeError, KeyError) as error:
            raise DevClusterError(
                f"{self.state_file} is unreadable ({error}); run `mooring dev down --purge`"
            ) from error

    def status(self) -> list[ComponentStatus]:
        state = self.state()
        if state is None:
            return []
        return [
            ComponentStatus(c.name, c.pid, c.port, _alive(c.pid, c.argv[0]), c.log)
            for c in state.components.values()
        ]

    def running(self) -> bool:
        """The control plane runs (attached extras, such as an operator, may not)."""
        statuses = [s for s in self.status() if s.name in ORDER]
        return bool(statuses) and all(s.alive for s in statuses)

    def component_alive(self, name: str) -> bool:
        return any(s.alive for s in self.status() if s.name == name)

    # -- up --------------------------------------------------------------------------------------

    def up(
        self, say: Say = print, timeout: float = 90, binaries: dict[str, Path] | None = None
    ) -> State:
        """Build what is missing, start every component, register nodes, wait until ready.

        `binaries` overrides where each program is found (tests use it to break one).
        """
        if self.running():
            state = self.state()
            assert state is not None
            say(f"the local control plane is already running at {state.server}")
            return state
        if self.state() is not None:
            say("cleaning up a control plane that stopped uncleanly")
            self.down(say=lambda _: None)
        binaries = {**ensure_built(say=say), **(binaries or {})}
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self._ensure_pki()
        state = State(api_port=free_port(), started_at=time.time())
        try:
            self._start_all(state, binaries, timeout, say)
            asyncio.run(self._register_nodes_and_wait(state, started + timeout))
        except BaseException:
            # Leave nothing half started: stop whatever did start.
            state.save(self.state_file)
            self.down(say=lambda _: None)
            raise
        state.ready_seconds = round(time.monotonic() - started, 2)
        state.save(self.state_file)
        say(f"ready in {state.ready_seconds:.1f} s at {state.server}")
        return state

    def _start_all(self, state: State, binaries: dict[str, Path], timeout: float, say: Say) -> None:
        deadline = time.monotonic() + timeout
        etcd = {"client": free_port(), "peer": free_port()}
        data = self.dir / "etcd"

        def etcd_args(port: int) -> list[str]:
            etcd["client"] = port
            peer = etcd["peer"]
            return [
                str(binaries["etcd"]),
                "--name=mooring",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{port}",
                f"--advertise-client-urls=http://127.0.0.1:{port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=mooring=http://127.0.0.1:{peer}",
                # A throwaway local cluster: durability is not worth an fsync per write.
                "--unsafe-no-fsync",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ]

        def apiserver_args(port: int) -> list[str]:
            state.api_port = port
            self._write_kubeconfigs(state.server)
            return self._apiserver_args(binaries["kube-apiserver"], port, etcd["client"])

        components: dict[str, tuple[Callable[[int], list[str]], Callable[[int], bool]]] = {
            "etcd": (etcd_args, lambda port: http_ok(f"http://127.0.0.1:{port}/health")),
            "kube-apiserver": (
                apiserver_args,
                lambda port: http_ok(f"https://127.0.0.1:{port}/readyz", self._admin_tls()),
            ),
            "kube-controller-manager": (
                lambda port: [
                    *self._controller_manager_args(binaries["kube-controller-manager"]),
                    f"--secure-port={port}",
                ],
                lambda port: http_ok(f"https://127.0.0.1:{port}/healthz", _insecure_tls()),
            ),
            "kube-scheduler": (
                lambda port: [
                    *self._scheduler_args(binaries["kube-scheduler"]),
                    f"--secure-port={port}",
                ],
                lambda port: http_ok(f"https://127.0.0.1:{port}/healthz", _insecure_tls()),
            ),
            "kwok": (
                lambda port: [
                    *self._kwok_args(binaries["kwok"]),
                    f"--server-address=127.0.0.1:{port}",
                ],
                lambda port: http_ok(f"http://127.0.0.1:{port}/healthz"),
            ),
        }
        for name in ORDER:
            argv_of, healthy = components[name]
            port = state.api_port if name == "kube-apiserver" else free_port()
            for attempt in range(1, PORT_ATTEMPTS + 1):
                component = self._spawn(name, argv_of(port), port)
                state.components[name] = component
                state.save(self.state_file)
                try:
                    self._wait_healthy(component, healthy, deadline)
                    break
                except PortTaken:
                    # Another process bound the port between its choice and this start
                    # (a port is only free until someone takes it): choose again.
                    if attempt == PORT_ATTEMPTS:
                        raise
                    say(f"  {name}: port {port} was taken meanwhile; choosing another")
                    port = free_port()
                    if name == "etcd":
                        etcd["peer"] = free_port()
            say(f"  {name} up (pid {component.pid}, port {port})")

    def _apiserver_args(self, binary: Path, port: int, etcd_port: int) -> list[str]:
        p = self.pki
        return [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            # The `kubernetes` Service cannot point at a loopback address; nothing needs it here.
            "--endpoint-reconciler-type=none",
            "--max-requests-inflight=1000",
            "--max-mutating-requests-inflight=500",
            "--profiling=false",
            "--v=0",
            *self.apiserver_args,
        ]

    def _controller_manager_args(self, binary: Path) -> list[str]:
        kubeconfig = self.dir / "controller-manager.kubeconfig"
        return [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={self.pki / 'ca.crt'}",
            f"--cluster-signing-key-file={self.pki / 'ca.key'}",
            "--use-service-account-credentials=true",  # each controller acts as its own SA
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-namespace-syncs=20",
            "--concurrent-gc-syncs=40",
            "--v=0",
        ]

    def _scheduler_args(self, binary: Path) -> list[str]:
        kubeconfig = self.dir / "scheduler.kubeconfig"
        return [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--v=0",
        ]

    def _kwok_args(self, binary: Path) -> list[str]:
        config = self.dir / "kwok.yaml"
        config.write_text(resources.files("mooring.devcluster").joinpath("kwok.yaml").read_text())
        return [
            str(binary),
            f"--kubeconfig={self.dir / 'kwok.kubeconfig'}",
            f"--config={config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
            f"--cidr={POD_CIDR}",
            "--node-ip=10.0.0.1",
        ]

    def attach(
        self,
        name: str,
        argv: list[str],
        port: int,
        healthy: Callable[[int], bool],
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
    ) -> Component:
        """Start another process (the demo's operator, Argo CD) that `down` stops with the rest.

        Already running: returned as it is. `env` is added to this process's environment.
        """
        state = self.state()
        if state is None or not self.running():
            raise DevClusterError("the local control plane is not running; run `mooring dev up`")
        current = state.components.get(name)
        if current is not None and _alive(current.pid, current.argv[0]):
            return current
        component = self._spawn(name, argv, port, env)
        state.components[name] = component
        state.save(self.state_file)
        self._wait_healthy(component, healthy, time.monotonic() + timeout)
        return component

    def _spawn(
        self, name: str, argv: list[str], port: int, env: Mapping[str, str] | None = None
    ) -> Component:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env={**os.environ, **env} if env else None,
                start_new_session=True,  # outlives the command that started it
            )
        self._children[process.pid] = process
        return Component(name, process.pid, port, str(log), argv)

    def _wait_healthy(
        self, component: Component, healthy: Callable[[int], bool], deadline: float
    ) -> None:
        process = self._children[component.pid]
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                tail = _tail(Path(component.log))
                error = PortTaken if _port_taken(tail) else DevClusterError
                raise error(
                    f"{component.name} {how} during start; its log is {component.log}:\n" + tail
                )
            if healthy(component.port):
                return
            time.sleep(0.1)
        raise DevClusterError(
            f"{component.name} did not become healthy in time; its log is {component.log}:\n"
            + _tail(Path(component.log))
        )

    async def _register_nodes_and_wait(self, state: State, deadline: float) -> None:
        async with Kube.from_kubeconfig(self.kubeconfig_path) as kube:
            for obj in _metrics_reader_rbac():
                await kube.apply(obj)
            for index in range(self.nodes.count):
                with contextlib.suppress(Conflict):
                    await kube.create(self._node(f"kwok-node-{index}"))
            while True:
                nodes = await kube.list("v1", "Node", labels="type=kwok")
                ready = [n for n in nodes if _condition(n, "Ready") == "True"]
                account = await kube.get_or_none("v1", "ServiceAccount", "default", "default")
                if len(ready) >= self.nodes.count and account is not None:
                    return
                if time.monotonic() > deadline:
                    kwok_log = state.components["kwok"].log
                    raise DevClusterError(
                        f"{len(ready)} of {self.nodes.count} kwok nodes Ready, default service "
                        f"account {'present' if account else 'missing'} after the deadline; "
                        f"logs: {kwok_log}, {state.components['kube-controller-manager'].log}"
                    )
                await asyncio.sleep(0.2)

    def _node(self, name: str) -> dict[str, Any]:
        shape = self.nodes
        resources_ = {
            "cpu": shape.cpu,
            "memory": shape.memory,
            "pods": shape.pods,
            "ephemeral-storage": shape.ephemeral_storage,
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/agent": "",
                },
            },
            "status": {"capacity": resources_, "allocatable": resources_},
        }

    # -- down ------------------------------------------------------------------------------------

    def down(self, say: Say = print, purge: bool = False) -> None:
        """Stop every process `up` started (by PID) and check their ports are free."""
        if self.postgres_root.exists():
            server = LocalPostgres(self.postgres_root)
            server.stop()
            if purge:
                server.remove()
        state = self.state()
        if state is None:
            say("the local control plane is not running")
        else:
            # Attached processes (an operator) first, then the control plane in reverse.
            extra = [n for n in state.components if n not in ORDER]
            for name in [*extra, *reversed(ORDER)]:
                component = state.components.get(name)
                if component is not None:
                    _stop(component)
            busy = [
                f"{c.name} port {c.port}"
                for c in state.components.values()
                if not _port_free(c.port)
            ]
            # A just-closed listening socket may linger a moment; give the kernel that moment.
            for _ in range(50):
                if not busy:
                    break
                time.sleep(0.1)
                busy = [b for b in busy if not _port_free(int(b.rsplit(" ", 1)[1]))]
            if busy:
                raise DevClusterError(f"stopped, but still in use: {', '.join(busy)}")
            self.state_file.unlink(missing_ok=True)
            say("the local control plane is stopped")
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
            say(f"removed {self.dir}")

    # -- credentials -----------------------------------------------------------------------------

    def _ensure_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        if not (self.pki / "ca.crt").is_file():
            ca = pki.make_ca()
            ca.write(self.pki, "ca")
            pki.make_serving(ca).write(self.pki, "apiserver")
            sa = pki.make_service_account_keys()
            (self.pki / "sa.pub").write_bytes(sa.cert)
            (self.pki / "sa.key").touch(mode=0o600)
            (self.pki / "sa.key").write_bytes(sa.key)
            pki.make_client(ca, ADMIN_USER, ("system:masters",)).write(self.pki, "admin")

    def ca(self) -> pki.KeyPair:
        try:
            return pki.KeyPair(
                (self.pki / "ca.crt").read_bytes(), (self.pki / "ca.key").read_bytes()
            )
        except FileNotFoundError as error:
            raise DevClusterError(
                f"no certificates in {self.pki}; start the control plane with `mooring dev up`"
            ) from error

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def _write_kubeconfigs(self, server: str) -> None:
        ca = self.ca()
        admin = pki.KeyPair(
            (self.pki / "admin.crt").read_bytes(), (self.pki / "admin.key").read_bytes()
        )
        _write_private(self.kubeconfig_path, kubeconfig_yaml(server, ca.cert, ADMIN_USER, admin))
        for file, user, groups in (
            ("controller-manager.kubeconfig", "system:kube-controller-manager", ()),
            ("scheduler.kubeconfig", "system:kube-scheduler", ()),
            ("kwok.kubeconfig", "kwok", ("system:masters",)),
        ):
            pair = pki.make_client(ca, user, groups)
            _write_private(self.dir / file, kubeconfig_yaml(server, ca.cert, user, pair))

    def operator_kubeconfig(self, path: Path) -> Path:
        """Write credentials of the operator's ServiceAccount (its least-privilege RBAC)."""
        user, groups = operator_user()
        _write_private(path, self.mint_kubeconfig(user, groups))
        return path

    def admin_kubeconfig(self) -> str:
        if not self.running():
            raise DevClusterError("the local control plane is not running; run `mooring dev up`")
        return self.kubeconfig_path.read_text()

    def apiserver_profile(self, seconds: int) -> bytes:
        """A CPU profile of the API server over `seconds`, from its pprof endpoint (it must
        run with `--profiling=true`); `go tool pprof` reads it."""
        state = self.state()
        if state is None:
            raise RuntimeError("the local control plane is not running")
        port = state.components["kube-apiserver"].port
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        url = f"https://127.0.0.1:{port}/debug/pprof/profile?seconds={seconds}"
        with urllib.request.urlopen(url, context=context, timeout=seconds + 60) as response:
            data: bytes = response.read()
        return data

    def mint_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> str:
        """A kubeconfig that authenticates as `user` in `groups` with a fresh client cert."""
        state = self.state()
        if state is None:
            raise DevClusterError("the local control plane is not running; run `mooring dev up`")
        ca = self.ca()
        return kubeconfig_yaml(
            state.server, ca.cert, user, pki.make_client(ca, user, tuple(groups))
        )


def _metrics_reader_rbac() -> list[dict[str, Any]]:
    """Read access to every component's /metrics for METRICS_READER (the dev Prometheus)."""
    name = "mooring-dev-metrics-reader"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"nonResourceURLs": ["/metrics", "/metrics/*"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": METRICS_READER}
            ],
        },
    ]


def operator_command(
    kubeconfig: Path, metrics_port: int, *options: str, python: Sequence[str] = ()
) -> list[str]:
    """`mooring operator` as a child process of this Python (`python`: interpreter options,
    such as a profiler)."""
    return [
        sys.executable,
        *python,
        "-m",
        "mooring.cli",
        "operator",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-port",
        str(metrics_port),
        *options,
    ]


def kubeconfig_yaml(server: str, ca_cert: bytes, user: str, client: pki.KeyPair) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mooring-dev",
                "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client.cert),
                    "client-key-data": b64(client.key),
                },
            }
        ],
        "contexts": [{"name": "mooring-dev", "context": {"cluster": "mooring-dev", "user": user}}],
        "current-context": "mooring-dev",
    }
    return yamldump.dump(config)


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            status: str = condition.get("status", "")
            return status
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Chosen below the kernel's ephemeral range, which outgoing connections draw their local
    ports from: a port from that range can be taken by any client between its choice and
    the server's bind (CI saw kube-controller-manager fail so). Random, so that clusters
    started side by side rarely try the same one; checked by binding it.
    """
    low = _ephemeral_low()
    candidates = random.sample(range(PORTS_FROM, low), min(64, max(0, low - PORTS_FROM)))
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # nothing free below the range: the kernel's choice
        chosen: int = sock.getsockname()[1]
        return chosen


def _ephemeral_low(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The first port of the kernel's ephemeral range (Linux's default when unreadable)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_taken(log_tail: str) -> bool:
    """Did the component's log end with a failed bind (Go's and etcd's words)?"""
    return "address already in use" in log_tail


def _port_free(port: int) -> bool:
    """Could a server listen on this port now? (SO_REUSEADDR, as servers bind.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _insecure_tls() -> ssl.SSLContext:
    # Only for /healthz of components whose serving certificate is self-signed at start.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _alive(pid: int, binary: str) -> bool:
    """Is `pid` still the process we started (not a zombie, not a recycled PID)?"""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and cmdline == binary


def _reap(pid: int) -> None:
    # When this process started the component it is our child; collect its exit status.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _stop(component: Component, grace: float = 10) -> None:
    binary = component.argv[0]
    if not _alive(component.pid, binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(component.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(component.pid, binary):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(component.pid, signal.SIGKILL)
    while _alive(component.pid, binary):
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])
