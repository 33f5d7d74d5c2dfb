"""The rules that keep data safe: what is pruned, what is kept, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from mooring.core.plan import Adopt, Adopted, drifted, plan

MANAGED = {"app.kubernetes.io/managed-by": "mooring"}


def ns(name: str, tenant: str | None = "acme", uid: str | None = None) -> dict[str, Any]:
    labels = {**MANAGED, "mooring.dev/tenant": tenant} if tenant else {}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if uid:
        meta["annotations"] = {"mooring.dev/tenant-uid": uid}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def child(kind: str, name: str, namespace: str, tenant: str = "acme") -> dict[str, Any]:
    api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "v1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED, "mooring.dev/tenant": tenant},
        },
    }


def names(objs: list[dict[str, Any]]) -> list[str]:
    return sorted(
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs
    )


def test_nothing_changes_when_desired_equals_observed() -> None:
    desired = [ns("acme-dev"), child("ResourceQuota", "q", "acme-dev")]
    result = plan("acme", desired, desired, {"acme-dev": desired[0]}, {}, "Retain")
    assert result.prune == [] and result.retained == [] and result.conflicts == []
    assert result.apply == desired


def test_an_object_no_longer_rendered_is_pruned() -> None:
    desired = [ns("acme-dev")]
    observed = [ns("acme-dev"), child("NetworkPolicy", "mooring-allow-ingress", "acme-dev")]
    assert names(plan("acme", desired, observed, {}, {}, "Retain").prune) == [
        "NetworkPolicy/acme-dev/mooring-allow-ingress"
    ]


def test_an_empty_namespace_no_longer_wanted_is_pruned_with_its_contents() -> None:
    observed = [ns("acme-dev"), ns("acme-old"), child("ResourceQuota", "q", "acme-old")]
    result = plan("acme", [ns("acme-dev")], observed, {}, {"acme-old": ""}, "Retain")
    assert names(result.prune) == ["Namespace//acme-old"]  # its quota goes with it


@pytest.mark.parametrize(
    ("policy", "kept"),
    [("Retain", True), ("Delete", False)],
    ids=["Retain keeps a namespace holding workloads", "Delete deletes it"],
)
def test_a_namespace_with_workloads_follows_the_deletion_policy(policy: str, kept: bool) -> None:
    observed = [ns("acme-old"), child("ResourceQuota", "q", "acme-old")]
    result = plan("acme", [], observed, {}, {"acme-old": "2 Deployments"}, policy)
    if kept:
        assert [r.namespace for r in result.retained] == ["acme-old"]
        assert "2 Deployments" in result.retained[0].reason
        assert result.prune == []  # not even its quota: guards stay with the data
    else:
        assert names(result.prune) == ["Namespace//acme-old"]


def test_another_tenants_objects_are_never_pruned() -> None:
    observed = [
        ns("other-dev", tenant="other"),
        child("ResourceQuota", "q", "other-dev", tenant="other"),
    ]
    assert plan("acme", [], observed, {}, {}, "Delete").prune == []


def test_unlabelled_objects_are_never_pruned() -> None:
    unlabelled = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "acme-dev"},
    }
    assert plan("acme", [], [unlabelled], {}, {}, "Delete").prune == []


def test_an_unmanaged_namespace_is_a_conflict_and_nothing_is_applied_into_it() -> None:
    desired = [ns("acme-dev"), child("ResourceQuota", "q", "acme-dev"), ns("acme-prod")]
    result = plan("acme", desired, [], {"acme-dev": ns("acme-dev", tenant=None)}, {}, "Retain")
    assert [c.namespace for c in result.conflicts] == ["acme-dev"]
    assert "not managed by Mooring" in result.conflicts[0].reason
    assert names(result.apply) == ["Namespace//acme-prod"]


def test_a_namespace_of_another_tenant_is_a_conflict() -> None:
    result = plan(
        "acme", [ns("acme-dev")], [], {"acme-dev": ns("acme-dev", tenant="acm")}, {}, "Retain"
    )
    assert "belongs to tenant acm" in result.conflicts[0].reason


def test_a_namespace_whose_labels_were_stripped_is_still_recognised_by_the_tenant_uid() -> None:
    stripped = ns("acme-dev", tenant=None, uid="u1")
    assert (
        plan("acme", [ns("acme-dev")], [], {"acme-dev": stripped}, {}, "Retain", uid="u1").conflicts
        == []
    )
    assert plan(
        "acme", [ns("acme-dev")], [], {"acme-dev": stripped}, {}, "Retain", uid="u2"
    ).conflicts


def test_a_terminating_namespace_is_not_a_conflict() -> None:
    terminating = ns("acme-dev", tenant=None)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert (
        plan("acme", [ns("acme-dev")], [], {"acme-dev": terminating}, {}, "Retain").conflicts == []
    )


@pytest.mark.parametrize(
    ("desired", "actual", "expected"),
    [
        ({"spec": {"a": 1}}, {"spec": {"a": 1, "b": 2}, "status": {}}, False),
        ({"spec": {"a": 1}}, {"spec": {"a": 2}}, True),
        ({"spec": {"a": 1}}, {"spec": {}}, True),
        (
            {"metadata": {"labels": {"x": "1"}}},
            {"metadata": {"labels": {"x": "1", "y": "2"}}},
            False,
        ),
        (
            {"spec": {"hard": {"pods": "1"}}},
            {"spec": {"hard": {"pods": "1", "secrets": "5"}}},
            True,
        ),
        ({"rules": [{"a": 1}]}, {"rules": [{"a": 1}, {"a": 2}]}, True),
        ({"rules": [{"a": 1}]}, {"rules": [{"a": 1, "default": True}]}, False),
        ({"port": 53}, {"port": "53"}, False),
    ],
    ids=[
        "fields the server adds are not drift",
        "a changed value is drift",
        "a removed value is drift",
        "extra labels are not drift",
        "an extra quota limit is drift",
        "an extra list item is drift",
        "defaults inside list items are not drift",
        "an int and its string are equal",
    ],
)
def test_drift(desired: Any, actual: Any, expected: bool) -> None:
    assert drifted(desired, actual) is expected


# -- re-adoption and reserved namespaces -------------------------------------------------------

OLD, NEW = "uid-of-the-deleted-acme", "uid-of-the-new-acme"


def test_a_kept_namespace_of_a_deleted_tenant_is_not_adopted_silently() -> None:
    kept = ns("acme-prod", uid=OLD)
    result = plan("acme", [ns("acme-prod")], [kept], {"acme-prod": kept}, {}, "Retain", NEW)
    (conflict,) = result.conflicts
    assert conflict.code == "AdoptionRequired"
    assert OLD in conflict.reason and "spec.adopt" in conflict.reason
    assert result.apply == [] and result.adopted == []


@pytest.mark.parametrize(
    "adopt",
    [Adopt(namespaces=frozenset({"acme-prod"})), Adopt(uids=frozenset({OLD}))],
    ids=["by namespace", "by the old tenant's uid"],
)
def test_a_kept_namespace_is_adopted_when_the_tenant_names_it(adopt: Adopt) -> None:
    kept = ns("acme-prod", uid=OLD)
    result = plan("acme", [ns("acme-prod")], [kept], {"acme-prod": kept}, {}, "Retain", NEW, adopt)
    assert result.conflicts == []
    assert result.adopted == [Adopted("acme-prod", OLD)]
    assert names(result.apply) == ["Namespace//acme-prod"]


def test_adopting_another_namespace_or_uid_adopts_nothing_else() -> None:
    kept = ns("acme-prod", uid=OLD)
    adopt = Adopt(namespaces=frozenset({"acme-dev"}), uids=frozenset({"some-other-uid"}))
    result = plan("acme", [ns("acme-prod")], [kept], {"acme-prod": kept}, {}, "Retain", NEW, adopt)
    assert [c.code for c in result.conflicts] == ["AdoptionRequired"]


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_a_new_tenant_never_prunes_what_a_deleted_namesake_kept(policy: str) -> None:
    kept = ns("acme-old", uid=OLD)
    observed = [ns("acme-dev", uid=NEW), kept, child("ResourceQuota", "mooring-quota", "acme-old")]
    result = plan("acme", [ns("acme-dev")], observed, {}, {"acme-old": ""}, policy, NEW)
    assert result.prune == [] and result.retained == []


def test_the_tenant_itself_still_prunes_its_own_namespaces_with_a_uid() -> None:
    observed = [ns("acme-dev", uid=NEW), ns("acme-old", uid=NEW)]
    result = plan("acme", [ns("acme-dev")], observed, {}, {"acme-old": ""}, "Retain", NEW)
    assert names(result.prune) == ["Namespace//acme-old"]


def test_a_reserved_namespace_is_refused_whether_or_not_it_exists() -> None:
    reserved = {"ingress-nginx": "reserved for the platform"}
    desired = [ns("ingress-nginx", "ingress"), child("ResourceQuota", "q", "ingress-nginx")]
    result = plan("ingress", desired, [], {}, {}, "Retain", NEW, Adopt(), reserved)
    assert [(c.namespace, c.code) for c in result.conflicts] == [
        ("ingress-nginx", "NamespaceReserved")
    ]
    assert result.apply == []
