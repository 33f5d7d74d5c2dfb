"""Pure: evaluate the rules offline, exactly as the generated admission policies do.

An admission policy (admission.py) binds the target's variables and each rule's
`violations` and `exceptions` expressions as `spec.variables`, and validates, for a rule in
the policy's mode, `size(violations) == 0 || size(exceptions) > 0` (RuleResult.verdict
is that validation's outcome, errors included).

Offline, the same expression texts are evaluated two ways:
- Fast: all rules of a target in one expression, the shared variables computed once
  (`cel.bind(variables, {...}, ...)`), so an object is converted to CEL once and
  evaluated once; the rules' own expressions only when the quick check that admission
  runs first (rules.quick_check) finds something. (Exceptions are evaluated only when
  the namespace has some: with none in force, every `exceptions` expression is the
  empty list.)
- Natively first, when mooring_native is installed and the namespace has no exceptions:
  the quick check alone, by Mooring's evaluator in Rust over the object as read (cel.py's
  native_check). Its true means every violations list is empty, as the pack would find;
  anything else (false, an error, a value it does not model) goes the fast way.
- Exact, when the fast way meets an error: each rule on its own with every
  `variables.x` replaced by `(its expression)`. CEL has no side effects, so this is the
  API server's computation, lazily evaluated variables included; one bad field errs only
  the rules that read it, as one policy's error denies only through that policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from mooring.api.yamlfast import PathItem
from mooring.core.policy.cel import (
    Keep,
    NativeCheck,
    Outcome,
    Program,
    Stored,
    activation,
    native_check,
    quote,
)
from mooring.core.policy.rules import ALL, Rule, exceptions_expression, quick_check
from mooring.core.policy.targets import TARGETS, Target

Verdict = Literal["pass", "fail", "excepted", "error"]
_VARIABLE = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)\b")


def inline(expression: str, variables: Mapping[str, str]) -> str:
    """`expression` with every `variables.name` replaced by `(its expression)`, recursively."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"unknown variable {name!r} in {expression!r}")
        return f"({inline(variables[name], variables)})"

    return _VARIABLE.sub(replace, expression)


@dataclass(frozen=True)
class Violation:
    field: str  # as the rule wrote it: spec.containers[name=app].securityContext.privileged
    message: str


@dataclass(frozen=True)
class RuleResult:
    """One rule's judgement of one object."""

    rule: Rule
    violations: tuple[Violation, ...] = ()
    exceptions: tuple[str, ...] = ()  # PolicyExceptions in force that lift the rule here
    error: str | None = None  # the violations expression's error
    exceptions_error: str | None = None

    @property
    def verdict(self) -> Verdict:
        """`size(violations) == 0 || size(exceptions) > 0` as CEL decides it: either side
        true is enough, whatever error the other has; an error alone denies (failurePolicy
        Fail)."""
        if self.error is None and not self.violations:
            return "pass"
        if self.exceptions_error is None and self.exceptions:
            return "excepted"
        if self.error is not None or self.exceptions_error is not None:
            return "error"
        return "fail"

    @property
    def denied(self) -> bool:
        return self.verdict in ("fail", "error")


def _violations(value: Any) -> tuple[Violation, ...]:
    result = []
    for item in value:
        text = str(item)
        field, sep, message = text.partition(": ")
        result.append(Violation(field, message) if sep else Violation("", text))
    return tuple(result)


class Engine:
    """The rules compiled for offline evaluation. Build once; `evaluate` many objects."""

    def __init__(
        self,
        rules: Iterable[Rule] = ALL,
        stored: Stored | None = None,
        *,
        keep: Keep | None = None,
        native: bool = True,
        native_from: int = 0,
    ) -> None:
        """`stored` gives the combined programs already compiled (Program), by key, and
        `keep` is told those compiled here; `native` lets the native evaluator answer the
        quick check first (tests compare), from a target's `native_from`th object on
        (compiling the pods' quick check natively takes about 20 ms, which a few hundred
        objects pay back)."""
        self.rules = tuple(rules)
        self._stored = stored
        self._keep = keep
        self._native_from = native_from
        self._seen: dict[str, int] = {}
        self._native = native
        # Per target met, its quick check compiled natively (None: not available).
        self._quick: dict[str, NativeCheck | None] = {}
        self._by_target: dict[str, tuple[Rule, ...]] = {
            target.name: tuple(rule for rule in self.rules if rule.target is target)
            for target in TARGETS
        }
        # The combined programs by (target, with exceptions): looked up per object without
        # hashing the rules (the lru_cache of _pack does, 13 dataclasses a call).
        self._packs: dict[tuple[str, bool], Program] = {}
        # Per target met, the keys of params.spec its expressions read (None: all of params).
        self._reads: dict[str, frozenset[str] | None] = {}
        self._kinds: dict[tuple[Any, Any], Target] = {
            kind: target
            for target in TARGETS
            if self._by_target[target.name]
            for kind in target.kinds
        }

    def packs(self) -> list[Program]:
        """Every combined program these rules make: per target, without and with
        exceptions (services/cel_store.py ships them compiled)."""
        return [
            self._pack(target, with_exceptions)
            for target in TARGETS
            if self._by_target[target.name]
            for with_exceptions in (False, True)
        ]

    def applies(self, obj: Mapping[str, Any]) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) in self._kinds

    def _pack(self, target: Target, with_exceptions: bool) -> Program:
        key = (target.name, with_exceptions)
        program = self._packs.get(key)
        if program is None:
            program = self._packs[key] = _pack(
                self._by_target[target.name], target, with_exceptions, self._stored, self._keep
            )
        return program

    def evaluate(
        self,
        obj: Mapping[str, Any],
        params: Mapping[str, Any],
        *,
        exact: bool = False,
        failing_only: bool = False,
    ) -> list[RuleResult]:
        """Every rule of the object's target; [] when no rule looks at this kind.

        `exact` skips the fast way (tests compare the two). `failing_only` leaves the
        passes out (`mooring check` reports nothing else; most objects pass every rule).
        """
        target = self._kinds.get((obj.get("apiVersion"), obj.get("kind")))
        if target is None:
            return []
        rules = self._by_target[target.name]
        spec = params.get("spec")
        with_exceptions = bool(isinstance(spec, Mapping) and spec.get("exceptions"))
        read = self._read(target, params)
        if not exact and not with_exceptions:
            quick = self._quick_check(target)
            if quick is not None and quick.holds(obj, read):
                return [] if failing_only else [RuleResult(rule) for rule in rules]
        bound = activation({"object": obj, "params": read}, bindings=True)
        outcome = (
            Outcome(error="exact")
            if exact
            else self._pack(target, with_exceptions).evaluate_in(bound)
        )
        if outcome.error is None and isinstance(outcome.value, list):
            if with_exceptions:
                return [
                    _result(rule, Outcome(found), Outcome(lifted))
                    for rule, (found, lifted) in zip(rules, outcome.value, strict=True)
                    if found or not failing_only
                ]
            return [
                _result(rule, Outcome(found), Outcome([]))
                for rule, found in zip(rules, outcome.value, strict=True)
                if found or not failing_only
            ]
        results = []
        for rule in rules:
            violations, exceptions = _rule_programs(rule)
            result = _result(rule, violations.evaluate_in(bound), exceptions.evaluate_in(bound))
            if result.verdict != "pass" or not failing_only:
                results.append(result)
        return results

    def prepare(self) -> None:
        """Compile now what the first objects would: the native quick checks, when they
        are used from the first object (worker processes forked after share them)."""
        if self._native_from == 0:
            for target in TARGETS:
                if self._by_target[target.name]:
                    self._quick_check(target)

    def _quick_check(self, target: Target) -> NativeCheck | None:
        if target.name not in self._quick:
            seen = self._seen.get(target.name, 0)
            if seen < self._native_from:
                self._seen[target.name] = seen + 1
                return None
            rules = self._by_target[target.name]
            self._quick[target.name] = (
                native_check(quick_check(rules), target.variables) if self._native else None
            )
        return self._quick[target.name]

    def _read(self, target: Target, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """`params` with only the keys of its spec the target's expressions read: CEL
        converts all of what it is given (a context's 20 modes and platform namespaces
        cost about 10 us per object, and the offline rules read neither)."""
        if target.name not in self._reads:
            texts = [value for _, value in target.variables]
            for rule in self._by_target[target.name]:
                texts += offline_expressions(rule)
            self._reads[target.name] = params_read(" ".join(texts))
        reads = self._reads[target.name]
        spec = params.get("spec")
        if reads is None or not isinstance(spec, Mapping):
            return params
        return {"spec": {key: spec[key] for key in reads if key in spec}}


# `params` and, when it is `params.spec.<key>` or `params.spec.?<key>` (not a call), the key.
_PARAMS = re.compile(r"\bparams\b(?:\.spec\.\??([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\())?")


def params_read(source: str) -> frozenset[str] | None:
    """The keys of `params.spec` that CEL `source` reads; None when it reads params in any
    other way (params itself, its metadata, spec as a whole). CEL reads a map's field only by
    naming it, so an object with only these keys in its spec gives the same results."""
    keys = set()
    for match in _PARAMS.finditer(source):
        if match.group(1) is None:
            return None
        keys.add(match.group(1))
    return frozenset(keys)


def _result(rule: Rule, violations: Outcome, exceptions: Outcome) -> RuleResult:
    found = _violations(violations.value) if violations.error is None else ()
    lifted = tuple(str(n) for n in exceptions.value) if exceptions.error is None else ()
    return RuleResult(rule, found, lifted, violations.error, exceptions.error)


def offline_expressions(rule: Rule) -> tuple[str, str]:
    """The rule's violations and exceptions expressions with the variables inlined."""
    variables = dict(rule.target.variables)
    return (
        inline(rule.violations, variables),
        inline(exceptions_expression(rule.id), variables),
    )


@lru_cache(maxsize=64)
def _rule_programs(rule: Rule) -> tuple[Program, Program]:
    violations, exceptions = offline_expressions(rule)
    return Program(violations), Program(exceptions)


@lru_cache(maxsize=32)
def _pack(
    rules: tuple[Rule, ...],
    target: Target,
    with_exceptions: bool,
    stored: Stored | None = None,
    keep: Keep | None = None,
) -> Program:
    """One expression for all `rules`: a list with, per rule, its violations (and, with
    exceptions, `[violations, exceptions]`); the target's variables computed once, as a
    map bound to the name `variables`, so the rules' text is used unchanged.

    The rules' own expressions run only when the quick check (admission's, rules.py)
    finds something: an object no rule finds anything in (most) gets every violations
    list empty from one pass over its containers, as at admission. The quick check is
    false whenever some violations list would not be empty; if it errs, so does the pack,
    and `evaluate` takes the exact way.
    """
    entries = []
    quiet = []  # the same list when the quick check finds nothing
    for rule in rules:
        if with_exceptions:
            entries.append(f"[{rule.violations}, {exceptions_expression(rule.id)}]")
            quiet.append(f"[[], {exceptions_expression(rule.id)}]")
        else:
            entries.append(rule.violations)
            quiet.append("[]")
    for name, value in target.variables:
        if _VARIABLE.search(value):
            raise ValueError(f"variable {name} of {target.name} reads another variable")
    variables = ", ".join(f"{quote(name)}: {value}" for name, value in target.variables)
    return Program(
        f"cel.bind(variables, {{{variables}}}, {quick_check(rules)} ? "
        f"[{', '.join(quiet)}] : [{', '.join(entries)}])",
        bindings=True,
        stored=stored,
        keep=keep,
    )


# -- field paths ------------------------------------------------------------------------------

_STEP = re.compile(r"([^.\[\]]+)|\[([^\]=]*)=([^\]]*)\]|\[(\d+)\]")


def resolve_path(obj: Any, field: str) -> tuple[PathItem, ...]:
    """`spec.containers[name=app].image` -> ('spec', 'containers', 0, 'image') in `obj`.

    A keyed item that cannot be found ends the path at its list (the closest known place).
    """
    path: list[PathItem] = []
    node = obj
    for match in _STEP.finditer(field):
        key, by_key, by_value, index = match.groups()
        if key is not None:
            path.append(key)
            node = node.get(key) if isinstance(node, dict) else None
        elif index is not None:
            path.append(int(index))
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        else:
            if not isinstance(node, list):
                break
            found = next(
                (
                    i
                    for i, item in enumerate(node)
                    if isinstance(item, dict) and str(item.get(by_key)) == by_value
                ),
                None,
            )
            if found is None:
                break
            path.append(found)
            node = node[found]
    return tuple(path)
