"""Install Mooring's platform objects and apply a platform repository to a cluster.

Side effects: server-side apply of CRDs, ClusterRoles, RBAC and the operator's workload;
waits for CRDs to be Established so the kinds they define can be used at once; reads values
files for `mooring install render|apply --values`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import yaml

from mooring.api import install as install_values
from mooring.api import policyreport
from mooring.api.documents import Document, DocumentError, iter_documents, model_errors
from mooring.api.install import InstallValues
from mooring.core.plan import ref
from mooring.core.render.install import SERVICE_MONITOR
from mooring.kube.client import Kube
from mooring.services.sources import read_texts

KubeObject = dict[str, Any]


async def wait_established(kube: Kube, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = await kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"CustomResourceDefinition {name} was not Established in {timeout} s")


async def apply_objects(kube: Kube, objects: Sequence[KubeObject]) -> list[str]:
    """Apply in order; CRDs first and waited for, then the rest. Returns what was applied."""
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for obj in crds:
        await kube.apply(obj)
    for obj in crds:
        await wait_established(kube, obj["metadata"]["name"])
    if crds:
        kube.forget_discovery()
    namespaces = [o for o in rest if o["kind"] == "Namespace"]
    others = [o for o in rest if o["kind"] != "Namespace"]
    for obj in namespaces:
        await kube.apply(obj)
    await asyncio.gather(*(kube.apply(o) for o in others))
    return [str(ref(o)) for o in [*crds, *rest]]


async def api_versions(kube: Kube) -> list[str]:
    """The optional kinds the installation renders when the cluster serves them (as Helm's
    .Capabilities.APIVersions)."""
    group_version, _, kind = SERVICE_MONITOR.rpartition("/")
    return [SERVICE_MONITOR] if await kube.has_kind(group_version, kind) else []


async def install_platform(kube: Kube, objects: Sequence[KubeObject]) -> list[str]:
    """Mooring's own objects, and the PolicyReport CRD when the cluster has none yet
    (Kyverno and other tools ship the same one; theirs is then left alone)."""
    extra = []
    if not await kube.has_kind(policyreport.API_VERSION, policyreport.KIND):
        extra.append(policyreport.crd())
    return await apply_objects(kube, [*extra, *objects])


# -- install values ------------------------------------------------------------------------------


class ValuesError(ValueError):
    """A values file or --set that does not fit; each line names file:line and field."""


def parse_set(assignment: str) -> dict[str, Any]:
    """`a.b.c=value` (value read as YAML, as Helm's --set reads it) -> {a: {b: {c: value}}}."""
    path, equals, text = assignment.partition("=")
    if not equals or not path or any(not part for part in path.split(".")):
        raise ValuesError(f"--set {assignment}: write KEY.PATH=VALUE, e.g. replicas=3")
    try:
        value: Any = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        value = text
    for part in reversed(path.split(".")):
        value = {part: value}
    return dict(value)


def read_values(paths: Sequence[str], sets: Sequence[str] = ()) -> InstallValues:
    """Values files (`-` is stdin) then --set, over the defaults, merged as Helm does."""
    texts, errors = read_texts(paths)
    if errors:
        raise ValuesError("\n".join(f"{e.position}: {e.message}" for e in errors))
    layers: list[tuple[Document | None, dict[str, Any]]] = []
    for text in texts:
        try:
            documents = [d for d in iter_documents(text.text, text.name) if d.obj is not None]
        except DocumentError as error:
            raise ValuesError(str(error)) from None
        for document in documents:
            if not isinstance(document.obj, dict):
                raise ValuesError(f"{document.position()}: a values file is a mapping of fields")
            layers.append((document, document.obj))
    layers += [(None, parse_set(item)) for item in sets]
    merged = install_values.defaults()
    for _, layer in layers:
        merged = install_values.merge(merged, layer)
    _, problems = model_errors(InstallValues, merged)
    if problems:
        raise ValuesError(
            "\n".join(_where(layers, p.path) + f"{p.dotted}: {p.message}" for p in problems)
        )
    return InstallValues.model_validate(merged)


def _where(layers: Sequence[tuple[Document | None, dict[str, Any]]], path: Sequence[Any]) -> str:
    """`file:line: ` of the last layer that set the field (or `--set: `), else nothing."""
    for document, layer in reversed(layers):
        node: Any = layer
        for item in path[:1]:
            node = node.get(item) if isinstance(node, dict) else None
        if node is not None:
            return f"{document.position(list(path))}: " if document else "--set: "
    return ""
