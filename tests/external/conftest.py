"""The external corpora: a table of what was judged and what was skipped, and why.

Printed at the end of every run that includes these tests, so the coverage figure is
honest: each skip reason with its count, per corpus and place (offline, admission).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.external.corpora import CORPORA

_RESULTS: list[tuple[str, str, str]] = []  # (test, outcome, reason)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/external/" not in report.nodeid.replace("\\\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome == "skipped"):
        reason = ""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _RESULTS.append((report.nodeid.split("::")[1].split("[")[0], report.outcome, reason))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("external corpora: judged and skipped")
    write(f"corpora: {CORPORA}")
    outcomes = Counter((test, outcome) for test, outcome, _ in _RESULTS)
    for test in sorted({test for test, _, _ in _RESULTS}):
        counts = ", ".join(
            f"{outcomes[(test, o)]} {o}"
            for o in ("passed", "failed", "skipped")
            if outcomes[(test, o)]
        )
        write(f"  {test}: {counts}")
    reasons = Counter((test, reason) for test, outcome, reason in _RESULTS if outcome == "skipped")
    if reasons:
        write("skipped, by reason:")
        for (test, reason), count in sorted(reasons.items(), key=lambda item: -item[1]):
            write(f"  {count:4d} x {test}: {reason}")
