"""The one Kubernetes client Mooring uses: plain-dict objects over the REST API.

Side effects: HTTP requests to the API server (through kube/transport.py: lightkube reads
the kubeconfig or in-cluster service account, aiohttp carries the requests); the
operations (server-side apply, get, list, watch, delete, dry-run) work on plain dicts, so
what the pure core renders goes to the server unchanged. Kinds are resolved to their REST
paths by discovery, cached per group/version and refreshed when a new CRD appears.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from mooring.api.names import FIELD_MANAGER
from mooring.kube import incluster
from mooring.kube.pacing import Pacer, PacingSettings, retry_delay
from mooring.kube.transport import Transport, TransportError

Obj = dict[str, Any]
DISCOVERY_TTL = 30.0
WatchEvent = tuple[Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"], Obj]


class KubeError(Exception):
    """The API server refused a request; str() names the object and says why."""

    def __init__(self, status: int, reason: str, message: str, *, what: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.what = what
        super().__init__(f"{what}: {message}" if what else message)


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Forbidden(KubeError):
    pass


class Invalid(KubeError):
    """422: the object failed validation (schema, admission policy)."""


class BadRequest(KubeError):
    """400: the request could not be decoded (e.g. an unknown field under strict validation)."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old; list again."""


_ERRORS: dict[int, type[KubeError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


def describe(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name`, the way errors name an object."""
    meta = obj.get("metadata", {})
    name = meta.get("name", "?")
    namespace = meta.get("namespace")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


class Kube:
    """An async client for one cluster. Create with `Kube.from_kubeconfig`, close with `aclose`."""

    def __init__(self, transport: Transport, pacing: PacingSettings | None = None) -> None:
        self._transport = transport
        # Requests beyond the bound wait here, not in the connection pool, where thousands
        # of queued requests would cost CPU and time out; 429s and stalls make it smaller.
        self.pacer = Pacer(pacing)
        self._discovered: dict[str, dict[str, Resource]] = {}
        self._discovered_at: dict[str, float] = {}
        self._discovery_lock = asyncio.Lock()

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | Path | None = None,
        *,
        context: str | None = None,
        timeout: float = 30,
        pacing: PacingSettings | None = None,
    ) -> Kube:
        """From a kubeconfig file, else $KUBECONFIG / ~/.kube/config / in-cluster."""
        try:
            if path is not None:
                config = KubeConfig.from_file(path).get(context_name=context)
            else:
                account = os.environ.get(incluster.DIR_VARIABLE) or incluster.SERVICE_ACCOUNT_DIR
                config = KubeConfig.from_env(service_account=account).get(context_name=context)
        except (ConfigError, OSError, ValueError) as error:
            raise KubeError(
                0,
                "NoConfig",
                f"cannot load cluster credentials ({error}); pass --kubeconfig, set KUBECONFIG, "
                "or start the local control plane with `mooring dev up`",
            ) from None
        if config is None:
            raise KubeError(0, "NoConfig", f"no usable context in the kubeconfig ({path or 'env'})")
        try:
            # Watches hold a connection each, beyond the requests in flight.
            limit = (pacing or PacingSettings()).max_in_flight
            transport = Transport(config, timeout, connections=limit + 8)
        except (ConfigError, OSError, ValueError) as error:
            raise KubeError(
                0, "NoConfig", f"cannot use the cluster credentials ({error})"
            ) from None
        return cls(transport, pacing)

    @classmethod
    def in_cluster(
        cls,
        login: incluster.InCluster,
        *,
        timeout: float = 30,
        pacing: PacingSettings | None = None,
    ) -> Kube:
        """As the pod's ServiceAccount (kube/incluster.py); the token is re-read as it rotates."""
        config = KubeConfig.from_one(
            cluster=Cluster(server=login.server, certificate_auth=str(login.ca_path)),
            user=User(token_file=str(login.token_path)),
            namespace=login.namespace or None,
        ).get()
        assert config is not None
        limit = (pacing or PacingSettings()).max_in_flight
        return cls(Transport(config, timeout, connections=limit + 8), pacing)

    @property
    def server(self) -> str:
        return self._transport.server

    async def aclose(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- discovery ---------------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource of a kind; refreshes discovery if the kind is new.

        A kind found missing is looked up again only after DISCOVERY_TTL seconds, so asking
        "is Cilium installed?" on every reconcile costs no request.
        """
        known = self._discovered.get(api_version)
        if known is None or kind not in known:
            age = time.monotonic() - self._discovered_at.get(api_version, -DISCOVERY_TTL)
            if known is None or age >= DISCOVERY_TTL:
                async with self._discovery_lock:
                    known = await self._discover(api_version)
        found = known.get(kind)
        if found is None:
            raise NotFound(404, "NotFound", f"the server has no kind {kind} in {api_version}")
        return found

    async def has_kind(self, api_version: str, kind: str) -> bool:
        """Is this kind served (for example: are Cilium's CRDs installed)?"""
        try:
            await self.resource(api_version, kind)
        except NotFound:
            return False
        return True

    async def _discover(self, api_version: str) -> dict[str, Resource]:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            listing = await self.request("GET", path)
        except NotFound:
            listing = {"resources": []}
        found: dict[str, Resource] = {}
        for entry in listing.get("resources", []):
            if "/" in entry["name"]:  # subresources such as deployments/scale
                continue
            found[entry["kind"]] = Resource(
                group, version, entry["kind"], entry["name"], bool(entry["namespaced"])
            )
        self._discovered[api_version] = found
        self._discovered_at[api_version] = time.monotonic()
        return found

    def forget_discovery(self) -> None:
        self._discovered.clear()
        self._discovered_at.clear()

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        what: str = "",
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        """One request. `warnings`, when given, receives the server's Warning headers (the
        messages of admission policies in Warn mode, deprecations)."""
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        seen: builtins.list[str] | None = [] if warnings is not None else None
        started = time.monotonic()
        attempt = 0
        while True:
            retry_after: builtins.list[str] = []
            sent = True
            async with self.pacer.slot():
                try:
                    status, reason, data = await self._transport.request(
                        method,
                        path,
                        content=content,
                        params=params or {},
                        headers=headers,
                        warnings=seen,
                        retry_after=retry_after,
                    )
                except TransportError as error:
                    status, reason, data, sent = 0, str(error), b"", error.sent
            self.pacer.answered(status)
            if status == 0 or status == 429 or status >= 500:
                delay = retry_delay(
                    self.pacer.settings,
                    method,
                    status,
                    retry_after[0] if retry_after else None,
                    attempt,
                    time.monotonic() - started,
                    sent=sent,
                )
                if delay is not None:
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
            break
        if status == 0:
            raise _unreachable(self.server, what or f"{method} {path}", reason)
        if warnings is not None and seen:
            warnings.extend(_warning(v) for v in seen)
        if status >= 400:
            raise _error(status, reason, data, what or f"{method} {path}")
        if not data:
            return {}
        result: Obj = json.loads(data)
        return result

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj:
        res = await self.resource(api_version, kind)
        return await self.request(
            "GET", res.path(namespace, name), what=f"{kind} {_ns(namespace)}{name}"
        )

    async def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        try:
            return await self.get(api_version, kind, name, namespace)
        except NotFound:
            return None

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        fields: str | None = None,
        page: int = 500,
        keep: Callable[[Obj], Obj] | None = None,
    ) -> list[Obj]:
        """Every object of a kind (all namespaces when namespace is None), paging as it goes.

        `keep` slims each object as its page arrives (what a caller reads of ten thousand
        pods is a fraction of them)."""
        items, _ = await self.list_with_version(
            api_version, kind, namespace, labels=labels, fields=fields, page=page, keep=keep
        )
        return items

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        fields: str | None = None,
        page: int = 500,
        keep: Callable[[Obj], Obj] | None = None,
    ) -> tuple[builtins.list[Obj], str]:
        items: builtins.list[Obj] = []
        last = ""
        async for chunk, version in self.list_pages(
            api_version, kind, namespace, labels=labels, fields=fields, page=page
        ):
            items.extend(chunk if keep is None else [keep(item) for item in chunk])
            last = version
        return items, last

    async def list_pages(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        fields: str | None = None,
        page: int = 500,
    ) -> AsyncIterator[tuple[builtins.list[Obj], str]]:
        """Every object of a kind, a page at a time (with the list's resourceVersion), so a
        caller that keeps little of each page holds only one in memory."""
        res = await self.resource(api_version, kind)
        params: dict[str, str] = {"limit": str(page)}
        if labels:
            params["labelSelector"] = labels
        if fields:
            params["fieldSelector"] = fields
        while True:
            listing = await self.request("GET", res.path(namespace), params=params, what=kind)
            items = listing.get("items", [])
            for item in items:
                # Items of a list carry no apiVersion/kind; put them back for the caller.
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", kind)
            yield items, listing.get("metadata", {}).get("resourceVersion", "")
            token = listing.get("metadata", {}).get("continue")
            if not token:
                return
            params["continue"] = token

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        """Server-side apply of a whole object under one field manager."""
        res = await self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        return await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], subresource),
            body=obj,
            params=params,
            content_type="application/apply-patch+yaml",
            what=describe(obj),
        )

    async def create(
        self,
        obj: Mapping[str, Any],
        *,
        dry_run: bool = False,
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        res = await self.resource(obj["apiVersion"], obj["kind"])
        params = {"dryRun": "All"} if dry_run else {}
        namespace = obj.get("metadata", {}).get("namespace")
        return await self.request(
            "POST",
            res.path(namespace),
            body=obj,
            params=params,
            what=describe(obj),
            warnings=warnings,
        )

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any] | builtins.list[Any],
        *,
        namespace: str | None = None,
        kind_of_patch: Literal["merge", "json", "strategic"] = "merge",
        subresource: str | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> Obj:
        res = await self.resource(api_version, kind)
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind_of_patch]
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            body=patch,
            params={"fieldManager": field_manager},
            content_type=content_type,
            what=f"{kind} {_ns(namespace)}{name}",
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: Literal["Background", "Foreground", "Orphan"] = "Background",
        uid: str | None = None,
    ) -> bool:
        """Delete one object; False when it was already gone. `uid` guards against a namesake."""
        res = await self.resource(api_version, kind)
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request(
                "DELETE",
                res.path(namespace, name),
                body=body,
                what=f"{kind} {_ns(namespace)}{name}",
            )
        except NotFound:
            return False
        return True

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Stream changes of a kind; ends when the server closes the watch."""
        res = await self.resource(api_version, kind)
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if labels:
            params["labelSelector"] = labels
        if resource_version:
            params["resourceVersion"] = resource_version
        try:
            async for status, reason, line in self._transport.stream(
                res.path(namespace), params, read_timeout=timeout_seconds + 30
            ):
                if status >= 400:
                    raise _error(status, reason, line, f"watch {kind}")
                event = json.loads(line)
                if event["type"] == "ERROR":
                    failure = event["object"]
                    code = int(failure.get("code", 500))
                    raise _ERRORS.get(code, KubeError)(
                        code, failure.get("reason", ""), failure.get("message", ""), what=kind
                    )
                yield event["type"], event["object"]
        except TransportError as error:
            raise _unreachable(self.server, f"watch {kind}", str(error)) from None


def _unreachable(server: str, what: str, detail: str) -> KubeError:
    return KubeError(
        0, "Unreachable", f"cannot reach the API server at {server} ({detail})", what=what
    )


def _warning(header: str) -> str:
    """`299 - "text"` -> text (RFC 7234 warn-code, agent, quoted text)."""
    code, _, rest = header.partition(" ")
    _, _, text = rest.partition(" ")
    if code.isdigit() and text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('\\"', '"')
    return header


def _ns(namespace: str | None) -> str:
    return f"{namespace}/" if namespace else ""


def _error(status: int, reason_phrase: str, data: bytes, what: str) -> KubeError:
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"message": data.decode(errors="replace").strip() or reason_phrase}
    message = body.get("message") or reason_phrase
    reason = body.get("reason", "")
    return _ERRORS.get(status, KubeError)(status, reason, message, what=what)
