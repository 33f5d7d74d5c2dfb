"""Pure: an admission policy that keeps Mooring's objects in tenant namespaces Mooring's.

Tenant members may create their own ConfigMaps and PrometheusRules (to add alerts beside
the baseline), so RBAC alone cannot stop them from editing the baseline: RBAC has no
"every name but these". This policy refuses, in namespaces Mooring manages, creating,
changing or deleting an object labelled app.kubernetes.io/managed-by=mooring (or putting
that label on one) by anyone but the operator, Kubernetes' own controllers (kube-system
service accounts: garbage collector, namespace controller) and cluster administrators
(system:masters). Drift repair still restores whatever slips past (an administrator's
edit, a deletion).
"""

from __future__ import annotations

from mooring.api import names
from mooring.core.render.context import KubeObject

POLICY_NAME = "mooring-managed-objects"
# (API group, resources) Mooring puts in tenant namespaces that members could otherwise write.
PROTECTED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("configmaps",)),
    ("monitoring.coreos.com", ("prometheusrules", "alertmanagerconfigs")),
    ("grafana.integreatly.org", ("grafanadashboards",)),
)


def _labelled(obj: str) -> str:
    key = names.LABEL_MANAGED_BY
    return (
        f"({obj} != null && has({obj}.metadata.labels) && '{key}' in {obj}.metadata.labels && "
        f"{obj}.metadata.labels['{key}'] == '{names.MANAGED_BY}')"
    )


def protection_policy(operator_user: str) -> list[KubeObject]:
    part_of = {"app.kubernetes.io/part-of": "mooring", names.LABEL_MANAGED_BY: names.MANAGED_BY}
    trusted = (
        f"request.userInfo.username == '{operator_user}' || "
        "request.userInfo.username.startsWith('system:serviceaccount:kube-system:') || "
        "('system:masters' in request.userInfo.groups)"
    )
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": part_of},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [group],
                            "apiVersions": ["*"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": list(resources),
                        }
                        for group, resources in PROTECTED
                    ]
                },
                # Only requests that touch a Mooring-labelled object are judged at all.
                "matchConditions": [
                    {
                        "name": "touches-a-managed-object",
                        "expression": f"{_labelled('object')} || {_labelled('oldObject')}",
                    }
                ],
                "validations": [
                    {
                        "expression": trusted,
                        "messageExpression": (
                            "request.resource.resource + ' ' + request.name + ' is managed by "
                            "Mooring (label app.kubernetes.io/managed-by=mooring): it comes "
                            "from the tenant\\'s file in Git and only the operator changes it. "
                            "Change the tenant file instead, or create an object of your own "
                            "without that label'"
                        ),
                        "reason": "Forbidden",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME, "labels": part_of},
            "spec": {
                "policyName": POLICY_NAME,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {names.LABEL_MANAGED_BY: names.MANAGED_BY}}
                },
            },
        },
    ]
