"""Offline and at admission, the same verdict: Mooring's own cases through both engines.

Each case is judged by the offline engine and by the real API server with the generated
ValidatingAdmissionPolicies installed (server-side dry-run); both must give the case's
expected verdict, so they agree with each other. An UPDATE case changes a real, compliant
object into the case's object: the API server judges the update, the engine the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mooring.core.policy.context import context_object
from mooring.core.policy.engine import Engine
from mooring.core.policy.rules import BY_ID
from mooring.kube.client import Kube
from tests.guardrails_lab import AdmissionLab
from tests.policy_cases import CASES, CONTEXTS, PRIORITY_CLASSES, Case

pytestmark = pytest.mark.cluster


@pytest_asyncio.fixture(scope="module")
async def lab(kube: Kube) -> AsyncIterator[AdmissionLab]:
    lab = AdmissionLab(kube, prefix="gd")
    pairs = sorted({(case.rule, case.context) for case in CASES})
    await lab.prepare(
        ((((rule,), context), CONTEXTS[context]) for rule, context in pairs), PRIORITY_CLASSES
    )
    sentinels = {}
    for rule, context in pairs:
        denied = [c for c in CASES if (c.rule, c.context) == (rule, context) and c.denied]
        plain = [c for c in denied if not c.has_ephemeral and c.before is None]
        if plain:
            sentinels[((rule,), context)] = plain[0].obj
    await lab.wait_active(sentinels)
    try:
        yield lab
    finally:
        await lab.clean()


def offline(case: Case) -> bool:
    (result,) = Engine([BY_ID[case.rule]]).evaluate(
        case.obj, context_object("ns", CONTEXTS[case.context])
    )
    return result.denied


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_offline_and_admission_agree(lab: AdmissionLab, case: Case) -> None:
    server = await lab.verdict(
        ((case.rule,), case.context), case.obj, case.before, case.subresource
    )
    assert not server.refused, f"the API server refused the case itself: {server.message}"
    assert (offline(case), server.denied) == (case.denied, case.denied), server.message
