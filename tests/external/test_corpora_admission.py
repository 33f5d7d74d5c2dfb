"""The external corpora at admission: the real API server with the generated policies
must give the offline engine's verdict, which is the corpus's (server-side dry-run)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mooring.kube.client import Kube
from tests.external.corpora import CONTEXTS, ExternalCase
from tests.external.test_corpora_offline import CASES, judge
from tests.guardrails_lab import AdmissionLab, Key

pytestmark = pytest.mark.cluster
JUDGED = [c for c in CASES if not c.skip]


@pytest_asyncio.fixture(scope="module")
async def lab(kube: Kube) -> AsyncIterator[AdmissionLab]:
    lab = AdmissionLab(kube, prefix="gx")
    keys = sorted({case.key for case in JUDGED})
    await lab.prepare((key, CONTEXTS[key[1]]) for key in keys)
    sentinels: dict[Key, dict[str, object]] = {}
    for case in JUDGED:
        plain = not case.offline_only and not (case.obj.get("spec") or {}).get(
            "ephemeralContainers"
        )
        if case.denied and plain and case.key not in sentinels:
            sentinels[case.key] = case.obj
    await lab.wait_active(sentinels)  # type: ignore[arg-type]
    try:
        yield lab
    finally:
        await lab.clean()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_admission(lab: AdmissionLab, case: ExternalCase) -> None:
    if case.skip:
        pytest.skip(case.skip)
    if case.offline_only:
        pytest.skip(f"offline only: {case.offline_only}")
    server = await lab.verdict(case.key, case.obj)
    if server.refused:
        pytest.skip(f"offline only: the API server refuses the object itself ({server.message})")
    offline, _ = judge(case)
    assert (offline, server.denied) == (case.denied, case.denied), server.message
