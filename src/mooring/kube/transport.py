"""HTTPS to the API server: aiohttp with the kubeconfig's TLS and credentials.

Side effects: network connections; may run a kubeconfig `exec` credential plugin.
lightkube reads the kubeconfig (or the in-cluster service account) and builds the TLS
context (CA, client certificate); requests go through aiohttp, which costs about a third
of the CPU per request of the alternatives measured (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import User

TOKEN_FILE_REFRESH = 60.0


class TransportError(Exception):
    """The API server could not be reached or the connection broke.

    `sent` is False when the request surely never reached the server (no connection), so
    that sending it again cannot do anything twice.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


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


class Transport:
    def __init__(self, config: SingleConfig, timeout: float, connections: int) -> None:
        self.server = config.cluster.server.rstrip("/")
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
        retry_after: list[str] | None = None,
    ) -> tuple[int, str, bytes]:
        """(status, reason, body). Raises TransportError when the server is unreachable.

        `warnings`, when given, receives the response's Warning headers; `retry_after`, the
        Retry-After header of a refusal.
        """
        session = self._open()
        try:
            async with session.request(
                method,
                self.server + path,
                data=content,
                params=dict(params),
                headers=await self._headers(headers),
            ) as response:
                body = await response.read()
                if response.status == 401:
                    self._credentials.expire()
                if warnings is not None:
                    warnings.extend(response.headers.getall("Warning", []))
                if retry_after is not None and "Retry-After" in response.headers:
                    retry_after.append(response.headers["Retry-After"])
                return response.status, response.reason or "", body
        except aiohttp.ClientConnectorError as error:  # no connection: nothing was sent
            raise TransportError(str(error) or type(error).__name__, sent=False) from None
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
