"""Pure: a mutating admission policy that gives every new Tenant and Database the
operator's finalizer as it is created.

Without it, the operator (kopf) adds the finalizer itself: a PATCH of each new object,
then the watch event that patch causes, and only then the reconcile. With it, the reconcile
starts on the object's first event (issue 14: a request and an event less per Tenant, and
no window in which a new object can be deleted before the operator has seen it).

The policy is a MutatingAdmissionPolicy (admissionregistration.k8s.io/v1, served from
Kubernetes 1.36). Where the cluster does not serve it, it is not installed and kopf adds
the finalizer as before: nothing else depends on it. Its failure policy is Ignore for the
same reason: a policy that cannot run must not refuse Tenants.
"""

from __future__ import annotations

from mooring.api import names
from mooring.core.render.context import KubeObject

POLICY_NAME = "mooring-finalizer"
# What `mooring install` looks for in the cluster (as Helm's .Capabilities.APIVersions).
MUTATING_POLICY = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
RESOURCES = ("tenants", "databases")  # the kinds whose deletion the operator finishes


def finalizer_policy() -> list[KubeObject]:
    labels = {
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        "app.kubernetes.io/part-of": "mooring",
    }
    finalizer = names.FINALIZER
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": labels},
            "spec": {
                "failurePolicy": "Ignore",
                "reinvocationPolicy": "Never",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [names.GROUP],
                            "apiVersions": ["*"],
                            "operations": ["CREATE"],
                            "resources": list(RESOURCES),
                        }
                    ]
                },
                "matchConditions": [
                    {
                        "name": "not-yet-there",
                        "expression": "!has(object.metadata.finalizers) || "
                        f"!('{finalizer}' in object.metadata.finalizers)",
                    }
                ],
                "mutations": [
                    {
                        "patchType": "JSONPatch",
                        "jsonPatch": {
                            "expression": "has(object.metadata.finalizers) ? "
                            "[JSONPatch{op: 'add', path: '/metadata/finalizers/-', "
                            f"value: '{finalizer}'}}] : "
                            "[JSONPatch{op: 'add', path: '/metadata/finalizers', "
                            f"value: ['{finalizer}']}}]"
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME, "labels": labels},
            "spec": {"policyName": POLICY_NAME},
        },
    ]
