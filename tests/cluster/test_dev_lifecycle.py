"""`mooring dev up | status | kubeconfig | down` as a person runs them, on a second cluster."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mooring.devcluster.cluster import DevCluster, DevClusterError, _alive, _port_free
from mooring.kube.client import Kube

pytestmark = pytest.mark.cluster


def mooring(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def whoami(kubeconfig: Path) -> dict[str, object]:
    async with Kube.from_kubeconfig(kubeconfig) as kube:
        review = await kube.create(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}
        )
    info = review["status"]["userInfo"]
    return {"username": info["username"], "groups": info["groups"]}


def test_up_status_kubeconfig_and_down_leave_nothing_behind(tmp_path: Path) -> None:
    state = str(tmp_path / "dev")
    started = mooring("dev", "up", "--state-dir", state, "--nodes", "2")
    assert started.returncode == 0, started.stderr
    assert "ready in" in started.stderr
    assert "export KUBECONFIG=" in started.stderr
    try:
        again = mooring("dev", "up", "--state-dir", state)
        assert again.returncode == 0
        assert "already running" in again.stderr

        status = mooring("dev", "status", "--state-dir", state)
        assert status.returncode == 0, status.stdout
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            assert f"{name}" in status.stdout
        assert "STOPPED" not in status.stdout

        minted = mooring(
            "dev", "kubeconfig", "--state-dir", state, "--user", "carol", "--group", "g1"
        )
        assert minted.returncode == 0, minted.stderr
        config = yaml.safe_load(minted.stdout)
        assert config["users"][0]["name"] == "carol"
        path = tmp_path / "carol.kubeconfig"
        path.write_text(minted.stdout)
        assert asyncio.run(whoami(path)) == {
            "username": "carol",
            "groups": ["g1", "system:authenticated"],
        }
    finally:
        cluster = DevCluster(Path(state))
        recorded = cluster.state()
        stopped = mooring("dev", "down", "--state-dir", state)
    assert stopped.returncode == 0, stopped.stderr
    assert recorded is not None
    for component in recorded.components.values():
        assert not _alive(component.pid, component.argv[0]), f"{component.name} still runs"
        assert _port_free(component.port), f"{component.name} port {component.port} still bound"
    status = mooring("dev", "status", "--state-dir", state)
    assert status.returncode == 3
    # An error, so on stderr; stdout (the status table) is empty.
    assert "not running" in status.stderr and status.stdout == ""


def test_a_component_that_fails_to_start_is_named_with_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "kube-scheduler"
    broken.write_text("#!/bin/sh\necho 'scheduler: cannot start: simulated failure' >&2\nexit 1\n")
    broken.chmod(0o755)
    cluster = DevCluster(tmp_path / "dev")
    with pytest.raises(DevClusterError) as raised:
        cluster.up(say=lambda _: None, binaries={"kube-scheduler": broken}, timeout=60)
    message = str(raised.value)
    assert message.startswith("kube-scheduler exited with code 1 during start")
    assert str(tmp_path / "dev" / "logs" / "kube-scheduler.log") in message
    assert "simulated failure" in message
    # What did start (etcd, kube-apiserver, kube-controller-manager) was stopped again.
    assert cluster.state() is None
    assert _processes_mentioning(str(tmp_path)) == []


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(cmdline)
    return found
