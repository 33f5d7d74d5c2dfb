"""Which proxy the client uses for the API server: kubectl's choice (Go's net/http)."""

from __future__ import annotations

import pytest

from mooring.kube.transport import proxy_for

SERVER = "https://api.cluster.example.com:6443"
PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("server", "configured", "environ", "expected"),
    [
        (SERVER, None, {"HTTPS_PROXY": PROXY}, PROXY),
        (SERVER, None, {"https_proxy": PROXY}, PROXY),
        (SERVER, None, {"HTTPS_PROXY": "proxy.corp:3128"}, PROXY),
        (SERVER, None, {"HTTP_PROXY": PROXY}, None),
        ("http://api.example.com", None, {"HTTP_PROXY": PROXY}, PROXY),
        (SERVER, None, {}, None),
        (SERVER, "http://other:8080", {"HTTPS_PROXY": PROXY}, "http://other:8080"),
        (SERVER, "http://other:8080", {"NO_PROXY": "*"}, "http://other:8080"),
        ("https://127.0.0.1:6443", None, {"HTTPS_PROXY": PROXY}, None),
        ("https://localhost:6443", None, {"HTTPS_PROXY": PROXY}, None),
        ("https://[::1]:6443", None, {"HTTPS_PROXY": PROXY}, None),
    ],
    ids=[
        "HTTPS_PROXY for an https server",
        "lower-case https_proxy too",
        "a proxy without a scheme is http",
        "HTTP_PROXY is not for https",
        "HTTP_PROXY for an http server",
        "no proxy set",
        "the kubeconfig's proxy-url wins",
        "proxy-url is used whatever NO_PROXY says",
        "never for a loopback address",
        "never for localhost",
        "never for IPv6 loopback",
    ],
)
def test_the_proxy_is_chosen_as_kubectl_chooses(
    server: str, configured: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(server, configured, environ) == expected


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("*", True),
        ("example.com", True),
        (".example.com", True),
        ("*.example.com", True),
        ("cluster.example.com,other", True),
        ("api.cluster.example.com:6443", True),
        ("api.cluster.example.com:443", False),
        ("xample.com", False),
        ("10.0.0.0/8", False),
        ("", False),
    ],
)
def test_no_proxy_names_hosts_by_suffix_and_port(no_proxy: str, bypassed: bool) -> None:
    environ = {"HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy}
    assert (proxy_for(SERVER, None, environ) is None) is bypassed


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [("10.0.0.0/8", True), ("10.1.2.3", True), ("10.1.2.4", False), ("192.168.0.0/16", False)],
)
def test_no_proxy_names_addresses_and_ranges(no_proxy: str, bypassed: bool) -> None:
    environ = {"HTTPS_PROXY": PROXY, "no_proxy": no_proxy}
    assert (proxy_for("https://10.1.2.3:6443", None, environ) is None) is bypassed
