"""PolicyReport (wgpolicyk8s.io/v1alpha2): the Policy Working Group's report format.

Pure. The audit writes one PolicyReport per namespace; `mooring install apply` installs
this CustomResourceDefinition when the cluster has none (Kyverno and others ship the same
one, and then theirs is kept). The schema follows the working group's v1alpha2 types.
"""

from __future__ import annotations

from typing import Any

GROUP = "wgpolicyk8s.io"
VERSION = "v1alpha2"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "PolicyReport"
CRD_NAME = f"policyreports.{GROUP}"
RESULTS = ("pass", "fail", "warn", "error", "skip")
SEVERITIES = ("critical", "high", "low", "medium", "info")

_STRING: dict[str, Any] = {"type": "string"}
_OBJECT_REFERENCE: dict[str, Any] = {
    "type": "object",
    "description": "The object a result is about.",
    "properties": dict.fromkeys(
        ("apiVersion", "kind", "name", "namespace", "uid", "fieldPath", "resourceVersion"),
        _STRING,
    ),
    "x-kubernetes-map-type": "atomic",
}
_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": _STRING},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": _STRING,
                    "operator": _STRING,
                    "values": {"type": "array", "items": _STRING},
                },
            },
        },
    },
    "x-kubernetes-map-type": "atomic",
}
_RESULT: dict[str, Any] = {
    "type": "object",
    "required": ["policy"],
    "properties": {
        "source": {"type": "string", "description": "The tool that produced the result."},
        "policy": {"type": "string", "description": "The policy the result is for."},
        "rule": {"type": "string", "description": "The rule of the policy."},
        "category": _STRING,
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "timestamp": {
            "type": "object",
            "required": ["seconds", "nanos"],
            "properties": {
                "seconds": {"type": "integer", "format": "int64"},
                "nanos": {"type": "integer", "format": "int32"},
            },
        },
        "result": {"type": "string", "enum": list(RESULTS)},
        "scored": {"type": "boolean"},
        "resources": {"type": "array", "items": _OBJECT_REFERENCE},
        "resourceSelector": _LABEL_SELECTOR,
        "message": {"type": "string", "description": "What is wrong and how to fix it."},
        "properties": {"type": "object", "additionalProperties": _STRING},
    },
}


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition of PolicyReport (namespaced)."""
    count = {"type": "integer"}
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": {"type": "object"},
            "scope": _OBJECT_REFERENCE,
            "scopeSelector": _LABEL_SELECTOR,
            "summary": {
                "type": "object",
                "properties": dict.fromkeys(RESULTS, count),
            },
            "results": {"type": "array", "items": _RESULT},
        },
    }
    columns = [
        {"name": "Kind", "type": "string", "jsonPath": ".scope.kind", "priority": 1},
        {"name": "Name", "type": "string", "jsonPath": ".scope.name", "priority": 1},
    ] + [
        {"name": key.capitalize(), "type": "integer", "jsonPath": f".summary.{key}"}
        for key in RESULTS
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "mooring"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": "policyreports",
                "singular": "policyreport",
                "shortNames": ["polr"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "additionalPrinterColumns": [
                        *columns,
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }
            ],
        },
    }
