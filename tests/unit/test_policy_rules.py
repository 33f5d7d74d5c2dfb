"""The rules, offline: each of Mooring's own cases through the engine, one rule at a time."""

from __future__ import annotations

import pytest

from mooring.core.policy.context import context_object
from mooring.core.policy.engine import Engine
from mooring.core.policy.rules import BY_ID
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
