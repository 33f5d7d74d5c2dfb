"""The external corpora through the offline engine: the corpus's verdict, per mapped rule."""

from __future__ import annotations

import pytest

from mooring.core.policy.context import context_object
from mooring.core.policy.engine import Engine
from mooring.core.policy.rules import BY_ID
from tests.external.corpora import CONTEXTS, CORPORA, ExternalCase, gatekeeper_cases, psa_cases

CASES = gatekeeper_cases() + psa_cases() if CORPORA.is_dir() else []


def judge(case: ExternalCase) -> tuple[bool, int]:
    """(denied, number of violations) by the case's Mooring rules, offline."""
    engine = Engine([BY_ID[rule] for rule in case.rules])
    results = engine.evaluate(case.obj, context_object("corpus", CONTEXTS[case.context]))
    assert results, f"no rule of {case.rules} looks at a {case.obj.get('kind')}"
    for result in results:
        assert result.error is None, result.error
    return any(r.denied for r in results), sum(len(r.violations) for r in results)


def test_the_corpora_are_there() -> None:
    assert CORPORA.is_dir(), f"the external corpora are missing: {CORPORA}"
    assert len([c for c in CASES if c.id.startswith("gatekeeper")]) >= 80
    assert len([c for c in CASES if c.id.startswith("psa")]) >= 100


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_offline(case: ExternalCase) -> None:
    if case.skip:
        pytest.skip(case.skip)
    denied, count = judge(case)
    assert denied is case.denied
    if case.count is not None:
        assert count == case.count


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_native_quick_check_changes_no_result(case: ExternalCase) -> None:
    """Every rule on the corpus's object (skipped cases too: the objects are real ones; in
    the plain context when the case has none), with the native quick check and without."""
    params = context_object("corpus", CONTEXTS[case.context or "corpus"])
    with_native = Engine().evaluate(case.obj, params)
    assert with_native == Engine(native=False).evaluate(case.obj, params)
