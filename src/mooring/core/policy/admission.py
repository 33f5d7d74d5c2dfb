"""Pure: the ValidatingAdmissionPolicies and bindings the API server enforces the rules with.

One policy per rule, named `<rule>.guardrails.mooring.dev`: the target's resources, its
variables, the rule's `violations` and `exceptions` expressions as two more variables, and
the one validation rules.VALIDATION. Its `params` is the namespace's GuardrailContext.

Bindings carry the modes. Per rule, a binding for the platform's mode selects every tenant
namespace (label mooring.dev/tenant) except those of tenants that override the rule; one
binding per other mode selects the overriding tenants. enforce is Deny, warn is Warn, audit
is Audit, off is no binding. Names are stable: `<rule>.guardrails.mooring.dev` for the
platform's mode, `<rule>-<mode>.guardrails.mooring.dev` for overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mooring.api import names
from mooring.api.guardrails import MODES, GuardrailSettings, Mode
from mooring.api.tenant import Tenant
from mooring.core.policy.context import CONTEXT_API_VERSION, CONTEXT_KIND, CONTEXT_NAME
from mooring.core.policy.rules import ALL, VALIDATION, Rule, exceptions_expression

KubeObject = dict[str, Any]
API_VERSION = "admissionregistration.k8s.io/v1"
SUFFIX = "guardrails.mooring.dev"
ACTIONS: dict[Mode, list[str]] = {"enforce": ["Deny"], "warn": ["Warn"], "audit": ["Audit"]}
LABELS = {
    names.LABEL_MANAGED_BY: names.MANAGED_BY,
    names.LABEL_COMPONENT: "guardrails",
    "app.kubernetes.io/part-of": "mooring",
}
MANAGED_SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY},{names.LABEL_COMPONENT}=guardrails"


def policy_name(rule: Rule) -> str:
    return f"{rule.id}.{SUFFIX}"


def binding_name(rule: Rule, mode: Mode | None = None) -> str:
    return f"{rule.id}-{mode}.{SUFFIX}" if mode else f"{rule.id}.{SUFFIX}"


def message_expression(rule: Rule) -> str:
    return (
        f"object.kind + ' ' + variables.name + ': ' + variables.violations.join('; ') + "
        f"' [guardrail {rule.id}]'"
    )


def policy(rule: Rule) -> KubeObject:
    """The ValidatingAdmissionPolicy of one rule."""
    variables = [{"name": name, "expression": expr} for name, expr in rule.target.variables]
    variables += [
        {"name": "violations", "expression": rule.violations},
        {"name": "exceptions", "expression": exceptions_expression(rule.id)},
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": policy_name(rule),
            "labels": dict(LABELS),
            "annotations": {
                f"{names.DOMAIN}/rule": rule.id,
                f"{names.DOMAIN}/title": rule.title,
                f"{names.DOMAIN}/severity": rule.severity,
            },
        },
        "spec": {
            # An expression that cannot be evaluated denies: guardrails fail closed.
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": CONTEXT_API_VERSION, "kind": CONTEXT_KIND},
            "matchConstraints": {
                "resourceRules": [dict(r) for r in rule.target.resource_rules],
                "matchPolicy": "Equivalent",
            },
            "matchConditions": [{"name": "judged", "expression": rule.target.match_condition}],
            "variables": variables,
            "validations": [
                {
                    "expression": VALIDATION,
                    "messageExpression": message_expression(rule),
                    "message": f"violates guardrail {rule.id}: {rule.description}",
                    "reason": "Forbidden",
                }
            ],
        },
    }


def _binding(rule: Rule, mode: Mode, name: str, selector: dict[str, Any]) -> KubeObject:
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": name,
            "labels": {**LABELS, f"{names.DOMAIN}/mode": mode},
            "annotations": {f"{names.DOMAIN}/rule": rule.id},
        },
        "spec": {
            "policyName": policy_name(rule),
            "validationActions": list(ACTIONS[mode]),
            # The GuardrailContext in the namespace of the object being admitted. Without
            # one, the request is refused: the guardrails fail closed.
            "paramRef": {"name": CONTEXT_NAME, "parameterNotFoundAction": "Deny"},
            "matchResources": {"namespaceSelector": selector},
        },
    }


def overrides(rule: Rule, tenants: Sequence[Tenant]) -> dict[str, Mode]:
    """Tenant name -> the mode it sets for `rule` (only tenants that set one)."""
    found: dict[str, Mode] = {}
    for tenant in tenants:
        for override in tenant.spec.guardrails:
            if override.rule == rule.id:
                found[tenant.name] = override.mode
    return found


def bindings(
    rule: Rule, settings: GuardrailSettings, tenants: Sequence[Tenant]
) -> list[KubeObject]:
    """The bindings of one rule: the platform's mode, then one per overriding mode."""
    default = settings.mode(rule.id)
    by_tenant = overrides(rule, tenants)
    different = sorted(t for t, mode in by_tenant.items() if mode != default)
    result = []
    if default != "off":
        expressions: list[dict[str, Any]] = [{"key": names.LABEL_TENANT, "operator": "Exists"}]
        if different:
            expressions.append(
                {"key": names.LABEL_TENANT, "operator": "NotIn", "values": different}
            )
        result.append(
            _binding(rule, default, binding_name(rule), {"matchExpressions": expressions})
        )
    for mode in MODES:
        chosen = sorted(t for t, m in by_tenant.items() if m == mode and mode != default)
        if mode == "off" or not chosen:
            continue
        selector = {
            "matchExpressions": [{"key": names.LABEL_TENANT, "operator": "In", "values": chosen}]
        }
        result.append(_binding(rule, mode, binding_name(rule, mode), selector))
    return result


def admission_objects(
    settings: GuardrailSettings, tenants: Sequence[Tenant] = (), rules: Sequence[Rule] = ALL
) -> list[KubeObject]:
    """Pure: every policy, then every binding (what the operator keeps installed)."""
    policies = [policy(rule) for rule in rules]
    all_bindings = [b for rule in rules for b in bindings(rule, settings, tenants)]
    return policies + all_bindings
