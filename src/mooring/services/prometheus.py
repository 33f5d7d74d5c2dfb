"""A small client of Prometheus's HTTP API: instant and range queries, metric names.

Side effects: HTTP requests (aiohttp). Errors come back as `PrometheusError` naming the
server and, for a query Prometheus refused, the query and its reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from types import TracebackType
from typing import Any

import aiohttp

Series = dict[str, Any]
Call = tuple[str, dict[str, str], bool]  # path, form, POST


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused a query; says which and why."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 300.0, record: bool = False) -> None:
        """`record`: keep every call made (benchmarks replay them to time Prometheus alone)."""
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.calls: list[Call] | None = [] if record else None

    async def __aenter__(self) -> Prometheus:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def raw(self, call: Call) -> bytes:
        """A call's answer as bytes, unread (what Prometheus alone costs)."""
        path, form, post = call
        if post:
            request = self._client().post(f"{self.url}{path}", data=form)
        else:
            request = self._client().get(f"{self.url}{path}", params=form)
        async with request as response:
            return await response.read()

    async def _call(self, path: str, form: dict[str, str], what: str, post: bool = True) -> Any:
        """POST (queries can be long) or GET (endpoints that take no POST)."""
        if self.calls is not None:
            self.calls.append((path, dict(form), post))
        try:
            if post:
                request = self._client().post(f"{self.url}{path}", data=form)
            else:
                request = self._client().get(f"{self.url}{path}", params=form)
            async with request as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise PrometheusError(
                f"cannot reach Prometheus at {self.url} ({error or type(error).__name__}); "
                "check the URL (--prometheus, or spec.cost.prometheusUrl)"
            ) from error
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError(
                f"{self.url}{path} answered HTTP {response.status} with something that is not "
                "Prometheus's JSON; is this a Prometheus?"
            ) from None
        if answer.get("status") != "success":
            raise PrometheusError(
                f"Prometheus at {self.url} refused {what}: {answer.get('error', response.status)}"
            )
        return answer["data"]

    async def query(self, expression: str, at: datetime) -> list[Series]:
        data = await self._call(
            "/api/v1/query",
            {"query": expression, "time": str(int(at.timestamp()))},
            f"the query {expression!r}",
        )
        result: list[Series] = data["result"]
        return result

    async def query_range(self, expression: str, params: dict[str, str]) -> list[Series]:
        data = await self._call(
            "/api/v1/query_range", {"query": expression, **params}, f"the query {expression!r}"
        )
        result: list[Series] = data["result"]
        return result

    async def metric_names(self, start: datetime, end: datetime) -> list[str]:
        """Names of the metrics with samples between start and end."""
        data = await self._call(
            "/api/v1/label/__name__/values",
            {"start": str(int(start.timestamp())), "end": str(int(end.timestamp()))},
            "the list of metric names",
            post=False,
        )
        return [str(name) for name in data]
