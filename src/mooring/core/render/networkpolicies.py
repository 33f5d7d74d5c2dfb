"""Pure: NetworkPolicies: default deny in and out, then the allowances.

Always allowed: DNS to the cluster's DNS servers, and any traffic between the tenant's own
namespaces. Declared: from other tenants, from the ingress controller, egress to CIDRs and
to other tenants. With Cilium, allowances that carry L7 rules are rendered by cilium.py
instead, so that an L4 allowance here cannot bypass them.
"""

from __future__ import annotations

from typing import Any

from mooring.api import names
from mooring.api.tenant import Environment, Port
from mooring.core.render.context import Context, KubeObject

NAMESPACE_NAME = "kubernetes.io/metadata.name"


def ports(items: list[Port]) -> list[dict[str, Any]]:
    return [{"port": p.port, "protocol": p.protocol} for p in items]


def tenant_peer(tenant: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {names.LABEL_TENANT: tenant}}}


def pods_in(namespace: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: namespace}}}
    peer["podSelector"] = {"matchLabels": dict(pod_labels)} if pod_labels else {}
    return peer


def inbound_peers(ctx: Context) -> list[dict[str, Any]]:
    """Who the tenant declared may connect in (other tenants, the ingress controller)."""
    ingress = ctx.tenant.spec.network.ingress
    peers = [tenant_peer(other) for other in ingress.from_tenants]
    if ingress.from_ingress_controller:
        controller = ctx.platform.ingress_controller
        peers.append(pods_in(controller.namespace, controller.pod_labels))
    return peers


def l7_in_cilium(ctx: Context) -> bool:
    """Inbound allowances go to a CiliumNetworkPolicy when they carry HTTP rules."""
    return ctx.features.cilium and bool(ctx.tenant.spec.network.ingress.http)


def _policy(ctx: Context, environment: Environment, name: str, spec: dict[str, Any]) -> KubeObject:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(name, environment),
        "spec": {"podSelector": {}, **spec},
    }


def render(ctx: Context) -> list[KubeObject]:
    network = ctx.tenant.spec.network
    dns = ctx.platform.dns
    objects = []
    for env in ctx.tenant.spec.environments:
        own = tenant_peer(ctx.tenant.name)
        objects += [
            _policy(ctx, env, "mooring-default-deny", {"policyTypes": ["Ingress", "Egress"]}),
            _policy(
                ctx,
                env,
                "mooring-allow-dns",
                {
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [pods_in(dns.namespace, dns.pod_labels)],
                            "ports": [
                                {"port": 53, "protocol": "UDP"},
                                {"port": 53, "protocol": "TCP"},
                            ],
                        }
                    ],
                },
            ),
            _policy(
                ctx,
                env,
                "mooring-allow-same-tenant",
                {
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [own]}],
                    "egress": [{"to": [own]}],
                },
            ),
        ]
        peers = inbound_peers(ctx)
        if peers and not l7_in_cilium(ctx):
            rule: dict[str, Any] = {"from": peers}
            if network.ingress.ports:
                rule["ports"] = ports(network.ingress.ports)
            objects.append(
                _policy(
                    ctx,
                    env,
                    "mooring-allow-ingress",
                    {"policyTypes": ["Ingress"], "ingress": [rule]},
                )
            )
        egress: list[dict[str, Any]] = []
        for cidr in network.egress.to_cidrs:
            target: dict[str, Any] = {"to": [{"ipBlock": {"cidr": cidr.cidr}}]}
            if cidr.ports:
                target["ports"] = ports(cidr.ports)
            egress.append(target)
        if network.egress.to_tenants:
            egress.append({"to": [tenant_peer(other) for other in network.egress.to_tenants]})
        if egress:
            objects.append(
                _policy(
                    ctx, env, "mooring-allow-egress", {"policyTypes": ["Egress"], "egress": egress}
                )
            )
    return objects
