"""HTTPS to the API server: aiohttp with the kubeconfig's TLS, credentials and proxy.

Side effects: network connections; may run a kubeconfig `exec` credential plugin; reads
the kubeconfig file again for `proxy-url` and the environment for HTTPS_PROXY/NO_PROXY.
lightkube reads the kubeconfig (or the in-cluster service account) and builds the TLS
context (CA, client certificate); requests go through aiohttp, which costs about a third
of the CPU per request of the alternatives measured (see docs/benchmarks.md).

Proxies as kubectl (Go's net/http) chooses them: the cluster's `proxy-url` in the
kubeconfig if set; else HTTPS_PROXY (HTTP_PROXY for an http:// server, upper case before
lower case), unless NO_PROXY names the host (a name and its subdomains, `.suffix`,
`*.suffix`, an IP, a CIDR, optionally with a port; `*` for all), and never for localhost
or a loopback address.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import yaml
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import User

TOKEN_FILE_REFRESH = 60.0


class TransportError(Exception):
    """The API server could not be reached or the connection broke."""


class Credentials:
    """The Authorization header for a kubeconfig user, refreshed when it can expire."""

    def __init__(self, user: User | None) -> None:
        self.user = user
        self._header: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def header(self) -> str | None:
        user = self.user
        if user is None:
            return None
        if user.token_file is not None:  # in-cluster: the kubelet rotates the token file
            if time.monotonic() >= self._expires:
                token = Path(user.token_file).read_text().strip()
                self._header, self._expires = (
                    f"Bearer {token}",
                    time.monotonic() + TOKEN_FILE_REFRESH,
                )
            return self._header
        if user.token is not None:
            return f"Bearer {user.token}"
        if user.exec is not None:
            async with self._lock:
                if self._header is None or time.monotonic() >= self._expires:
                    self._header, self._expires = await _exec_credential(user)
            return self._header
        if user.username and user.password:
            basic = base64.b64encode(f"{user.username}:{user.password}".encode()).decode()
            return f"Basic {basic}"
        return None  # client certificates, in the TLS context

    def expire(self) -> None:
        """A 401: fetch the credential again next time."""
        self._expires = 0.0


async def _exec_credential(user: User) -> tuple[str, float]:
    plugin = user.exec
    assert plugin is not None
    env = {**os.environ, **{item.name: item.value for item in plugin.env or []}}
    process = await asyncio.create_subprocess_exec(
        plugin.command,
        *(plugin.args or []),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        hint = f" ({plugin.installHint})" if plugin.installHint else ""
        raise TransportError(
            f"the kubeconfig's credential plugin {plugin.command} failed: "
            f"{err.decode(errors='replace').strip()}{hint}"
        )
    status = json.loads(out)["status"]
    token = status.get("token")
    if not token:
        raise TransportError(f"the credential plugin {plugin.command} returned no token")
    expires = time.monotonic() + 300
    if status.get("expirationTimestamp"):
        at = datetime.datetime.fromisoformat(status["expirationTimestamp"].replace("Z", "+00:00"))
        left = (at - datetime.datetime.now(datetime.UTC)).total_seconds()
        expires = time.monotonic() + max(0.0, left - 30)
    return f"Bearer {token}", expires


def kubeconfig_proxy(config: SingleConfig) -> str | None:
    """The cluster's `proxy-url` in the kubeconfig file (lightkube does not read it)."""
    if config.fname is None:
        return None
    try:
        raw = yaml.safe_load(Path(config.fname).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    for entry in raw.get("clusters") or []:
        if isinstance(entry, dict) and entry.get("name") == config.context.cluster:
            proxy = (entry.get("cluster") or {}).get("proxy-url")
            return str(proxy) if proxy else None
    return None


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Does NO_PROXY name this host (and port)?"""
    host = host.lower().strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:  # a CIDR
            try:
                if address is not None and address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = entry, None
        if entry.count(":") == 1 or (entry.startswith("[") and "]:" in entry):
            name, _, port_text = entry.rpartition(":")
            entry_port = int(port_text) if port_text.isdigit() else None
        name = name.strip("[]")
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address == ipaddress.ip_address(name):
                    return True
            except ValueError:
                pass
            continue
        suffix = name.removeprefix("*").removeprefix(".")
        if host == suffix or host.endswith("." + suffix):
            return True
    return False


def proxy_for(server: str, configured: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL for requests to `server`, or None (a pure choice, kubectl's)."""
    if configured:
        return configured
    parts = urlsplit(server)
    host = parts.hostname or ""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass

    def first(*names: str) -> str:
        return next((environ[n] for n in names if environ.get(n)), "")

    if parts.scheme == "https":
        proxy = first("HTTPS_PROXY", "https_proxy")
    else:
        proxy = first("HTTP_PROXY", "http_proxy")
    if not proxy:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _bypassed(host, port, first("NO_PROXY", "no_proxy")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class Transport:
    def __init__(self, config: SingleConfig, timeout: float, connections: int) -> None:
        self.server = config.cluster.server.rstrip("/")
        self.proxy = proxy_for(self.server, kubeconfig_proxy(config), os.environ)
        if self.proxy is not None and urlsplit(self.proxy).scheme not in ("http", "https"):
            raise ValueError(
                f"proxy {self.proxy} is not supported: use an http:// or https:// proxy"
            )
        self._tls: ssl.SSLContext | bool = False
        if self.server.startswith("https://"):
            assert config.user is not None
            self._tls = client_adapter.verify_cluster(
                config.cluster, config.user, config.abs_file, trust_env=False
            )
        self._credentials = Credentials(config.user)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will use it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls, limit=self._connections),
                timeout=self._timeout,
                headers={"User-Agent": "mooring"},
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = dict(extra)
        authorization = await self._credentials.header()
        if authorization:
            headers["Authorization"] = authorization
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        warnings: list[str] | None = None,
    ) -> tuple[int, str, bytes]:
        """(status, reason, body). Raises TransportError when the server is unreachable.

        `warnings`, when given, receives the response's Warning headers.
        """
        session = self._open()
        try:
            async with session.request(
                method,
                self.server + path,
                data=content,
                params=dict(params),
                headers=await self._headers(headers),
                proxy=self.proxy,
            ) as response:
                body = await response.read()
                if response.status == 401:
                    self._credentials.expire()
                if warnings is not None:
                    warnings.extend(response.headers.getall("Warning", []))
                return response.status, response.reason or "", body
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TransportError(str(error) or type(error).__name__) from None

    async def stream(
        self, path: str, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[tuple[int, str, bytes]]:
        """A streaming GET: yields (status, reason, line) per newline-separated line.

        A status of 400 or more comes once, with the whole body as the line.
        """
        session = self._open()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
        try:
            async with session.get(
                self.server + path,
                params=dict(params),
                headers=await self._headers({}),
                timeout=timeout,
                proxy=self.proxy,
            ) as response:
                if response.status >= 400:
                    yield response.status, response.reason or "", await response.read()
                    return
                pending = b""
                # Lines can be far longer than aiohttp's line limit (a large object), so
                # chunks are split here.
                async for chunk in response.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line:
                            yield response.status, "", line
                if pending:
                    yield response.status, "", pending
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TransportError(str(error) or type(error).__name__) from None
