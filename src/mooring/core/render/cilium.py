"""Pure: CiliumNetworkPolicies for what plain NetworkPolicies cannot say.

Rendered only when Cilium's CRDs are installed (Features.cilium): inbound HTTP rules
(method, path) from the declared peers, and egress to DNS names (toFQDNs), which also
needs DNS traffic to pass Cilium's DNS proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mooring.api import names
from mooring.api.documents import PathItem, dotted
from mooring.api.tenant import Environment, Port, Tenant
from mooring.core.render.context import Context, KubeObject

K8S_NAMESPACE = "k8s:io.kubernetes.pod.namespace"


@dataclass(frozen=True)
class CiliumOnly:
    """An allowance only Cilium can enforce, and what happens to it without Cilium."""

    path: tuple[PathItem, ...]
    what: str
    without: str

    def __str__(self) -> str:
        return f"{dotted(self.path)} ({self.what}): {self.without}"


def cilium_only(tenant: Tenant) -> list[CiliumOnly]:
    """Pure: the tenant's allowances that plain NetworkPolicies cannot express.

    Without Cilium they are not rendered: egress to a DNS name stays denied, and HTTP rules
    do not narrow what the inbound peers may send (the L4 allowance lets everything in).
    """
    network = tenant.spec.network
    found = [
        CiliumOnly(
            ("spec", "network", "egress", "toFqdns", index),
            rule.match_name or rule.match_pattern or "",
            "egress to it stays denied",
        )
        for index, rule in enumerate(network.egress.to_fqdns)
    ]
    if network.ingress.http:
        found.append(
            CiliumOnly(
                ("spec", "network", "ingress", "http"),
                f"{len(network.ingress.http)} HTTP rule(s)",
                "not enforced; the allowed peers may send any request",
            )
        )
    return found


def _ports(items: list[Port]) -> list[dict[str, str]]:
    return [{"port": str(p.port), "protocol": p.protocol} for p in items]


def _endpoint_peers(ctx: Context) -> list[dict[str, Any]]:
    ingress = ctx.tenant.spec.network.ingress
    peers: list[dict[str, Any]] = [
        {"matchLabels": {f"k8s:io.cilium.k8s.namespace.labels.{names.LABEL_TENANT}": other}}
        for other in ingress.from_tenants
    ]
    if ingress.from_ingress_controller:
        controller = ctx.platform.ingress_controller
        labels = {K8S_NAMESPACE: controller.namespace}
        labels.update({f"k8s:{k}": v for k, v in controller.pod_labels.items()})
        peers.append({"matchLabels": labels})
    return peers


def _policy(ctx: Context, env: Environment, name: str, spec: dict[str, Any]) -> KubeObject:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": ctx.metadata(name, env),
        "spec": {"endpointSelector": {}, **spec},
    }


def render(ctx: Context) -> list[KubeObject]:
    if not ctx.features.cilium:
        return []
    network = ctx.tenant.spec.network
    objects = []
    for env in ctx.tenant.spec.environments:
        peers = _endpoint_peers(ctx)
        if network.ingress.http and peers:
            http = [
                {k: v for k, v in (("method", r.method), ("path", r.path)) if v is not None}
                for r in network.ingress.http
            ]
            to_ports: dict[str, Any] = {"rules": {"http": http}}
            to_ports["ports"] = _ports(network.ingress.ports) or [{"port": "0", "protocol": "TCP"}]
            objects.append(
                _policy(
                    ctx,
                    env,
                    "mooring-allow-ingress-l7",
                    {"ingress": [{"fromEndpoints": peers, "toPorts": [to_ports]}]},
                )
            )
        if network.egress.to_fqdns:
            dns = ctx.platform.dns
            dns_peer = {K8S_NAMESPACE: dns.namespace}
            dns_peer.update({f"k8s:{k}": v for k, v in dns.pod_labels.items()})
            fqdns = [
                {"matchName": f.match_name} if f.match_name else {"matchPattern": f.match_pattern}
                for f in network.egress.to_fqdns
            ]
            egress: list[dict[str, Any]] = [
                {
                    "toEndpoints": [{"matchLabels": dns_peer}],
                    "toPorts": [
                        {
                            "ports": [{"port": "53", "protocol": "ANY"}],
                            "rules": {"dns": [{"matchPattern": "*"}]},
                        }
                    ],
                }
            ]
            for fqdn, rule in zip(fqdns, network.egress.to_fqdns, strict=True):
                target: dict[str, Any] = {"toFQDNs": [fqdn]}
                if rule.ports:
                    target["toPorts"] = [{"ports": _ports(rule.ports)}]
                egress.append(target)
            objects.append(_policy(ctx, env, "mooring-allow-egress-fqdn", {"egress": egress}))
    return objects
