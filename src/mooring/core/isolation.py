"""Pure: what a tenant may claim. Not the platform's namespaces; not members that open it
to everyone. One definition, read three ways:

- `mooring validate` turns each refusal into a finding (file:line) before the merge;
- the operator refuses a reserved namespace (a conflict, the rest of the tenant proceeds)
  and leaves refused members out of the RoleBindings, with a condition and an Event;
- the API server refuses the Tenant: `admission_policy()` is a ValidatingAdmissionPolicy
  whose CEL reads the same PlatformConfig (its `params`) and says the same thing. The
  Python and the CEL below are kept side by side so that they change together, and a
  differential test (tests/cluster/test_isolation.py) holds them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mooring.api import names
from mooring.api.documents import PathItem
from mooring.api.platform import (
    ALWAYS_RESERVED,
    DEFAULT_PLATFORM_NAMESPACES,
    PlatformConfigSpec,
)
from mooring.api.tenant import Tenant

KubeObject = dict[str, Any]
POLICY_NAME = "mooring-tenant-isolation"

SYSTEM = "system:"
SA_USER = "system:serviceaccount:"  # + namespace:name
SA_GROUP = "system:serviceaccounts"  # every service account; + :namespace for one namespace
ROLES: tuple[tuple[str, str], ...] = (
    ("owners", "owner"),
    ("developers", "developer"),
    ("viewers", "viewer"),
)
_WHO = {
    "system:authenticated": "every signed-in identity in the cluster (every person and "
    "service account of every tenant)",
    "system:unauthenticated": "every request made without credentials",
    "system:anonymous": "every request made without credentials",
    SA_GROUP: "every service account in the cluster, of every tenant",
}
_ASK = "or ask the platform team to allow it in the PlatformConfig's spec.allowedSubjects"


# -- namespaces -------------------------------------------------------------------------------


def matches(namespace: str, pattern: str) -> bool:
    """`kube-*` is a prefix, `*-system` a suffix, anything else the name itself."""
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace == pattern


def reserved_namespaces(platform: PlatformConfigSpec) -> list[tuple[str, str]]:
    """Every reserved namespace or pattern, with where it comes from."""
    found = list(ALWAYS_RESERVED)
    found += [(pattern, "spec.platformNamespaces") for pattern in platform.platform_namespaces]
    found.append((platform.dns.namespace, "spec.dns.namespace"))
    found.append((platform.ingress_controller.namespace, "spec.ingressController.namespace"))
    for index, server in enumerate(platform.databases.servers):
        where = f"spec.databases.servers[{index}]"
        found.append((server.admin_secret.namespace, f"{where}.adminSecret.namespace"))
        if server.peer is not None:
            found.append((server.peer.namespace, f"{where}.peer.namespace"))
    return found


def reserved_by(namespace: str, reserved: list[tuple[str, str]]) -> str | None:
    """Why `namespace` is reserved ("spec.platformNamespaces: *-system"), or None."""
    for pattern, where in reserved:
        if matches(namespace, pattern):
            return where if pattern == namespace else f"{where}: {pattern}"
    return None


def squatted(tenant: Tenant, platform: PlatformConfigSpec) -> list[tuple[int, str, str]]:
    """(environment index, namespace, why) for each environment that is a reserved namespace."""
    reserved = reserved_namespaces(platform)
    found = []
    for index, environment in enumerate(tenant.spec.environments):
        namespace = tenant.namespace(environment)
        why = reserved_by(namespace, reserved)
        if why is not None:
            found.append((index, namespace, why))
    return found


def reserved_message(namespace: str, why: str) -> str:
    return (
        f"namespace {namespace} is reserved for the platform ({why}); a tenant environment "
        "may not become a platform namespace (it would get what the platform grants there): "
        "rename the environment or the tenant"
    )


# -- members ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A member the tenant may not have: where it is written, who, and why."""

    path: tuple[PathItem, ...]
    subject: str
    message: str


def refused_subjects(
    tenant: Tenant,
    platform: PlatformConfigSpec,
    namespace_owner: Callable[[str], str | None] | Mapping[str, str] | None = None,
) -> list[Refusal]:
    """Members that would open the tenant beyond its team, unless the PlatformConfig's
    spec.allowedSubjects lists them. `namespace_owner` (namespace -> tenant), when known,
    makes the message name the other tenant."""
    own = {tenant.namespace(environment) for environment in tenant.spec.environments}
    allowed = platform.allowed_subjects
    owner_of = (
        namespace_owner.get if isinstance(namespace_owner, Mapping) else namespace_owner
    ) or (lambda _: None)

    def account_ok(namespace: str) -> bool:
        return namespace in own or any(
            matches(namespace, p) for p in allowed.service_account_namespaces
        )

    def elsewhere(namespace: str) -> str:
        other = owner_of(namespace)
        whose = f", which belongs to tenant {other}" if other and other != tenant.name else ""
        return (
            f"namespace {namespace}{whose}: it is not one of this tenant's namespaces "
            f"({', '.join(sorted(own))})"
        )

    refusals: list[Refusal] = []
    for field, role in ROLES:
        people = getattr(tenant.spec, field)
        for index, user in enumerate(people.users):
            path: tuple[PathItem, ...] = ("spec", field, "users", index)
            if not user.startswith(SYSTEM) or user in allowed.users:
                continue
            parts = user.split(":")
            if user.startswith(SA_USER) and len(parts) == 4:
                if account_ok(parts[2]):
                    continue
                message = (
                    f"user {user!r} is service account {parts[2]}/{parts[3]} of "
                    f"{elsewhere(parts[2])}; whoever runs pods there would act as this "
                    f"tenant's {role}. Use a service account of the tenant's own namespaces, "
                    f"{_ASK}.serviceAccountNamespaces"
                )
            else:
                message = _system_message("user", user, role, "users")
            refusals.append(Refusal(path, user, message))
        for index, group in enumerate(people.groups):
            path = ("spec", field, "groups", index)
            if not group.startswith(SYSTEM) or group in allowed.groups:
                continue
            parts = group.split(":")
            if group.startswith(SA_GROUP + ":") and len(parts) == 3:
                if account_ok(parts[2]):
                    continue
                message = (
                    f"group {group!r} is every service account of {elsewhere(parts[2])}; "
                    f"they would act as this tenant's {role}. Name the tenant's own service "
                    f"accounts, {_ASK}.serviceAccountNamespaces"
                )
            else:
                message = _system_message("group", group, role, "groups")
            refusals.append(Refusal(path, group, message))
        for index, account in enumerate(people.service_accounts):
            namespace = account.split("/", 1)[0]
            if account_ok(namespace):
                continue
            refusals.append(
                Refusal(
                    ("spec", field, "serviceAccounts", index),
                    account,
                    f"service account {account} lives in {elsewhere(namespace)}; whoever "
                    f"runs pods there would act as this tenant's {role}. Use a service "
                    f"account of the tenant's own namespaces, {_ASK}.serviceAccountNamespaces",
                )
            )
    return refusals


def _system_message(kind: str, name: str, role: str, listed: str) -> str:
    who = _WHO.get(name, "one of Kubernetes' own identities (nodes, controllers), not a team")
    return (
        f"{kind} {name!r} is {who}: as a {role} it would open this tenant to all of them. "
        f"Name the team's own {listed}, {_ASK}.{listed}"
    )


# -- admission --------------------------------------------------------------------------------


def _match(namespace: str, pattern: str) -> str:
    """CEL for `matches`, over two CEL expressions."""
    return (
        f"({pattern}.startsWith('*') ? {namespace}.endsWith({pattern}.substring(1)) : "
        f"({pattern}.endsWith('*') ? {namespace}.startsWith({pattern}.substring(0, "
        f"size({pattern}) - 1)) : {namespace} == {pattern}))"
    )


def _account_ok(namespace: str) -> str:
    """CEL for `account_ok` in refused_subjects."""
    return (
        f"({namespace} in variables.namespaces || "
        f"variables.allowedAccountNamespaces.exists(p, {_match(namespace, 'p')}))"
    )


def _cel_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def _members(kind: str) -> str:
    return " + ".join(f"object.spec.?{field}.?{kind}.orValue([])" for field, _ in ROLES)


def admission_variables() -> list[dict[str, str]]:
    """The ValidatingAdmissionPolicy's variables: `refused_subjects` and `squatted` in CEL,
    with the PlatformConfig as params (its defaults spelled out, as the model has them)."""
    spec = "params.spec"
    reserved = (
        _cel_list([pattern for pattern, _ in ALWAYS_RESERVED])
        + f" + {spec}.?platformNamespaces.orValue({_cel_list(DEFAULT_PLATFORM_NAMESPACES)})"
        + f" + [{spec}.?dns.?namespace.orValue('kube-system'), "
        f"{spec}.?ingressController.?namespace.orValue('ingress-nginx')]"
        + f" + {spec}.?databases.?servers.orValue([]).map(s, s.adminSecret.namespace)"
        + f" + {spec}.?databases.?servers.orValue([]).filter(s, has(s.peer))"
        ".map(s, s.peer.namespace)"
    )
    allowed = f"{spec}.?allowedSubjects"
    user_ok = _account_ok("u.split(':')[2]")
    group_ok = _account_ok("g.split(':')[2]")
    account_ok = _account_ok("a.split('/')[0]")
    return [
        {
            "name": "namespaces",
            "expression": "object.spec.environments.map(e, object.metadata.name + '-' + e.name)",
        },
        {"name": "reserved", "expression": reserved},
        {
            "name": "squatted",
            "expression": "variables.namespaces.filter(ns, variables.reserved.exists(p, "
            f"{_match('ns', 'p')}))",
        },
        {"name": "allowedUsers", "expression": f"{allowed}.?users.orValue([])"},
        {"name": "allowedGroups", "expression": f"{allowed}.?groups.orValue([])"},
        {
            "name": "allowedAccountNamespaces",
            "expression": f"{allowed}.?serviceAccountNamespaces.orValue([])",
        },
        {
            "name": "refused",
            "expression": (
                f"({_members('users')}).filter(u, u.startsWith('{SYSTEM}') && "
                "!(u in variables.allowedUsers) && "
                f"!(u.startsWith('{SA_USER}') && size(u.split(':')) == 4 && "
                f"{user_ok}))"
                f" + ({_members('groups')}).filter(g, g.startsWith('{SYSTEM}') && "
                "!(g in variables.allowedGroups) && "
                f"!(g.startsWith('{SA_GROUP}:') && size(g.split(':')) == 3 && "
                f"{group_ok}))"
                f" + ({_members('serviceAccounts')})"
                f".filter(a, !{account_ok})"
            ),
        },
    ]


def admission_policy() -> list[KubeObject]:
    """The ValidatingAdmissionPolicy (and binding) that refuses, inside the API server, a
    Tenant whose environment is a reserved namespace or whose members open it to everyone.

    Its params are the PlatformConfig `default`. Without one the policy lets Tenants
    through (the operator does nothing for any tenant until a PlatformConfig exists, and
    judges them by it then); the always-reserved namespaces are refused by the CRD itself.
    """
    part_of = {"app.kubernetes.io/part-of": "mooring", names.LABEL_MANAGED_BY: names.MANAGED_BY}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": part_of},
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": {"apiVersion": names.API_VERSION, "kind": "PlatformConfig"},
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [names.GROUP],
                            "apiVersions": [names.VERSION],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["tenants"],
                        }
                    ]
                },
                "variables": admission_variables(),
                "validations": [
                    {
                        "expression": "size(variables.squatted) == 0",
                        "messageExpression": (
                            "'namespace ' + variables.squatted[0] + ' is reserved for the "
                            "platform (PlatformConfig spec.platformNamespaces, kube-*, default, "
                            "mooring-system and the namespaces the PlatformConfig names); "
                            "rename the environment or the tenant'"
                        ),
                        "reason": "Forbidden",
                    },
                    {
                        "expression": "size(variables.refused) == 0",
                        "messageExpression": (
                            "'members ' + variables.refused.join(', ') + ' would open the "
                            "tenant beyond its team (system: identities such as "
                            "system:authenticated, or service accounts outside the tenant\\'s "
                            "namespaces); name the team\\'s own, or ask the platform team to "
                            "allow them in the PlatformConfig\\'s spec.allowedSubjects'"
                        ),
                        "reason": "Forbidden",
                    },
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
                "paramRef": {
                    "name": "default",
                    "parameterNotFoundAction": "Allow",
                },
            },
        },
    ]
