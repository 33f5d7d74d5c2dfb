"""The pure renderers: what a tenant becomes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.api.platform import PlatformConfig
from mooring.core.plan import ref
from mooring.core.render import Context, Features, render_tenant
from mooring.core.render.cilium import cilium_only
from mooring.core.render.platform import tenant_cluster_roles
from mooring.core.render.view import cost_due, view_status
from tests.builders import platform, platform_body, tenant


def objects(
    t: Any, config: PlatformConfig | None = None, cilium: bool = False, uid: str | None = None
) -> list[dict[str, Any]]:
    spec = (config or platform()).spec
    return render_tenant(Context(t, spec, Features(cilium=cilium), uid))


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
        developers={"groups": ["devs"], "serviceAccounts": ["acme-dev/deployer"]},
    )
    objs = objects(t)
    owners = find(objs, "RoleBinding", "mooring-owners", "acme-dev")
    assert owners["roleRef"]["name"] == "mooring-tenant-owner"
    developers = find(objs, "RoleBinding", "mooring-developers", "acme-dev")
    assert developers["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "name": "deployer", "namespace": "acme-dev"},
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
    # Ephemeral storage has a default even where the tier names none: the quota limits it.
    assert limits == [
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
            "defaultRequest": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "100Mi"},
        }
    ]


def test_every_quota_limits_ephemeral_storage_and_object_counts() -> None:
    """MTB FNS-1 and FNS-2: compute, storage and the count of every kind, from the pods."""
    hard = find(objects(tenant()), "ResourceQuota", "mooring-quota", "acme-dev")["spec"]["hard"]
    assert hard == {
        "requests.cpu": "2",
        "limits.cpu": "2",
        "requests.memory": "4Gi",
        "limits.memory": "4Gi",
        "requests.ephemeral-storage": "10Gi",  # 10 pods x the default limit of 1Gi
        "limits.ephemeral-storage": "10Gi",
        "requests.storage": "10Gi",
        "pods": "10",
        "services": "10",
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        "persistentvolumeclaims": "10",
        "configmaps": "40",
        "secrets": "40",
        "replicationcontrollers": "10",
        "resourcequotas": "1",
    }


def test_quota_defaults_follow_the_overridden_pod_count_and_explicit_values_win() -> None:
    t = tenant(
        quota={"pods": 3, "secrets": 100, "ephemeralStorage": "2Gi"},
        environments=[{"name": "dev", "quota": {"configMaps": 7}}],
    )
    hard = find(objects(t), "ResourceQuota", "mooring-quota", "acme-dev")["spec"]["hard"]
    assert hard["pods"] == "3" and hard["services"] == "3" and hard["configmaps"] == "7"
    assert hard["secrets"] == "100" and hard["limits.ephemeral-storage"] == "2Gi"


def test_a_tiers_own_ephemeral_storage_defaults_are_used() -> None:
    config = platform_body()
    config["spec"]["tiers"]["small"]["containerDefaults"]["defaultLimit"]["ephemeralStorage"] = (
        "512Mi"
    )
    limits = find(
        objects(tenant(), PlatformConfig.model_validate(config)),
        "LimitRange",
        "mooring-defaults",
        "acme-dev",
    )["spec"]["limits"][0]
    assert limits["default"]["ephemeral-storage"] == "512Mi"
    assert limits["defaultRequest"]["ephemeral-storage"] == "100Mi"


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
        where = meta["name"] if obj["kind"] == "Namespace" else meta["namespace"]
        assert where in own


def test_members_that_open_the_tenant_to_everyone_never_reach_a_role_binding() -> None:
    t = tenant(
        owners=["alice", "system:anonymous"],
        developers={"groups": ["devs", "system:authenticated"], "serviceAccounts": ["x-dev/ci"]},
        viewers={"groups": ["system:unauthenticated"]},
    )
    objs = objects(t)
    owners = find(objs, "RoleBinding", "mooring-owners", "acme-dev")
    assert [s["name"] for s in owners["subjects"]] == ["alice"]
    developers = find(objs, "RoleBinding", "mooring-developers", "acme-dev")
    assert [s["name"] for s in developers["subjects"]] == ["devs"]
    assert not [o for o in objs if o["metadata"]["name"] == "mooring-viewers"]


def test_members_the_platform_allows_are_bound() -> None:
    t = tenant(developers={"groups": ["system:authenticated"], "serviceAccounts": ["ci/acme"]})
    spec = platform(
        allowedSubjects={"groups": ["system:authenticated"], "serviceAccountNamespaces": ["ci"]}
    ).spec
    objs = render_tenant(Context(t, spec))
    developers = find(objs, "RoleBinding", "mooring-developers", "acme-dev")
    assert [s["name"] for s in developers["subjects"]] == ["system:authenticated", "acme"]


def test_members_read_their_tenant_through_a_view_in_its_first_namespace() -> None:
    t = tenant(
        "acme",
        envs=("dev", "prod"),
        owners=["alice"],
        developers={"groups": ["acme-devs"], "users": ["alice"]},
        viewers={"serviceAccounts": ["acme-dev/auditor"]},
        tier="small",
        costCenter="cc-1",
    )
    objs = objects(t, uid="u")
    # Nothing cluster-wide: each ClusterRoleBinding costs every request in the cluster.
    assert not [o for o in objs if "namespace" not in o["metadata"] and o["kind"] != "Namespace"]
    (view,) = [o for o in objs if o["kind"] == "TenantView"]
    assert view["metadata"]["name"] == "acme"
    assert view["metadata"]["namespace"] == "acme-dev"
    assert view["metadata"]["ownerReferences"][0]["name"] == "acme"
    assert view["spec"] == {
        "owners": {"users": ["alice"]},
        "developers": {"users": ["alice"], "groups": ["acme-devs"]},
        "viewers": {"serviceAccounts": ["acme-dev/auditor"]},
        "environments": [{"name": "dev"}, {"name": "prod"}],
        "tier": "small",
        "costCenter": "cc-1",
    }
    for namespace in ("acme-dev", "acme-prod"):
        quota = find(objs, "ResourceQuota", "mooring-quota", namespace)
        assert quota["metadata"]["annotations"] == {"mooring.dev/tenant-view": "acme-dev"}
    # Every tenant role reads views, in the namespaces it is bound in (and nothing writes).
    for role in tenant_cluster_roles():
        reads = [r for r in role["rules"] if "tenantviews" in r["resources"]]
        assert reads and all(r["verbs"] == ["get", "list", "watch"] for r in reads)


def test_the_view_carries_the_status_but_not_quota_usage_nor_kopf_state() -> None:
    status = {
        "ready": "True",
        "observedGeneration": 3,
        "namespaces": [
            {"name": "acme-dev", "environment": "dev", "phase": "Active", "quota": [{"x": 1}]}
        ],
        "conditions": [{"type": "Ready", "status": "True"}],
        "kopf": {"progress": {}},
        "cost": {"month": "2026-12"},
    }
    copied = view_status(status)
    assert copied == {
        "ready": "True",
        "observedGeneration": 3,
        "namespaces": [{"name": "acme-dev", "environment": "dev", "phase": "Active"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert view_status(status, {"month": "2026-12"})["cost"] == {"month": "2026-12"}
    assert status["namespaces"][0]["quota"] == [{"x": 1}], "the Tenant's status is not changed"


def test_a_view_gets_a_new_cost_when_members_would_see_it_or_the_hour_turns() -> None:
    was = {
        "month": "2026-12",
        "currency": "EUR",
        "monthToDate": "10.00",
        "forecast": "300.00",
        "budgetUsedPercent": 3,
        "updatedAt": "2026-12-01T10:05:00Z",
    }
    assert cost_due(None, was)
    assert not cost_due(was, {**was, "monthToDate": "10.20", "updatedAt": "2026-12-01T10:10:00Z"})
    assert cost_due(was, {**was, "monthToDate": "10.20", "updatedAt": "2026-12-01T11:00:00Z"})
    assert cost_due(was, {**was, "budgetUsedPercent": 4, "updatedAt": "2026-12-01T10:10:00Z"})
    assert cost_due(was, {**was, "crossed": ["actual:80"], "updatedAt": "2026-12-01T10:10:00Z"})


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


def test_a_refused_member_may_not_read_the_tenant_either() -> None:
    """The view is read through the RoleBindings, which leave a refused member out."""
    t = tenant("acme", developers={"groups": ["system:authenticated", "acme-devs"]})
    objs = objects(t, uid="u")
    bindings = [o for o in objs if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert bindings and all(o["kind"] == "RoleBinding" for o in bindings)
    assert all(s["name"] != "system:authenticated" for o in bindings for s in o["subjects"]), (
        "a refused member reaches no binding, hence no view"
    )
