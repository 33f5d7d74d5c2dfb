"""Where Events about an object are posted, so that `kubectl describe` finds them."""

from __future__ import annotations

from mooring.kube.events import event_namespace, involved_object

TENANT = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "payments", "uid": "u-1"},
}
DATABASE = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "Database",
    "metadata": {"name": "orders", "namespace": "payments-dev", "uid": "u-2"},
}


def test_an_event_about_a_cluster_scoped_object_names_no_namespace_in_its_reference() -> None:
    assert event_namespace(TENANT) == "default"
    assert involved_object(TENANT) == {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "name": "payments",
        "uid": "u-1",
    }


def test_an_event_about_a_namespaced_object_lives_in_its_namespace() -> None:
    assert event_namespace(DATABASE) == "payments-dev"
    assert involved_object(DATABASE)["namespace"] == "payments-dev"
