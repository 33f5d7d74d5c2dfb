"""The operator image, built without a container engine by scripts/build-image (the
Dockerfile's two stages from Debian's and PyPI's packages), and started as a pod would start
it: its entrypoint and command from the image config, in a chroot of its root filesystem
mounted read-only, as user 65532, with the ServiceAccount token mounted where the kubelet
mounts it, against a local control plane. It answers /healthz and becomes ready.

The build takes minutes (on 2 busy cores: 3.5 min for the Debian base, cached after, and
3.4 min for the rest), so these tests run when the image is built already
(MOORING_IMAGE_DIR, default build/image; `make image-test`) or when MOORING_IMAGE_TEST=1
asks for a build; otherwise they are skipped with that said.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mooring import __version__
from mooring.core.render.platform import install
from mooring.devcluster.cluster import DevCluster, free_port
from mooring.kube.client import Kube
from mooring.services.install import install_platform
from tests.incluster import mount_service_account

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
IMAGE = Path(os.environ.get("MOORING_IMAGE_DIR") or ROOT / "build" / "image")
MOUNT = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run in Debian


def _built() -> bool:
    return (IMAGE / "oci" / "index.json").is_file() and (IMAGE / "rootfs").is_dir()


@pytest.fixture(scope="module")
def image() -> Path:
    if os.geteuid() != 0:
        pytest.skip("the image tests need root (chroot, mount namespaces); run as root")
    if os.environ.get("MOORING_IMAGE_TEST") == "1":
        started = time.monotonic()
        subprocess.run([str(ROOT / "scripts" / "build-image"), str(IMAGE)], check=True)
        print(f"[image] scripts/build-image took {time.monotonic() - started:.0f} s")
    elif not _built():
        pytest.skip(
            f"no image in {IMAGE}: run `make image-test` (scripts/build-image takes "
            "minutes), or set MOORING_IMAGE_TEST=1 to build it here"
        )
    return IMAGE


def blob(layout: Path, digest: str) -> bytes:
    algorithm, _, value = digest.partition(":")
    data = (layout / "blobs" / algorithm / value).read_bytes()
    assert hashlib.sha256(data).hexdigest() == value, f"blob {digest} does not match its digest"
    return data


def image_config(layout: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    manifest = json.loads(blob(layout, entry["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    for layer in manifest["layers"]:
        blob(layout, layer["digest"])
    return entry, config


def test_the_image_is_a_valid_oci_layout_tagged_with_the_version(image: Path) -> None:
    entry, config = image_config(image / "oci")
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == __version__
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    assert config["config"]["User"] == "65532:65532"
    assert config["config"]["Entrypoint"] == ["/opt/mooring/bin/mooring"]
    assert config["config"]["Cmd"] == ["operator", "--in-cluster"]


def test_the_image_has_no_shell_and_no_package_manager(image: Path) -> None:
    rootfs = image / "rootfs"
    for program in ("sh", "bash", "dash", "apt-get", "dpkg"):
        assert not (rootfs / "usr" / "bin" / program).exists(), program
    # The entrypoint is started by the kernel from its #! line: no shell involved.
    assert (rootfs / "opt/mooring/bin/mooring").read_text().startswith("#!/opt/mooring/bin/python")


@pytest.fixture(scope="module")
def image_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("image-controlplane") / "state")
    cluster.up(say=lambda message: print(f"[image-controlplane] {message}"))
    try:
        yield cluster
    finally:
        cluster.down(say=lambda message: print(f"[image-controlplane] {message}"), purge=True)


@pytest_asyncio.fixture(scope="module")
async def installed(image_cluster: DevCluster) -> AsyncIterator[Kube]:
    async with Kube.from_kubeconfig(image_cluster.kubeconfig_path) as kube:
        await install_platform(kube, install())
        yield kube


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


POD = """
set -e
R="$1"; ACCOUNT="$2"; shift 2
mount --bind "$R" "$R"
mount -o remount,bind,ro "$R"            # readOnlyRootFilesystem: true
mount -t tmpfs -o size=64m tmpfs "$R/tmp" # the Deployment's emptyDir
mount -t tmpfs -o size=1m tmpfs "$R/run"
mkdir -p "$R{mount}"
mount --bind -o ro "$ACCOUNT" "$R{mount}"
exec /usr/sbin/chroot --userspec=65532:65532 "$R" "$@"
""".replace("{mount}", MOUNT)


async def test_the_image_s_entrypoint_runs_read_only_as_non_root_and_becomes_ready(
    image: Path, image_cluster: DevCluster, installed: Kube, tmp_path: Path
) -> None:
    _, config = image_config(image / "oci")
    account = await mount_service_account(installed, image_cluster, tmp_path / "serviceaccount")
    state = image_cluster.state()
    assert state is not None
    metrics, health = free_port(), free_port()
    env = {  # the image's environment, and what the kubelet and the Deployment add
        **dict(item.split("=", 1) for item in config["config"]["Env"]),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(state.api_port),
        "POD_NAME": "mooring-operator-image",
        "POD_NAMESPACE": "mooring-system",
    }
    command = [
        *config["config"]["Entrypoint"],
        *config["config"]["Cmd"],
        "--leader-election",
        f"--metrics-port={metrics}",
        "--metrics-address=0.0.0.0",
        f"--health-port={health}",
        "--health-address=0.0.0.0",
    ]
    log = tmp_path / "pod.log"
    with log.open("wb") as out:
        pod = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                POD,
                "pod",
                str(image / "rootfs"),
                str(account),
                *command,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 90
        while fetch(f"http://127.0.0.1:{health}/readyz")[0] != 200:
            assert pod.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "not ready in 90 s:\n" + log.read_text()
            time.sleep(0.5)
        assert fetch(f"http://127.0.0.1:{health}/healthz") == (200, "alive\n")
        _, text = fetch(f"http://127.0.0.1:{metrics}/metrics")
        assert "mooring_operator_leader 1.0" in text
        lease = await installed.get(
            "coordination.k8s.io/v1", "Lease", "mooring-operator", "mooring-system"
        )
        assert lease["spec"]["holderIdentity"] == "mooring-operator-image"
        # The process is the operator itself (unshare, sh and chroot exec'd into it).
        status = Path(f"/proc/{pod.pid}/status").read_text()
        assert "\nUid:\t65532\t65532\t65532\t65532\n" in status
        root = next(
            line.split()
            for line in Path(f"/proc/{pod.pid}/mountinfo").read_text().splitlines()
            if line.split()[4] == "/"
        )
        assert root[5].split(",")[0] == "ro", "the root filesystem is mounted read-only"
    finally:
        pod.terminate()
        pod.wait(30)
        print(f"[pod] log:\n{log.read_text()[-3000:]}")
    assert pod.returncode == 0, "a clean stop on SIGTERM"
