"""The peers of `mooring check`: kubeconform (schemas only), conftest and gator (Rego).

Both are built from their Go modules, pinned in tools/peers/<name>/go.mod, into the peers/
folder of Mooring's build cache (only the Go module proxy is contacted, by the go command).
kubeconform's JSON schemas are generated here from the local API server's OpenAPI document, never
downloaded. conftest runs Rego policies equivalent to Mooring's rules (conftest/policy/).
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from mooring.devcluster.binaries import GoTool, cache_root, ensure_built

ROOT = Path(__file__).resolve().parent.parent
PEERS = {
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform",
    "conftest": "github.com/open-policy-agent/conftest",
    "gator": "github.com/open-policy-agent/gatekeeper/v3/cmd/gator",
}
POLICY = Path(__file__).resolve().parent / "conftest" / "policy"


def peers_cache() -> Path:
    return cache_root() / "peers"


def build(name: str) -> Path:
    """The peer's binary, built from tools/peers/<name> into the shared cache if missing
    (keyed by the pin and the Go version, one build at a time per target)."""
    tool = GoTool(f"peers/{name}", {name: PEERS[name]})
    return ensure_built([tool], say=lambda line: print(line, flush=True))[name]


# -- kubeconform's schemas, from the API server's OpenAPI v2 document --------------------------


async def _openapi(kubeconfig: Path) -> dict[str, Any]:
    from mooring.kube.client import Kube

    async with Kube.from_kubeconfig(kubeconfig) as kube:
        return await kube.request("GET", "/openapi/v2")


def _standalone(node: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """References inlined; int-or-string and quantities accept both forms, as YAML has them."""
    if isinstance(node, list):
        return [_standalone(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:  # recursive types (JSONSchemaProps): accept anything below
            return {}
        return _standalone(copy.deepcopy(definitions[name]), definitions, (*seen, name))
    result = {
        k: _standalone(v, definitions, seen) for k, v in node.items() if not k.startswith("x-")
    }
    if result.get("format") == "int-or-string":
        result.pop("type", None)
        result.pop("format", None)
        result["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    return result


def schemas(kubeconfig: Path, folder: Path) -> Path:
    """One standalone JSON schema per kind, named as kubeconform looks them up."""
    if (folder / ".complete").is_file():
        return folder
    document = asyncio.run(_openapi(kubeconfig))
    definitions = document["definitions"]
    quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    if quantity in definitions:
        definitions[quantity] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    folder.mkdir(parents=True, exist_ok=True)
    for name, definition in definitions.items():
        if name.endswith("List"):
            continue
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            # kubeconform: {{ .ResourceKind }}{{ .KindSuffix }}.json, e.g. deployment-apps-v1
            suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
            schema = _standalone(copy.deepcopy(definition), definitions, (name,))
            schema["$schema"] = "http://json-schema.org/schema#"
            (folder / f"{kind.lower()}{suffix}.json").write_text(json.dumps(schema))
    (folder / ".complete").write_text("")
    return folder


# -- conftest's policies ------------------------------------------------------------------------


def conftest_data(platform: dict[str, Any], folder: Path) -> Path:
    """The parameters the Rego policies read, from the same PlatformConfig Mooring reads."""
    guardrails = platform["spec"]["guardrails"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.json"
    path.write_text(
        json.dumps(
            {
                "params": {
                    "allowedRegistries": guardrails.get("allowedRegistries", []),
                    "allowedCapabilities": guardrails.get("allowedCapabilities", []),
                    "requiredLabels": [r["key"] for r in guardrails.get("requiredLabels", [])],
                }
            }
        )
    )
    return path
