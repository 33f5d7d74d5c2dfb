"""`mooring check` results as text (file:line), JSON, JUnit XML, SARIF 2.1.0 or GitHub
annotations. Pure formatting: takes the outcome, returns the text to print."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from xml.etree import ElementTree

from mooring import __version__
from mooring.api.documents import dotted
from mooring.api.exceptions import format_time
from mooring.core.policy.rules import BY_ID
from mooring.services.check import Located, Outcome

Format = Literal["text", "json", "junit", "sarif", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "junit", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def expired_notes(outcome: Outcome, now: datetime) -> list[str]:
    """PolicyExceptions among the inputs that no longer apply, said once each."""
    return [
        f"PolicyException {e.namespace + '/' if e.namespace else ''}{e.name} expired at "
        f"{format_time(e.spec.expires)}; it no longer applies (renew it with a new expiry, "
        "approved again, or fix the workloads)"
        for e in outcome.setup.exceptions
        if not e.in_force(now)
    ]


def _row(item: Located) -> dict[str, Any]:
    f = item.finding
    return {
        "file": item.position.source,
        "line": item.position.line,
        "column": item.position.column,
        "path": dotted(item.path),
        "rule": f.rule_id,
        "title": f.title,
        "severity": f.severity,
        "mode": f.mode,
        "verdict": f.verdict,
        "level": f.level,
        "object": f.object,
        "field": f.field,
        "message": f.message,
        "exceptions": list(f.exceptions),
    }


def summary(outcome: Outcome) -> dict[str, int]:
    levels = [item.finding.level for item in outcome.findings]
    return {
        "files": outcome.files,
        "documents": outcome.documents,
        "judged": outcome.judged,
        "errors": levels.count("error"),
        "warnings": levels.count("warning"),
        "notes": levels.count("note"),
        "unreadable": len(outcome.errors),
        "invalid": len(outcome.invalid),
    }


def text(outcome: Outcome, now: datetime) -> str:
    lines = [f"{e.position}: error [unreadable] {e.message}" for e in outcome.errors]
    lines += [f"{position}: error [invalid] {message}" for position, message in outcome.invalid]
    for item in outcome.findings:
        f = item.finding
        lines.append(
            f"{item.position}: {f.level} [{f.rule_id}] {f.object}: {f.message}"
            + (f" (mode {f.mode})" if f.mode != "enforce" else "")
        )
    lines += [f"note: {note}" for note in expired_notes(outcome, now)]
    return "\n".join(lines)


def as_json(outcome: Outcome, now: datetime) -> str:
    return json.dumps(
        {
            "findings": [_row(item) for item in outcome.findings],
            "errors": [
                {
                    "file": e.position.source,
                    "line": e.position.line,
                    "column": e.position.column,
                    "message": e.message,
                }
                for e in outcome.errors
            ]
            + [
                {
                    "file": p.source,
                    "line": p.line,
                    "column": p.column,
                    "message": message,
                }
                for p, message in outcome.invalid
            ],
            "notes": expired_notes(outcome, now),
            "summary": summary(outcome),
        },
        indent=2,
    )


def _escape(value: str) -> str:
    # GitHub workflow commands: %, CR and LF are encoded in messages and properties.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape(value).replace(":", "%3A").replace(",", "%2C")


def github(outcome: Outcome, now: datetime) -> str:
    lines = []
    for e in outcome.errors:
        lines.append(
            f"::error file={_escape_property(e.position.source)},line={e.position.line},"
            f"title=unreadable::{_escape(e.message)}"
        )
    for p, message in outcome.invalid:
        lines.append(
            f"::error file={_escape_property(p.source)},line={p.line},title=invalid::"
            f"{_escape(message)}"
        )
    level_command = {"error": "error", "warning": "warning", "note": "notice"}
    for item in outcome.findings:
        f = item.finding
        lines.append(
            f"::{level_command[f.level]} file={_escape_property(item.position.source)},"
            f"line={item.position.line},col={item.position.column},"
            f"title={_escape_property(f'{f.rule_id}: {f.title}')}::"
            f"{_escape(f'{f.object}: {f.message}')}"
        )
    lines += [
        f"::notice title=expired exception::{_escape(n)}" for n in expired_notes(outcome, now)
    ]
    return "\n".join(lines)


def junit(outcome: Outcome, now: datetime) -> str:
    """One test suite per file, one test case per object with findings at error level."""
    del now
    root = ElementTree.Element("testsuites", name="mooring check")
    by_file: dict[str, dict[str, list[Located]]] = {}
    for item in outcome.findings:
        by_file.setdefault(item.position.source, {}).setdefault(item.finding.object, []).append(
            item
        )
    errors_by_file: dict[str, list[str]] = {}
    for e in outcome.errors:
        errors_by_file.setdefault(e.position.source, []).append(f"{e.position}: {e.message}")
    for p, message in outcome.invalid:
        errors_by_file.setdefault(p.source, []).append(f"{p}: {message}")
    failures_total = 0
    for source in sorted(set(by_file) | set(errors_by_file)):
        objects = by_file.get(source, {})
        suite = ElementTree.SubElement(root, "testsuite", name=source)
        failures = 0
        for obj, items in objects.items():
            case = ElementTree.SubElement(suite, "testcase", classname=source, name=obj)
            failing = [i for i in items if i.finding.level == "error"]
            if failing:
                failures += 1
                failure = ElementTree.SubElement(
                    case,
                    "failure",
                    type=",".join(sorted({i.finding.rule_id for i in failing})),
                    message=failing[0].finding.message,
                )
                failure.text = "\n".join(
                    f"{i.position}: [{i.finding.rule_id}] {i.finding.message}" for i in failing
                )
            others = [i for i in items if i.finding.level != "error"]
            if others:
                out = ElementTree.SubElement(case, "system-out")
                out.text = "\n".join(
                    f"{i.position}: {i.finding.level} [{i.finding.rule_id}] {i.finding.message}"
                    for i in others
                )
        for message in errors_by_file.get(source, []):
            case = ElementTree.SubElement(suite, "testcase", classname=source, name="read")
            ElementTree.SubElement(case, "error", message=message).text = message
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("errors", str(len(errors_by_file.get(source, []))))
        failures_total += failures
    root.set("failures", str(failures_total))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode")


_SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_SECURITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def sarif(outcome: Outcome, now: datetime) -> str:
    rules = list(BY_ID.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for item in outcome.findings:
        f = item.finding
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": _SARIF_LEVEL[f.level],
            "message": {"text": f"{f.object}: {f.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": item.position.source},
                        "region": {
                            "startLine": item.position.line,
                            "startColumn": item.position.column,
                        },
                    },
                    "logicalLocations": [{"fullyQualifiedName": f.object, "kind": "object"}],
                }
            ],
            "properties": {"mode": f.mode, "verdict": f.verdict, "field": f.field},
        }
        if f.exceptions:
            result["suppressions"] = [
                {"kind": "external", "justification": f"PolicyException {name}"}
                for name in f.exceptions
            ]
        results.append(result)
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": e.position.source},
                        "region": {"startLine": e.position.line},
                    }
                }
            ],
        }
        for e in outcome.errors
    ] + [{"level": "note", "message": {"text": n}} for n in expired_notes(outcome, now)]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mooring",
                        "version": __version__,
                        "rules": [
                            {
                                "id": rule.id,
                                "name": rule.title,
                                "shortDescription": {"text": rule.title},
                                "fullDescription": {"text": rule.description},
                                "defaultConfiguration": {"level": "error"},
                                "properties": {
                                    "category": rule.category,
                                    "severity": rule.severity,
                                    "security-severity": _SECURITY[rule.severity],
                                    "tags": ["kubernetes", rule.category.lower()],
                                },
                            }
                            for rule in rules
                        ],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not outcome.errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


RENDERERS: dict[Format, Callable[[Outcome, datetime], str]] = {
    "text": text,
    "json": as_json,
    "junit": junit,
    "sarif": sarif,
    "github": github,
}
