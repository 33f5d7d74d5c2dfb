"""Build the control plane's binaries from their pinned Go modules, once.

Side effects: runs `go build` and writes binaries into the cache folder
`$MOORING_CACHE` (default `${XDG_CACHE_HOME:-~/.cache}/mooring`) under
`<group>/<module>-<key>/`, where the key hashes the module's go.mod, go.sum and the Go
toolchain version, so a changed pin builds anew and an unchanged one never does. The cache
lives outside the checkout so that every clone and worktree on a machine (CI's clean clone
included) shares one build; a lock file per target keeps two builds of it from racing.
Only the Go module proxy is contacted (by the go command), nothing else is downloaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class BuildError(RuntimeError):
    """A binary could not be built; the message names the module and the command."""


@dataclass(frozen=True)
class GoTool:
    """A pinned Go module under tools/ and the commands it builds."""

    module_dir: str  # relative to the repository's tools/ folder, e.g. "controlplane/etcd"
    packages: dict[str, str]  # binary name -> Go package path
    ldflags: str = ""  # e.g. "-X pkg.version=1.2.3" for a binary that reports its version

    def key(self, tools: Path, go_version: str) -> str:
        digest = hashlib.sha256(go_version.encode())
        for name in ("go.mod", "go.sum"):
            digest.update((tools / self.module_dir / name).read_bytes())
        # A module with a main of its own (tools/observe/otelcol): its source is part of the pin.
        for source in sorted((tools / self.module_dir).glob("*.go")):
            digest.update(source.name.encode() + source.read_bytes())
        if self.ldflags:
            digest.update(self.ldflags.encode())
        return digest.hexdigest()[:16]


KUBERNETES = GoTool(
    "controlplane/kubernetes",
    {
        name: f"k8s.io/kubernetes/cmd/{name}"
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    },
)
ETCD = GoTool("controlplane/etcd", {"etcd": "go.etcd.io/etcd/server/v3"})
KWOK = GoTool("controlplane/kwok", {"kwok": "sigs.k8s.io/kwok/cmd/kwok"})
CONTROL_PLANE = (ETCD, KWOK, KUBERNETES)
HELM_VERSION = "v3.22.0"  # the pin in tools/helm/helm/go.mod
# helm, to lint and render Mooring's chart (deploy/helm/mooring) in tests and CI.
HELM = GoTool(
    "helm/helm",
    {"helm": "helm.sh/helm/v3/cmd/helm"},
    ldflags=f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
)
# The addon catalog's OpenTelemetry Collector (tools/observe/otelcol/main.go): `otelcol validate`
# checks the configuration Mooring generates. Built on first use by its test, then cached.
OTELCOL = GoTool("observe/otelcol", {"otelcol": "mooring.dev/tools/otelcol"})

# GitOps: Argo CD is one multi-call binary (the component is picked by ARGOCD_BINARY_NAME);
# its repo-server runs kustomize from PATH for the environments' overlays. Built only when
# GitOps is used (`mooring dev up --gitops`, scripts/bootstrap), 9-10 min cold, ~2.6 GB to link.
ARGOCD_VERSION = "3.2.11"
ARGOCD = GoTool(
    "gitops/argocd",
    {"argocd": "github.com/argoproj/argo-cd/v3/cmd"},
    ldflags=f"-s -w -X github.com/argoproj/argo-cd/v3/common.version={ARGOCD_VERSION}",
)
KUSTOMIZE = GoTool("gitops/kustomize", {"kustomize": "sigs.k8s.io/kustomize/kustomize/v5"})
GITOPS = (KUSTOMIZE, ARGOCD)


def repository_root() -> Path:
    """The checkout this package runs from (an editable install), or $MOORING_ROOT."""
    configured = os.environ.get("MOORING_ROOT")
    if configured:
        return Path(configured).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "tools" / "controlplane").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise BuildError(
        "cannot find the Mooring checkout (tools/controlplane) above "
        f"{here}; install with `pip install -e .` from the checkout or set MOORING_ROOT"
    )


def cache_root() -> Path:
    """$MOORING_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/mooring: shared by every checkout."""
    configured = os.environ.get("MOORING_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mooring"


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for building `target` (another process waits, then finds it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.with_name(target.name + ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: a too-new `go` directive fails at once instead of fetching a toolchain.
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly -buildvcs=false"}


def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the `go` command is not on PATH; install Go (see README) and retry")
    done = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, env=_go_env(), check=False
    )
    if done.returncode != 0:
        raise BuildError(f"`go env GOVERSION` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def module_source(tool: GoTool, module: str) -> Path:
    """Where the go command keeps the source of `module` as `tool` pins it (the module cache;
    fetched from the module proxy when missing). For files a module ships beside its code,
    such as Argo CD's manifests/."""
    folder = repository_root() / "tools" / tool.module_dir
    done = subprocess.run(
        ["go", "mod", "download", "-json", module],
        cwd=folder,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"`go mod download -json {module}` failed in {folder}: {done.stderr}")
    return Path(json.loads(done.stdout)["Dir"])


def binary_dir(tool: GoTool, tools: Path, version: str) -> Path:
    """<cache>/<group>/<module>-<key>, e.g. controlplane/etcd-0123abcd for controlplane/etcd."""
    module = Path(tool.module_dir)
    return cache_root() / module.parent / f"{module.name}-{tool.key(tools, version)}"


def ensure_built(
    tools: Iterable[GoTool] = CONTROL_PLANE,
    say: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Build what is missing; return every binary's path by name."""
    root = repository_root() / "tools"
    version = go_version()
    paths: dict[str, Path] = {}
    for tool in tools:
        target = binary_dir(tool, root, version)
        missing = [name for name in tool.packages if not (target / name).is_file()]
        if missing:
            with build_lock(target):
                missing = [name for name in tool.packages if not (target / name).is_file()]
                if missing:
                    _build(tool, root, target, missing, say)
        paths.update({name: target / name for name in tool.packages})
    return paths


def _go_binary_name(package: str) -> str:
    """The file name `go build -o DIR/` gives a command: its last path element, skipping /vN."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _build(
    tool: GoTool, root: Path, target: Path, names: list[str], say: Callable[[str], None]
) -> None:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    packages = [tool.packages[name] for name in names]
    say(f"building {', '.join(names)} from {tool.module_dir} (first time only; takes minutes)")
    started = time.monotonic()
    # With -o naming a folder, one `go build` links every listed command, sharing the compile.
    ldflags = ["-ldflags", tool.ldflags] if tool.ldflags else []
    command = ["go", "build", "-trimpath", *ldflags, "-o", str(staging) + os.sep, *packages]
    done = subprocess.run(
        command,
        cwd=root / tool.module_dir,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(
            f"building {', '.join(names)} failed in tools/{tool.module_dir}:\n"
            f"$ {' '.join(command)}\n{done.stderr.strip()[-4000:]}"
        )
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        built = staging / _go_binary_name(tool.packages[name])
        if not built.is_file():
            candidates = sorted(p.name for p in staging.iterdir())
            raise BuildError(f"go build produced {candidates}, not {built.name}")
        built.replace(target / name)
    shutil.rmtree(staging, ignore_errors=True)
    say(f"built {', '.join(names)} in {time.monotonic() - started:.0f} s -> {target}")
