"""Pure: the ValidatingAdmissionPolicies and bindings the API server enforces the rules with.

One policy per target and mode, `<target>-<mode>.guardrails.mooring.dev` (for example
pods-enforce), bound with that mode's action (enforce is Deny, warn is Warn, audit is
Audit) to every tenant namespace (label mooring.dev/tenant). Its params is the
namespace's GuardrailContext, which says each rule's mode there (`spec.modes`, from the
platform and the tenant: context.effective_mode). The policy has one validation per rule of
its target:

    params.spec.?modes[?'<rule>'].orValue('enforce') != '<mode>'
      || size(variables.violations_<rule>) == 0 || size(variables.exceptions_<rule>) > 0

with the rule's own `violations` and `exceptions` expressions as variables, evaluated only
when the rule has that mode there. One policy per mode rather than one per rule: the API
server's cost is mostly per policy (each converts the object again), so a pod create costs
at most three policy evaluations, whatever the number of rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mooring.api import names
from mooring.api.guardrails import MODES, GuardrailSettings, Mode
from mooring.api.tenant import Tenant
from mooring.core.policy.cel import quote
from mooring.core.policy.context import CONTEXT_API_VERSION, CONTEXT_KIND, CONTEXT_NAME
from mooring.core.policy.rules import ALL, Rule, exceptions_expression
from mooring.core.policy.targets import TARGETS, Target

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
# A context without a rule's mode (written before the rule existed) enforces it: fail closed.
MISSING_MODE: Mode = "enforce"


def policy_name(target: Target, mode: Mode) -> str:
    return f"{target.name}-{mode}.{SUFFIX}"


def variable(rule: Rule, what: str) -> str:
    """The policy variable holding a rule's `violations` or `exceptions`."""
    return f"{what}_{rule.id.replace('-', '_')}"


def mode_test(rule: Rule, mode: Mode) -> str:
    return f"params.spec.?modes[?{quote(rule.id)}].orValue({quote(MISSING_MODE)}) != {quote(mode)}"


def validation(rule: Rule, mode: Mode) -> dict[str, Any]:
    violations = f"variables.{variable(rule, 'violations')}"
    exceptions = f"variables.{variable(rule, 'exceptions')}"
    return {
        # Violations first: usually there are none, and then exceptions are not looked at.
        "expression": (
            f"{mode_test(rule, mode)} || size({violations}) == 0 || size({exceptions}) > 0"
        ),
        "messageExpression": (
            f"object.kind + ' ' + variables.name + ': ' + {violations}.join('; ') + "
            f"' [guardrail {rule.id}]'"
        ),
        "message": f"violates guardrail {rule.id}: {rule.description}",
        "reason": "Forbidden",
    }


def policy(target: Target, mode: Mode, rules: Sequence[Rule]) -> KubeObject:
    """The ValidatingAdmissionPolicy of one target and mode, over `rules` (of that target)."""
    variables = [{"name": name, "expression": expr} for name, expr in target.variables]
    for rule in rules:
        variables.append({"name": variable(rule, "violations"), "expression": rule.violations})
        variables.append(
            {"name": variable(rule, "exceptions"), "expression": exceptions_expression(rule.id)}
        )
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": policy_name(target, mode),
            "labels": {**LABELS, f"{names.DOMAIN}/mode": mode},
            "annotations": {f"{names.DOMAIN}/rules": ",".join(rule.id for rule in rules)},
        },
        "spec": {
            # An expression that cannot be evaluated denies: guardrails fail closed.
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": CONTEXT_API_VERSION, "kind": CONTEXT_KIND},
            "matchConstraints": {
                "resourceRules": [dict(r) for r in target.resource_rules],
                "matchPolicy": "Equivalent",
            },
            "matchConditions": [{"name": "judged", "expression": target.match_condition}],
            "variables": variables,
            "validations": [validation(rule, mode) for rule in rules],
        },
    }


def binding(target: Target, mode: Mode) -> KubeObject:
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": policy_name(target, mode),
            "labels": {**LABELS, f"{names.DOMAIN}/mode": mode},
        },
        "spec": {
            "policyName": policy_name(target, mode),
            "validationActions": list(ACTIONS[mode]),
            # The GuardrailContext in the namespace of the object being admitted. Without
            # one, an enforcing policy refuses the request (the guardrails fail closed); a
            # warning or auditing one lets it through (the API server would refuse it too).
            "paramRef": {
                "name": CONTEXT_NAME,
                "parameterNotFoundAction": "Deny" if mode == "enforce" else "Allow",
            },
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [{"key": names.LABEL_TENANT, "operator": "Exists"}]
                }
            },
        },
    }


def modes_in_use(
    settings: GuardrailSettings, tenants: Sequence[Tenant], rules: Sequence[Rule]
) -> set[Mode]:
    """The modes some rule may have in some tenant namespace (no policy for the others)."""
    used: set[Mode] = {settings.mode(rule.id) for rule in rules}
    ids = {rule.id for rule in rules}
    for tenant in tenants:
        used.update(o.mode for o in tenant.spec.guardrails if o.rule in ids)
    used.discard("off")
    return used


def admission_objects(
    settings: GuardrailSettings, tenants: Sequence[Tenant] = (), rules: Sequence[Rule] = ALL
) -> list[KubeObject]:
    """Pure: every policy, then every binding (what the operator keeps installed)."""
    policies: list[KubeObject] = []
    bindings: list[KubeObject] = []
    for target in TARGETS:
        mine = [rule for rule in rules if rule.target is target]
        used = modes_in_use(settings, tenants, mine)
        for mode in (m for m in MODES if m in used):
            policies.append(policy(target, mode, mine))
            bindings.append(binding(target, mode))
    return policies + bindings
