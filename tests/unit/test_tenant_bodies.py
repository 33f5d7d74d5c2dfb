"""The operator's memory of Tenants (operator/tenants.py, Bodies): compact, yet it gives each
body back unchanged and answers the resync and the render cache without reading it all."""

from __future__ import annotations

from typing import Any

from mooring.operator.resync import Seen
from mooring.operator.tenants import Bodies


def body(
    name: str, generation: int, observed: int | None, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "generation": generation,
        "resourceVersion": f"{generation}0",
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T10:00:00Z"
    made: dict[str, Any] = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": meta,
        "spec": {"owners": {"users": ["ana"]}, "environments": [{"name": "dev"}]},
    }
    if observed is not None:
        made["status"] = {"observedGeneration": observed, "ready": "True"}
    return made


def test_a_tenant_is_given_back_as_it_was_put() -> None:
    bodies = Bodies()
    bodies["team1"] = body("team1", 2, 2)
    assert bodies.get("team1") == body("team1", 2, 2)
    assert bodies.get("stranger") is None
    assert bodies.generation("team1") == (2, False)
    assert len(bodies) == 1 and bodies.names() == ["team1"]


def test_only_tenants_whose_status_is_behind_are_named_for_the_resync() -> None:
    bodies = Bodies()
    bodies["current"] = body("current", 3, 3)
    bodies["late"] = body("late", 3, 2)
    bodies["new"] = body("new", 1, None)
    bodies["going"] = body("going", 4, 2, deleting=True)
    assert bodies.behind() == {
        ("", "late"): Seen("30", "uid-late"),
        ("", "new"): Seen("10", "uid-new"),
    }
    assert bodies.generation("going") == (4, True)


def test_a_tenant_caught_up_or_gone_is_behind_no_more() -> None:
    bodies = Bodies()
    bodies["late"] = body("late", 3, 2)
    bodies["gone"] = body("gone", 1, None)
    bodies["late"] = body("late", 3, 3)
    bodies.pop("gone")
    bodies.pop("never-there")
    assert bodies.behind() == {}
    assert [b["metadata"]["name"] for b in bodies.values()] == ["late"]
