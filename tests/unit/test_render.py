"""The pure renderers: what a tenant becomes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.core.plan import ref
from mooring.core.render import Context, Features, render_tenant
from mooring.core.render.cilium import cilium_only
from tests.builders import platform, tenant


def objects(t: Any, cilium: bool = False, uid: str | None = None) -> list[dict[str, Any]]:
    return render_tenant(Context(t, platform().spec, Features(cilium=cilium), uid))


def find(objs: list[dict[str, Any]], kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    for obj in objs:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace", "") == namespace:
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} in {[str(ref(o)) for o in objs]}")


def test_each_environment_gets_a_namespace_with_tenant_and_pod_security_labels() -> None:
    objs = objects(tenant("acme", envs=("dev", "prod"), costCenter="cc-1", labels={"team": "a"}))
    namespaces = [o for o in objs if o["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == ["acme-dev", "acme-prod"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["mooring.dev/tenant"] == "acme"
    assert labels["mooring.dev/environment"] == "dev"
    assert labels["mooring.dev/cost-center"] == "cc-1"
    assert labels["team"] == "a"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_namespaces_come_first_so_their_contents_can_be_applied() -> None:
    objs = objects(tenant(envs=("dev", "prod")))
    kinds = [o["kind"] for o in objs]
    assert kinds[:2] == ["Namespace", "Namespace"]
    assert "Namespace" not in kinds[2:]


def test_an_environment_can_lower_pod_security_to_baseline() -> None:
    t = tenant(environments=[{"name": "dev", "podSecurity": "baseline"}])
    labels = find(objects(t), "Namespace", "acme-dev")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_children_carry_an_owner_reference_but_namespaces_never_do() -> None:
    objs = objects(tenant(), uid="1234")
    for obj in objs:
        owners = obj["metadata"].get("ownerReferences")
        if obj["kind"] == "Namespace":
            assert owners is None
            assert obj["metadata"]["annotations"]["mooring.dev/tenant-uid"] == "1234"
        else:
            assert owners == [
                {
                    "apiVersion": "mooring.dev/v1alpha1",
                    "kind": "Tenant",
                    "name": "acme",
                    "uid": "1234",
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ]


def test_offline_rendering_has_no_owner_references() -> None:
    assert all("ownerReferences" not in o["metadata"] for o in objects(tenant()))


def test_role_bindings_name_users_groups_and_service_accounts() -> None:
    t = tenant(
        owners=["alice"],
        developers={"groups": ["devs"], "serviceAccounts": ["ci/deployer"]},
    )
    objs = objects(t)
    owners = find(objs, "RoleBinding", "mooring-owners", "acme-dev")
    assert owners["roleRef"]["name"] == "mooring-tenant-owner"
    developers = find(objs, "RoleBinding", "mooring-developers", "acme-dev")
    assert developers["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"},
    ]
    assert not [o for o in objs if o["metadata"]["name"] == "mooring-viewers"]


@pytest.mark.parametrize(
    ("tenant_quota", "env_quota", "expected"),
    [
        (
            None,
            None,
            {"requests.cpu": "2", "limits.cpu": "2", "requests.memory": "4Gi", "pods": "10"},
        ),
        ({"cpu": "4"}, None, {"requests.cpu": "4", "requests.memory": "4Gi"}),
        (
            {"cpu": "4"},
            {"cpu": "500m", "pods": 3},
            {"requests.cpu": "500m", "limits.cpu": "500m", "pods": "3"},
        ),
        (None, {"memory": "1536Mi"}, {"requests.memory": "1536Mi", "limits.memory": "1536Mi"}),
        (
            {"loadBalancers": 1, "nodePorts": 0},
            None,
            {"services.loadbalancers": "1", "services.nodeports": "0"},
        ),
    ],
    ids=[
        "the tier's quota",
        "a tenant override",
        "an environment override over the tenant's",
        "memory in canonical form",
        "service type counts",
    ],
)
def test_quota_comes_from_tier_then_tenant_then_environment(
    tenant_quota: dict[str, Any] | None, env_quota: dict[str, Any] | None, expected: dict[str, str]
) -> None:
    body: dict[str, Any] = {"environments": [{"name": "dev", "quota": env_quota}]}
    if tenant_quota:
        body["quota"] = tenant_quota
    t = tenant(**body)
    hard = find(objects(t), "ResourceQuota", "mooring-quota", "acme-dev")["spec"]["hard"]
    assert {k: hard[k] for k in expected} == expected


def test_container_defaults_become_a_limit_range_in_canonical_units() -> None:
    limits = find(objects(tenant()), "LimitRange", "mooring-defaults", "acme-dev")["spec"]["limits"]
    assert limits == [
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        }
    ]


def test_network_default_deny_dns_and_same_tenant_always() -> None:
    objs = objects(tenant())
    deny = find(objs, "NetworkPolicy", "mooring-default-deny", "acme-dev")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = find(objs, "NetworkPolicy", "mooring-allow-dns", "acme-dev")["spec"]["egress"][0]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    same = find(objs, "NetworkPolicy", "mooring-allow-same-tenant", "acme-dev")["spec"]
    assert same["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"mooring.dev/tenant": "acme"}}}]}
    ]
    names = {o["metadata"]["name"] for o in objs if o["kind"] == "NetworkPolicy"}
    assert names == {"mooring-default-deny", "mooring-allow-dns", "mooring-allow-same-tenant"}


NETWORK = {
    "ingress": {
        "fromTenants": ["shop"],
        "fromIngressController": True,
        "ports": [{"port": 8080}],
        "http": [{"method": "GET", "path": "/api/.*"}],
    },
    "egress": {
        "toCidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 5432}]}],
        "toFqdns": [{"matchName": "api.stripe.com", "ports": [{"port": 443}]}],
        "toTenants": ["billing"],
    },
}


def test_declared_allowances_without_cilium_are_plain_network_policies() -> None:
    objs = objects(tenant(network=NETWORK))
    ingress = find(objs, "NetworkPolicy", "mooring-allow-ingress", "acme-dev")["spec"]["ingress"]
    assert ingress == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"mooring.dev/tenant": "shop"}}},
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                },
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    egress = find(objs, "NetworkPolicy", "mooring-allow-egress", "acme-dev")["spec"]["egress"]
    assert egress[0] == {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    }
    assert egress[1] == {
        "to": [{"namespaceSelector": {"matchLabels": {"mooring.dev/tenant": "billing"}}}]
    }
    assert not [o for o in objs if o["kind"] == "CiliumNetworkPolicy"]


def test_with_cilium_http_rules_and_fqdns_become_cilium_policies_and_replace_the_l4_allowance() -> (
    None
):
    objs = objects(tenant(network=NETWORK), cilium=True)
    assert not [o for o in objs if o["metadata"]["name"] == "mooring-allow-ingress"]
    l7 = find(objs, "CiliumNetworkPolicy", "mooring-allow-ingress-l7", "acme-dev")["spec"]
    rule = l7["ingress"][0]
    assert rule["toPorts"] == [
        {
            "rules": {"http": [{"method": "GET", "path": "/api/.*"}]},
            "ports": [{"port": "8080", "protocol": "TCP"}],
        }
    ]
    assert {
        "matchLabels": {"k8s:io.cilium.k8s.namespace.labels.mooring.dev/tenant": "shop"}
    } in rule["fromEndpoints"]
    fqdn = find(objs, "CiliumNetworkPolicy", "mooring-allow-egress-fqdn", "acme-dev")["spec"][
        "egress"
    ]
    assert fqdn[0]["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    assert fqdn[1] == {
        "toFQDNs": [{"matchName": "api.stripe.com"}],
        "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
    }


dns_label = st.from_regex(r"\A[a-z][a-z0-9]{0,9}\Z")


@settings(max_examples=60, deadline=None)
@given(
    name=dns_label,
    envs=st.lists(dns_label, min_size=1, max_size=5, unique=True),
    cilium=st.booleans(),
    with_network=st.booleans(),
)
def test_any_valid_tenant_renders_unique_labelled_objects_inside_its_own_namespaces(
    name: str, envs: list[str], cilium: bool, with_network: bool
) -> None:
    body: dict[str, Any] = {"network": NETWORK} if with_network else {}
    t = tenant(name, envs=tuple(envs), **body)
    objs = objects(t, cilium=cilium, uid="u")
    refs = [ref(o) for o in objs]
    assert len(refs) == len(set(refs)), "two objects share an identity"
    own = {f"{name}-{e}" for e in envs}
    for obj in objs:
        meta = obj["metadata"]
        assert meta["labels"]["mooring.dev/tenant"] == name
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "mooring"
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            # Cluster-wide: only the reader of this very Tenant.
            assert meta["name"] == f"mooring-tenant:{name}"
            continue
        where = meta["name"] if obj["kind"] == "Namespace" else meta["namespace"]
        assert where in own


def test_every_member_may_read_their_own_tenant_and_only_that_one() -> None:
    t = tenant(
        "acme",
        owners=["alice"],
        developers={"groups": ["acme-devs"], "users": ["alice"]},
        viewers={"serviceAccounts": ["ci/auditor"]},
    )
    by_kind = {o["kind"]: o for o in objects(t, uid="u") if o["kind"].startswith("Cluster")}
    role, binding = by_kind["ClusterRole"], by_kind["ClusterRoleBinding"]
    assert role["rules"] == [
        {
            "apiGroups": ["mooring.dev"],
            "resources": ["tenants"],
            "resourceNames": ["acme"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "mooring-tenant:acme"
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("User", "alice"),
        ("Group", "acme-devs"),
        ("ServiceAccount", "auditor"),
    ]
    assert "namespace" not in role["metadata"]
    assert role["metadata"]["ownerReferences"][0]["name"] == "acme"


def test_allowances_only_cilium_enforces_are_named_with_their_field_paths() -> None:
    network = {
        "ingress": {"fromTenants": ["web"], "http": [{"method": "GET"}]},
        "egress": {
            "toCidrs": [{"cidr": "10.0.0.0/8"}],
            "toFqdns": [{"matchName": "api.stripe.com"}, {"matchPattern": "*.s3.amazonaws.com"}],
        },
    }
    found = [str(item) for item in cilium_only(tenant(network=network))]
    assert found == [
        "spec.network.egress.toFqdns[0] (api.stripe.com): egress to it stays denied",
        "spec.network.egress.toFqdns[1] (*.s3.amazonaws.com): egress to it stays denied",
        "spec.network.ingress.http (1 HTTP rule(s)): not enforced; the allowed peers may send "
        "any request",
    ]
    assert cilium_only(tenant()) == []
