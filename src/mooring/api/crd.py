"""CustomResourceDefinitions generated from the pydantic models.

Pure. Pydantic's JSON schema is turned into a Kubernetes structural schema (references
inlined, optional fields unwrapped, OpenAPI v3.0 forms), so that the API server and
`mooring validate` check a spec with one set of constraints. The generated YAML is
committed under deploy/crds/ and CI checks it is up to date.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mooring.api.names import GROUP, KOPF_STATUS, VERSION

Schema = dict[str, Any]

# The texts Kubernetes' own types carry, so `kubectl explain` reads the same for Mooring's.
API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. In CamelCase."
)


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Kind:
    """Everything a CRD needs to know about one of Mooring's kinds."""

    kind: str
    plural: str
    scope: str  # Cluster | Namespaced
    description: str  # what `kubectl explain KIND` says first
    spec: type[BaseModel]
    status: type[BaseModel] | None = None
    short_names: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    categories: tuple[str, ...] = ("mooring",)
    # CEL rules on the whole object (they may read metadata.name), with messages.
    rules: tuple[tuple[str, str], ...] = ()
    extra_schema: dict[str, Any] = field(default_factory=dict)
    # Handled by kopf, which keeps its own state in status.kopf (operator/kopf_state.py).
    kopf: bool = False
    # False: status is written with the rest of the object, in one request (TenantView).
    status_subresource: bool = True

    @property
    def singular(self) -> str:
        return self.kind.lower()


def structural(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of a model (by alias, references inlined)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _clean(_inline(raw, definitions))


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**_inline(copy.deepcopy(target), definitions)}
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            return merged
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _clean(node: Schema) -> Schema:
    node = dict(node)
    node.pop("title", None)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if node.get("x-kubernetes-int-or-string"):
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif len(options) == 1:
            del node["anyOf"]
            inner = _clean(options[0])
            inner.update({k: v for k, v in node.items() if k not in ("default",)})
            if node.get("default") is not None:
                inner["default"] = node["default"]
            node = inner
        elif any(o.get("x-kubernetes-int-or-string") for o in options):
            del node["anyOf"]
            node.update(next(o for o in options if o.get("x-kubernetes-int-or-string")))
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        else:
            raise ValueError(f"cannot express a union in a structural schema: {options}")
    if node.get("default", 0) is None:
        del node["default"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
        node.setdefault("type", "string")
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(
        node["exclusiveMinimum"], bool
    ):
        node["minimum"] = node["exclusiveMinimum"]
        node["exclusiveMinimum"] = True
    if "properties" in node:
        node["properties"] = {k: _clean(v) for k, v in node["properties"].items()}
        node.setdefault("type", "object")
    if "patternProperties" in node:
        # A map whose keys have a pattern: the values' schema, and the keys as a CEL rule.
        ((pattern, values),) = node.pop("patternProperties").items()
        node["additionalProperties"] = values
        node.setdefault("propertyNames", {})["pattern"] = pattern
    if "propertyNames" in node:
        # Kubernetes schemas have no propertyNames; the same check as a CEL rule on the map.
        names_schema = node.pop("propertyNames")
        checks = []
        if "pattern" in names_schema:
            checks.append(f"k.matches('{names_schema['pattern']}')")
        if "maxLength" in names_schema:
            checks.append(f"size(k) <= {names_schema['maxLength']}")
        if "minLength" in names_schema:
            checks.append(f"size(k) >= {names_schema['minLength']}")
        if checks:
            node.setdefault("x-kubernetes-validations", []).append(
                {
                    "rule": f"self.all(k, {' && '.join(checks)})",
                    "message": "keys must be DNS labels: lower-case letters, digits and '-'",
                }
            )
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _clean(node["additionalProperties"])
    if "items" in node:
        node["items"] = _clean(node["items"])
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    return node


# The operator's own bookkeeping (operator/kopf_state.py), kept as kopf writes it.
KOPF_STATE: Schema = {
    "type": "object",
    "description": "The operator's own bookkeeping: the spec it last handled, and the "
    "progress of a reconcile being retried. Not for people.",
    "x-kubernetes-preserve-unknown-fields": True,
}


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    spec_schema = structural(kind.spec)
    spec_schema.setdefault("description", f"What the {kind.kind} asks for.")
    properties: Schema = {
        "apiVersion": {"type": "string", "description": API_VERSION_DESCRIPTION},
        "kind": {"type": "string", "description": KIND_DESCRIPTION},
        # The API server allows nothing but the type here; kubectl explains ObjectMeta itself.
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    root: Schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": properties,
    }
    if kind.status is not None:
        status_schema = structural(kind.status)
        status_schema.setdefault(
            "description", f"The {kind.kind} as the operator last saw it; written by it only."
        )
        if kind.kopf:
            status_schema.setdefault("properties", {})[KOPF_STATUS] = KOPF_STATE
        properties["status"] = status_schema
    if kind.rules:
        root["x-kubernetes-validations"] = [
            {"rule": rule, "message": message} for rule, message in kind.rules
        ]
    root.update(kind.extra_schema)
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
        "additionalPrinterColumns": [
            {
                "name": c.name,
                "type": c.type,
                "jsonPath": c.json_path,
                **({"priority": c.priority} if c.priority else {}),
                **({"description": c.description} if c.description else {}),
            }
            for c in kind.columns
        ]
        + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
    }
    if kind.status is not None and kind.status_subresource:
        version["subresources"] = {"status": {}}
    names: dict[str, Any] = {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": kind.singular,
        "categories": list(kind.categories),
    }
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "mooring"},
        },
        "spec": {
            "group": GROUP,
            "scope": kind.scope,
            "names": names,
            "versions": [version],
        },
    }
