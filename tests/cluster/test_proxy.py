"""The client honours proxies as kubectl does, through a real proxy process: the
kubeconfig's `proxy-url`, HTTPS_PROXY and NO_PROXY, and never a proxy for loopback.

The proxy tunnels to the local API server whatever host the client asks for, so a
kubeconfig naming the server `kubernetes.default.svc` (in its certificate, but not resolvable
here) works only through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mooring.devcluster.cluster import DevCluster

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "proxy.log"
    log.touch()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.cluster.connect_proxy", str(log), "127.0.0.1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=10)


def kubeconfig(dev_cluster: DevCluster, tmp_path: Path, host: str, proxy_url: str = "") -> Path:
    config = yaml.safe_load(dev_cluster.admin_kubeconfig())
    cluster = config["clusters"][0]["cluster"]
    port = urlsplit(cluster["server"]).port
    cluster["server"] = f"https://{host}:{port}"
    if proxy_url:
        cluster["proxy-url"] = proxy_url
    path = tmp_path / f"{host}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def mooring(path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", "db", "list", "-A", "-o", "json"]
        + ["--kubeconfig", str(path)],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_https_proxy_carries_requests_unless_no_proxy_names_the_host(
    dev_cluster: DevCluster,
    tmp_path: Path,
    proxy: tuple[str, Path],
    platform: dict[str, Any],
) -> None:
    url, log = proxy
    path = kubeconfig(dev_cluster, tmp_path, "kubernetes.default.svc")
    through = mooring(path, HTTPS_PROXY=url, NO_PROXY="example.com")
    assert through.returncode == 0, through.stderr
    assert log.read_text().splitlines()[0].startswith("kubernetes.default.svc:")
    log.write_text("")
    for no_proxy in ("kubernetes.default.svc", ".svc", "*"):
        direct = mooring(path, HTTPS_PROXY=url, NO_PROXY=no_proxy)
        assert direct.returncode == 3, no_proxy  # the name does not resolve here
        assert log.read_text() == "", f"NO_PROXY={no_proxy} went through the proxy"


def test_the_kubeconfigs_proxy_url_is_used_without_any_environment(
    dev_cluster: DevCluster,
    tmp_path: Path,
    proxy: tuple[str, Path],
    platform: dict[str, Any],
) -> None:
    url, log = proxy
    path = kubeconfig(dev_cluster, tmp_path, "kubernetes.default.svc", proxy_url=url)
    done = mooring(path)
    assert done.returncode == 0, done.stderr
    assert "kubernetes.default.svc:" in log.read_text()


def test_a_loopback_server_is_reached_directly_whatever_https_proxy_says(
    dev_cluster: DevCluster,
    tmp_path: Path,
    proxy: tuple[str, Path],
    platform: dict[str, Any],
) -> None:
    url, log = proxy
    done = mooring(kubeconfig(dev_cluster, tmp_path, "127.0.0.1"), HTTPS_PROXY=url)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == ""
