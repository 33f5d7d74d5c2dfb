"""Pure: the ValidatingAdmissionPolicies and bindings the API server enforces the rules with.

One policy per target and mode, `<target>-<mode>.guardrails.mooring.dev` (for example
pods-enforce), bound with that mode's action (enforce is Deny, warn is Warn, audit is
Audit). The enforce policies are bound to every tenant namespace (label
mooring.dev/tenant: without its context, a namespace refuses what they judge); the warn
and audit ones only to the tenant namespaces where some rule of their target has that mode
(label mooring.dev/guardrails-<target>-<mode>, which the operator keeps from the
namespace's context: mode_labels), so that where every rule enforces, a request meets one
policy, not two or three. Its params is the
namespace's GuardrailContext, which says each rule's mode there (`spec.modes`, from the
platform and the tenant: context.effective_mode).

The policy is laid out for the API server's cost (k8s.io/apiserver
admission/plugin/policy/validating/validator.go and admission/plugin/cel). For every request
a policy matches, the validator evaluates three groups of expressions: the validations, the
message expressions and the audit annotations, each in a fresh activation with a fresh
lazy map with an entry per variable, so the variables are evaluated again in each group.
Up to Kubernetes 1.36 each activation also converted the object, the old object, the
request and the namespace to unstructured values by reflection (the Pod's conversion was
the biggest single cost); from 1.37 the object is converted once per request. The three
groups run whether they have expressions or not (a fourth, match conditions, only when
there are some). So:

- one policy per target and mode (not per rule): the groups (and, up to 1.36, the
  conversions) are per policy;
- one validation, `variables.clear || size(variables.denied) == 0`, and one message
  expression that is '' when `variables.clear`;
- `clear` is `<not judged> || <quick check>`: the quick check (quick_check) tests every
  rule's trigger in one expression, every container rule in one pass over each container
  list: the cost of a compliant object;
- a variable per rule (`denied_<rule>`, rule_variable), and `denied`, which joins them:
  evaluated only when the quick check finds something, each is [the rule's message] when
  the namespace's context gives the rule this mode, it finds something and no exception
  lifts it, else [], with the rule's `violations` and `exceptions` expressions inlined:

      params.spec.?modes[?'<rule>'].orValue('enforce') != '<mode>' ? [] :
        [<violations>].map(found, size(found) == 0 || size(<exceptions>) > 0
          ? [] : [found.join('; ') + ' [guardrail <rule>]'])[0]

  Variables cost a request an entry each in each group's lazy map (measured: no time
  beside the same policy with them inlined, 87 allocations more). They are there for the
  API server's compiler: cel-go's type checker copies its substitution map, which grows
  with the expression, for each list literal it checks, so one expression costs more than
  linearly in its size. The pods policy with every rule inlined in one `denied`
  expression took the plugin 7.7 s to compile and the API server 9.3 s to create (under
  load); split like this, 1.1 s and 1.7 s (docs/benchmarks.md, "What a policy's creation
  costs"). The quick check is a variable too, so it is compiled once, not again in the
  message expression;
- no match conditions (a group of their own): an UPDATE that changes nothing the rules
  read (the target's `match_condition`) is passed by the validation itself.

The verdict is the one the rules give one by one (the quick check is sound: false only when
every rule's violations are empty); the message names every rule broken, with its field
paths. That message costs the quick check a second time on every request (the message
group has a lazy map of its own and cannot see the validation's result): see
docs/benchmarks.md for what it costs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mooring.api import names
from mooring.api.guardrails import MODES, GuardrailSettings, Mode
from mooring.api.tenant import Tenant
from mooring.core.policy.cel import quote
from mooring.core.policy.context import CONTEXT_API_VERSION, CONTEXT_KIND, CONTEXT_NAME
from mooring.core.policy.rules import (
    ALL,
    BY_ID,
    Rule,
    exceptions_expression,
    let,
    quick_check,
)
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


def mode_test(rule: Rule, mode: Mode) -> str:
    return f"params.spec.?modes[?{quote(rule.id)}].orValue({quote(MISSING_MODE)}) != {quote(mode)}"


def denied_entry(rule: Rule, mode: Mode) -> str:
    """CEL: [the rule's message] when the rule has `mode` here, finds something and no
    exception lifts it; else []."""
    # Violations first: usually there are none, and then exceptions are not looked at.
    found = let(
        rule.violations,
        "found",
        f"(size(found) == 0 || size({exceptions_expression(rule.id)}) > 0) ? [] : "
        f"[found.join('; ') + ' [guardrail {rule.id}]']",
    )
    return f"({mode_test(rule, mode)} ? [] : {found})"


def concat(lists: Sequence[str]) -> str:
    """CEL: the lists joined, as a balanced tree of `+` (a chain of 13 would nest too deep
    for some CEL parsers, with each rule's expression inside)."""
    if len(lists) <= 1:
        return lists[0] if lists else "[]"
    half = len(lists) // 2
    return f"({concat(lists[:half])} + {concat(lists[half:])})"


# The API server drops a message longer than 5 KiB; this many characters stay below it.
MESSAGE_LIMIT = 1250


def rule_variable(rule: Rule) -> str:
    """The name of the variable holding one rule's entry of `denied` (a CEL identifier)."""
    return "denied_" + rule.id.replace("-", "_")


def validation(target: Target, mode: Mode, rules: Sequence[Rule]) -> dict[str, Any]:
    """The policy's one validation: passes unless a rule in `mode` here finds something."""
    message = "object.kind + ' ' + variables.name + ': ' + variables.denied.join('; ')"
    return {
        "expression": "variables.clear || size(variables.denied) == 0",
        "messageExpression": (
            f"variables.clear ? '' : [{message}].map(m, size(m) > {MESSAGE_LIMIT} ? "
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
    variables.append(
        {"name": "clear", "expression": f"!({target.match_condition}) || {quick_check(rules)}"}
    )
    variables += [{"name": rule_variable(r), "expression": denied_entry(r, mode)} for r in rules]
    variables.append(
        {
            "name": "denied",
            "expression": concat([f"variables.{rule_variable(r)}" for r in rules]),
        }
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


# Modes whose policies are bound only where they are in use (enforce: everywhere).
LABELLED_MODES: tuple[Mode, ...] = ("warn", "audit")


def mode_label(target: str, mode: Mode) -> str:
    """The namespace label that binds the `<target>-<mode>` policy (warn and audit)."""
    return f"{names.LABEL_GUARDRAILS_PREFIX}{target}-{mode}"


MODE_LABELS = frozenset(mode_label(t.name, m) for t in TARGETS for m in LABELLED_MODES)


def mode_labels_of(labels: Mapping[str, Any] | None) -> dict[str, str]:
    """The mode labels among a namespace's labels."""
    return {str(k): str(v) for k, v in (labels or {}).items() if k in MODE_LABELS}


def mode_labels(modes: Mapping[str, Any]) -> dict[str, str]:
    """Pure: the labels of a namespace whose rules have these modes (its GuardrailContext's
    `spec.modes`): one per target and mode of LABELLED_MODES that some rule has there."""
    labels: dict[str, str] = {}
    for rule_id, mode in modes.items():
        rule = BY_ID.get(rule_id)
        if rule is not None and mode in LABELLED_MODES:
            labels[mode_label(rule.target.name, mode)] = "true"
    return dict(sorted(labels.items()))


def binding(target: Target, mode: Mode) -> KubeObject:
    # Every tenant namespace; for warn and audit, only those whose context uses the mode
    # for a rule of the target (their label): elsewhere the policy would find nothing to
    # say, at the cost of its evaluation (three conversions of the object) per request.
    selector: list[dict[str, Any]] = [{"key": names.LABEL_TENANT, "operator": "Exists"}]
    if mode in LABELLED_MODES:
        selector.append({"key": mode_label(target.name, mode), "operator": "Exists"})
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
            "matchResources": {"namespaceSelector": {"matchExpressions": selector}},
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
    settings: GuardrailSettings,
    tenants: Sequence[Tenant] = (),
    rules: Sequence[Rule] = ALL,
    kept: Collection[str] = (),
) -> list[KubeObject]:
    """Pure: every policy, then every binding (what the operator keeps installed).

    `kept`: names of policies installed now. A warn or audit policy among them stays
    (kept current) when no namespace uses its mode any more: its binding selects no
    namespace then, so it costs requests nothing, while creating it again costs the API
    server seconds of compiling when a tenant next uses the mode. An unused enforce
    policy goes: it is bound to every tenant namespace and would be evaluated for nothing.
    """
    policies: list[KubeObject] = []
    bindings: list[KubeObject] = []
    for target in TARGETS:
        mine = [rule for rule in rules if rule.target is target]
        used = modes_in_use(settings, tenants, mine)
        if mine:
            used |= {m for m in LABELLED_MODES if policy_name(target, m) in kept}
        for mode in (m for m in MODES if m in used):
            policies.append(policy(target, mode, mine))
            bindings.append(binding(target, mode))
    return policies + bindings
