"""The local control plane's ports: chosen outside the range outgoing connections take
their local ports from, and a component whose port was taken meanwhile is told apart
(so that `up` chooses again instead of failing, as CI saw once)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from mooring.devcluster import cluster
from mooring.devcluster.cluster import DevCluster, DevClusterError, PortTaken, free_port


def test_a_free_port_lies_below_the_ephemeral_range_and_a_server_can_bind_it() -> None:
    low = cluster._ephemeral_low()
    for _ in range(20):
        port = free_port()
        assert cluster.PORTS_FROM <= port < low
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_the_ephemeral_range_is_read_from_the_kernel_or_taken_as_linux_default(
    tmp_path: Path,
) -> None:
    given = tmp_path / "ip_local_port_range"
    given.write_text("40000\t60999\n")
    assert cluster._ephemeral_low(given) == 40000
    assert cluster._ephemeral_low(tmp_path / "missing") == 32768
    given.write_text("garbage\n")
    assert cluster._ephemeral_low(given) == 32768


def test_a_range_that_leaves_nothing_below_it_falls_back_to_the_kernels_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster, "_ephemeral_low", lambda: cluster.PORTS_FROM)
    port = free_port()
    assert port > 0


# A server that cannot bind, as Go's net package says so.
BIND = """
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    print(f"failed to listen on 127.0.0.1:{sys.argv[1]}: bind: address already in use")
    sys.exit(1)
"""


def test_a_component_whose_port_is_taken_is_told_apart_from_other_failures(
    tmp_path: Path,
) -> None:
    dev = DevCluster(tmp_path)
    dev.logs.mkdir(parents=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        component = dev._spawn("binder", [sys.executable, "-c", BIND, str(taken)], taken)
        with pytest.raises(PortTaken, match="address already in use"):
            dev._wait_healthy(component, lambda _: False, time.monotonic() + 30)
    other = dev._spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"], free_port())
    with pytest.raises(DevClusterError, match="exited with code 3") as failed:
        dev._wait_healthy(other, lambda _: False, time.monotonic() + 30)
    assert not isinstance(failed.value, PortTaken)
