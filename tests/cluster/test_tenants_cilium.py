"""Where Cilium's CRDs exist, tenants get CiliumNetworkPolicies for L7 and FQDN rules.

Cilium itself cannot run here (no containers, no packets), so its CRD is stood in by a
CustomResourceDefinition of the same group, version and kind that keeps any spec: the
test proves the operator notices the kind appear, renders, applies and repairs the
policies, and that the API server stores them. Enforcement is Cilium's, out of reach here.
"""

from __future__ import annotations

from typing import Any

import pytest

from mooring.kube.client import Kube
from mooring.services.install import apply_objects
from tests.cluster.conftest import OperatorProcess, condition, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster

CILIUM_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "ciliumnetworkpolicies.cilium.io"},
    "spec": {
        "group": "cilium.io",
        "scope": "Namespaced",
        "names": {
            "kind": "CiliumNetworkPolicy",
            "listKind": "CiliumNetworkPolicyList",
            "plural": "ciliumnetworkpolicies",
            "singular": "ciliumnetworkpolicy",
            "shortNames": ["cnp"],
        },
        "versions": [
            {
                "name": "v2",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
CNP = "cilium.io/v2"


async def test_l7_and_fqdn_rules_become_cilium_policies_once_cilium_is_installed(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    assert not await kube.has_kind(CNP, "CiliumNetworkPolicy"), (
        "this test installs Cilium's CRD itself, and must run before anything else does"
    )
    cleanup.append(name)
    network = {
        "ingress": {
            "fromIngressController": True,
            "ports": [{"port": 8080}],
            "http": [{"method": "GET", "path": "/api/.*"}],
        },
        "egress": {"toFqdns": [{"matchName": "api.stripe.com", "ports": [{"port": 443}]}]},
    }
    await kube.apply(tenant(name, network=network))
    namespace = f"{name}-dev"

    # Without Cilium the allowances cannot be enforced: not silently, the status says so.
    body = await wait_ready(kube, name)
    network_ready = condition(body, "NetworkReady")
    assert network_ready["status"] == "False"
    assert network_ready["reason"] == "CiliumRequired"
    assert "spec.network.egress.toFqdns[0] (api.stripe.com)" in network_ready["message"]
    assert "spec.network.ingress.http" in network_ready["message"]
    ready = condition(body)
    assert ready["reason"] == "Degraded"
    assert "NetworkReady is False" in ready["message"]

    await apply_objects(kube, [CILIUM_CRD])

    async def enforced() -> bool:
        current = await kube.get("mooring.dev/v1alpha1", "Tenant", name)
        return (
            condition(current, "NetworkReady").get("status") == "True"
            and condition(current).get("reason") == "Reconciled"
        )

    await eventually(enforced, timeout=30, what="NetworkReady once Cilium is installed")

    expected = {"mooring-allow-ingress-l7", "mooring-allow-egress-fqdn"}

    async def rendered() -> dict[str, dict[str, Any]] | None:
        await wait_ready(kube, name)
        listed = await kube.list(CNP, "CiliumNetworkPolicy", namespace)
        found = {p["metadata"]["name"]: p for p in listed}
        return found if set(found) == expected else None

    policies = await eventually(rendered, timeout=30, what=f"CiliumNetworkPolicies {expected}")
    http = policies["mooring-allow-ingress-l7"]["spec"]["ingress"][0]["toPorts"][0]["rules"]
    assert http == {"http": [{"method": "GET", "path": "/api/.*"}]}
    # The L4 allowance would bypass the L7 rules, so it is not there.
    assert (
        await kube.get_or_none(
            "networking.k8s.io/v1", "NetworkPolicy", "mooring-allow-ingress", namespace
        )
        is None
    )
    # And they are kept as Git says.
    await kube.delete(CNP, "CiliumNetworkPolicy", "mooring-allow-ingress-l7", namespace)

    async def restored() -> bool:
        return (
            await kube.get_or_none(
                CNP, "CiliumNetworkPolicy", "mooring-allow-ingress-l7", namespace
            )
            is not None
        )

    await eventually(restored, timeout=10, what="the CiliumNetworkPolicy restored")
