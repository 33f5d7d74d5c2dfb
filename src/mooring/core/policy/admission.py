"""Pure: the ValidatingAdmissionPolicies and bindings the API server enforces the rules with.

One policy per target and mode, `<target>-<mode>.guardrails.mooring.dev` (for example
pods-enforce), bound with that mode's action (enforce is Deny, warn is Warn, audit is
Audit) to every tenant namespace (label mooring.dev/tenant). Its params is the
namespace's GuardrailContext, which says each rule's mode there (`spec.modes`, from the
platform and the tenant: context.effective_mode).

The policy is laid out for the API server's cost, which its profile shows is mostly fixed
costs: every evaluation of a variable, validation or message expression pays a few
microseconds before doing anything, and the object is converted to CEL once per group of
expressions (match conditions, validations, messages, audit annotations), whether the
group has expressions or not. Message expressions are evaluated on every request, passed
or not, in a fresh context (the validations' variables are evaluated again). So:

- one validation, `<not judged> || <quick check> || size(variables.denied) == 0`, and one
  message expression that is '' unless the quick check finds something;
- the quick check (quick_check) tests every rule's trigger in one expression, every
  container rule in one pass over each container list: the cost of a compliant object;
- `variables.denied`, evaluated only when the quick check finds something, lists each rule
  in this mode the namespace's context applies, with its own `violations` and
  `exceptions` expressions (variables too, evaluated then):

      params.spec.?modes[?'<rule>'].orValue('enforce') != '<mode>'
        || size(variables.violations_<rule>) == 0 || size(variables.exceptions_<rule>) > 0
        ? [] : [variables.violations_<rule>.join('; ') + ' [guardrail <rule>]']

- no match conditions (a group of their own): an UPDATE that changes nothing the rules
  read (the target's `match_condition`) is passed by the validation itself.

The verdict is the one the rules give one by one (the quick check is sound: false only when
every rule's violations are empty); the message names every rule broken, with its field
paths.
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


def denied_entry(rule: Rule, mode: Mode) -> str:
    """CEL: [the rule's message] when the rule has `mode` here, finds something and no
    exception lifts it; else []."""
    violations = f"variables.{variable(rule, 'violations')}"
    exceptions = f"variables.{variable(rule, 'exceptions')}"
    # Violations first: usually there are none, and then exceptions are not looked at.
    return (
        f"(({mode_test(rule, mode)} || size({violations}) == 0 || size({exceptions}) > 0) "
        f"? [] : [{violations}.join('; ') + ' [guardrail {rule.id}]'])"
    )


def trigger(rule: Rule) -> str:
    """CEL: may the rule find something? (false only when its violations are empty)"""
    return rule.trigger or f"size({rule.violations}) > 0"


def quick_check(rules: Sequence[Rule]) -> str:
    """CEL: true when no rule of `rules` finds anything, so that every `violations` is empty.

    The container rules' `bad` predicates are tested together in one pass over each
    container list, the other rules' triggers beside them. A trigger that fires does not
    mean a violation: the rule may have another mode here, or an exception; the rules are
    then evaluated one by one (`variables.denied`).
    """
    per_list: dict[str, list[str]] = {}
    others: list[str] = []
    for rule in rules:
        if rule.containers is not None:
            bad, lists = rule.containers
            for name in lists:
                per_list.setdefault(name, []).append(f"({bad})")
        else:
            others.append(f"({trigger(rule)})")
    passes = [
        f"variables.spec.?{name}.orValue([]).exists(c, {' || '.join(bads)})"
        for name, bads in per_list.items()
    ]
    found = [*others, *passes]
    return f"!({' || '.join(found)})" if found else "true"


# The API server drops a message longer than 5 KiB; this many characters stay below it.
MESSAGE_LIMIT = 1250


def validation(target: Target, mode: Mode, rules: Sequence[Rule]) -> dict[str, Any]:
    """The policy's one validation: passes unless a rule in `mode` here finds something."""
    skip = f"!({target.match_condition}) || {quick_check(rules)}"
    message = "object.kind + ' ' + variables.name + ': ' + variables.denied.join('; ')"
    return {
        "expression": f"{skip} || size(variables.denied) == 0",
        "messageExpression": (
            f"({skip}) ? '' : [{message}].map(m, size(m) > {MESSAGE_LIMIT} ? "
            f"m.substring(0, {MESSAGE_LIMIT - 4}) + ' ...' : m)[0]"
        ),
        "message": (
            f"violates Mooring's guardrails ({', '.join(rule.id for rule in rules)}); run "
            "mooring check on the manifest to see which and where"
        ),
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
    variables.append(
        {"name": "denied", "expression": " + ".join(denied_entry(r, mode) for r in rules) or "[]"}
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
            "variables": variables,
            "validations": [validation(target, mode, rules)],
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
