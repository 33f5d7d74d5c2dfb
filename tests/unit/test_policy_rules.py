"""The rules, offline: each of Mooring's own cases through the engine, one rule at a time."""

from __future__ import annotations

import pytest

from mooring.core.policy.admission import policy
from mooring.core.policy.cel import Program, quote
from mooring.core.policy.context import context_object
from mooring.core.policy.engine import _VARIABLE, Engine, params_read
from mooring.core.policy.rules import ALL, BY_ID
from mooring.core.policy.targets import TARGETS
from tests.policy_cases import CASES, CONTEXTS, Case


def verdict(case: Case) -> bool:
    """True when the rule denies the case's object in the case's context."""
    engine = Engine([BY_ID[case.rule]])
    (result,) = engine.evaluate(case.obj, context_object("ns", CONTEXTS[case.context]))
    assert result.error is None, result.error
    return result.denied


def test_the_corpus_is_large_and_covers_every_rule() -> None:
    assert len(CASES) >= 200
    assert {case.rule for case in CASES} == set(BY_ID)
    assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
    for rule in BY_ID:
        verdicts = {case.denied for case in CASES if case.rule == rule}
        assert verdicts == {True, False}, f"{rule} needs allowed and denied cases"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case) -> None:
    assert verdict(case) is case.denied


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_fast_and_the_exact_evaluation_agree(case: Case) -> None:
    """All rules at once with shared variables bound once == each rule with them inlined."""
    engine = Engine()
    params = context_object("ns", CONTEXTS[case.context])
    fast = engine.evaluate(case.obj, params)
    exact = engine.evaluate(case.obj, params, exact=True)
    assert fast == exact
    # `mooring check` asks for the failing ones only: the same results, less the passes.
    failing = [result for result in fast if result.verdict != "pass"]
    assert engine.evaluate(case.obj, params, failing_only=True) == failing
    assert engine.evaluate(case.obj, params, exact=True, failing_only=True) == failing


def _bound(expression: str, variables: list[dict[str, str]]) -> Program:
    """`expression` with the policy's variables bound by cel.bind, layer after layer (each
    variable in the first layer after those it reads), as the API server binds them."""
    layers: list[list[dict[str, str]]] = []
    depth: dict[str, int] = {}
    for v in variables:
        read = [depth[name] for name in _VARIABLE.findall(v["expression"])]
        depth[v["name"]] = max(read, default=-1) + 1
        if depth[v["name"]] == len(layers):
            layers.append([])
        layers[depth[v["name"]]].append(v)
    for number in reversed(range(len(layers))):
        earlier = [v["name"] for layer in layers[:number] for v in layer]
        entries = [f"{quote(n)}: variables.{n}" for n in earlier]
        entries += [f"{quote(v['name'])}: {v['expression']}" for v in layers[number]]
        expression = f"cel.bind(variables, {{{', '.join(entries)}}}, {expression})"
    return Program(expression, bindings=True)


def _admission_programs() -> dict[str, tuple[Program, Program]]:
    """Per target: the enforce policy's one validation and its message, with its variables."""
    programs = {}
    for target in TARGETS:
        generated = policy(target, "enforce", [r for r in ALL if r.target is target])["spec"]
        (check,) = generated["validations"]
        programs[target.name] = (
            _bound(check["expression"], generated["variables"]),
            _bound(check["messageExpression"], generated["variables"]),
        )
    return programs


_ADMISSION = _admission_programs()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_admission_policy_gives_the_rules_verdict_and_names_each_rule_broken(
    case: Case,
) -> None:
    """The generated validation (a quick check first, the rules one by one only when it
    finds something) denies exactly when some rule enforced here denies, and its message
    names every such rule: the quick check never passes an object a rule would deny."""
    params = context_object("ns", CONTEXTS[case.context])
    modes = params["spec"].get("modes", {})
    denied = {
        result.rule.id
        for result in Engine().evaluate(case.obj, params)
        if result.denied and modes.get(result.rule.id, "enforce") == "enforce"
    }
    target = BY_ID[case.rule].target
    check, message = _ADMISSION[target.name]
    data = {
        "object": case.obj,
        "oldObject": None,
        "params": params,
        "request": {"operation": "CREATE"},
    }
    outcome = check.evaluate(data)
    assert outcome.error is None, outcome.error
    assert outcome.value is (not denied)
    if denied:  # the API server evaluates the message of a failed validation only
        text = message.evaluate(data)
        assert text.error is None, text.error
        assert {f"[guardrail {rule}]" in text.value for rule in denied} == {True}, text.value


def test_params_read_names_only_what_the_expressions_read() -> None:
    assert params_read("params.spec.?a.orValue([]) + params.spec.b") == {"a", "b"}
    assert params_read("object.spec.x") == frozenset()
    # Read otherwise: the whole of params is given.
    assert params_read("params.spec.?a.orValue(0) == size(params.spec)") is None
    assert params_read("params.metadata.name") is None
    assert params_read("params.spec.all(k, k == 'a')") is None
    assert params_read("params.spec.?['a']") is None
    assert params_read("has(params.spec.a) && params") is None


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_rules_give_the_same_results_from_the_params_they_read_as_from_all(
    case: Case,
) -> None:
    """The engine gives CEL only the keys of the context's spec its expressions read; the
    same packs, given the whole context, give the same results."""
    engine = Engine()
    target = engine._kinds.get((case.obj.get("apiVersion"), case.obj.get("kind")))
    assert target is not None
    params = context_object("ns", CONTEXTS[case.context])
    slim = engine._read(target, params)
    assert set(slim["spec"]) < set(params["spec"])  # something was left out
    for with_exceptions in (False, True):
        program = engine._pack(target, with_exceptions)
        whole = program.evaluate({"object": case.obj, "params": params})
        read = program.evaluate({"object": case.obj, "params": slim})
        assert whole == read
