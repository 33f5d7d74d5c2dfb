"""Every field of Mooring's CRDs is described, so `kubectl explain` answers for each one.

The walk covers every generated CRD (spec and status, lists' items and maps' values), so a
field added later without a `description` fails here, naming its path.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from mooring.api.base import Model
from mooring.api.crd import Kind, crd
from mooring.api.kinds import KINDS


def undescribed(node: dict[str, Any], path: str) -> list[str]:
    """The paths of fields (properties) below `node` that carry no description."""
    missing = []
    for key, child in (node.get("properties") or {}).items():
        here = f"{path}.{key}"
        if here.count(".") == 1 and key == "metadata":
            continue  # the API server refuses anything but a type there; ObjectMeta's own
        if not str(child.get("description", "")).strip():
            missing.append(here)
        missing += undescribed(child, here)
    if isinstance(node.get("items"), dict):
        missing += undescribed(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        missing += undescribed(node["additionalProperties"], f"{path}{{}}")
    return missing


def schema(kind: Kind) -> dict[str, Any]:
    root: dict[str, Any] = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_every_field_of_the_crd_is_described(kind: Kind) -> None:
    root = schema(kind)
    assert root.get("description"), f"{kind.kind} itself has no description"
    missing = undescribed(root, kind.kind)
    assert not missing, (
        f"{len(missing)} field(s) of {kind.kind} have no description (add "
        "Field(description=...) to the model): " + ", ".join(missing)
    )


def test_a_field_without_a_description_is_named() -> None:
    class Inner(Model):
        """Described by its docstring."""

        described: int = Field(1, description="A number.")
        bare: int = 2

    class Spec(Model):
        """A spec."""

        inner: list[Inner] = Field(default_factory=list, description="Some inners.")

    kind = Kind("Probe", "probes", "Namespaced", "A probe.", Spec)
    assert undescribed(schema(kind), "Probe") == ["Probe.spec.inner[].bare"]


def test_policy_exception_expiry_is_printed_as_a_time_not_an_age() -> None:
    """kubectl prints a `date` column as an age, and `<invalid>` for a future time."""
    (version,) = crd(next(k for k in KINDS if k.kind == "PolicyException"))["spec"]["versions"]
    column = next(c for c in version["additionalPrinterColumns"] if c["name"] == "Expires")
    assert column["type"] == "string"
    assert column["jsonPath"] == ".spec.expires"
