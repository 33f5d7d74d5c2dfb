"""`mooring check` results as text (file:line), JSON, JUnit XML, SARIF 2.1.0 or GitHub
annotations. Formatting: takes the outcome, returns the text to print (paths in SARIF and
annotations are made relative to the working directory, as GitHub expects)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from mooring import DOCS_URL, __version__
from mooring.api.documents import dotted
from mooring.core.policy.rules import BY_ID
from mooring.services.check import Located, Outcome

Format = Literal["text", "json", "junit", "sarif", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "junit", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def expired_notes(outcome: Outcome, now: datetime) -> list[str]:
    """PolicyExceptions among the inputs that no longer apply, said once each."""
    if not outcome.setup.exceptions:
        return []
    from mooring.api.exceptions import format_time  # loaded with the exceptions read

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


def display_path(source: str, cwd: str | None = None) -> str:
    """A file as reports name it: relative to the working directory when inside it (GitHub
    matches annotations and code-scanning results to the repository's relative paths)."""
    if not Path(source).is_absolute():
        return source
    base = Path(cwd) if cwd else Path.cwd()
    try:
        return str(Path(source).relative_to(base))
    except ValueError:  # outside the working directory
        return source


def github(outcome: Outcome, now: datetime) -> str:
    lines = []
    for e in outcome.errors:
        lines.append(
            f"::error file={_escape_property(display_path(e.position.source))},"
            f"line={e.position.line},title=unreadable::{_escape(e.message)}"
        )
    for p, message in outcome.invalid:
        lines.append(
            f"::error file={_escape_property(display_path(p.source))},line={p.line},"
            f"title=invalid::{_escape(message)}"
        )
    level_command = {"error": "error", "warning": "warning", "note": "notice"}
    for item in outcome.findings:
        f = item.finding
        lines.append(
            f"::{level_command[f.level]} "
            f"file={_escape_property(display_path(item.position.source))},"
            f"line={item.position.line},col={item.position.column},"
            f"title={_escape_property(f'{f.rule_id}: {f.title}')}::"
            f"{_escape(f'{f.object}: {f.message}')}"
        )
    lines += [
        f"::notice title=expired exception::{_escape(n)}" for n in expired_notes(outcome, now)
    ]
    return "\n".join(lines)


def junit(outcome: Outcome, now: datetime) -> str:
    """One test suite per file, one test case per judged object (passing ones too): a failure
    for error-level findings, warnings and notes as the case's output; unreadable inputs as
    errors."""
    del now
    from xml.etree import ElementTree  # only for JUnit (about 10 ms to import)

    root = ElementTree.Element("testsuites", name="mooring check")
    findings: dict[tuple[str, str], list[Located]] = {}
    for item in outcome.findings:
        findings.setdefault((item.position.source, item.finding.object), []).append(item)
    # Every judged object in input order; objects with findings if the list was not kept.
    cases: dict[str, list[str]] = {}
    for source, obj in outcome.objects or list(findings):
        if obj not in cases.setdefault(source, []):
            cases[source].append(obj)
    errors_by_file: dict[str, list[str]] = {}
    for e in outcome.errors:
        errors_by_file.setdefault(e.position.source, []).append(f"{e.position}: {e.message}")
    for p, message in outcome.invalid:
        errors_by_file.setdefault(p.source, []).append(f"{p}: {message}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for source in sorted(set(cases) | set(errors_by_file)):
        suite = ElementTree.SubElement(root, "testsuite", name=display_path(source))
        failures = 0
        for obj in cases.get(source, []):
            case = ElementTree.SubElement(
                suite, "testcase", classname=display_path(source), name=obj
            )
            items = findings.get((source, obj), [])
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
            case = ElementTree.SubElement(
                suite, "testcase", classname=display_path(source), name="read"
            )
            ElementTree.SubElement(case, "error", message=message).text = message
        counts = {
            "tests": len(suite),
            "failures": failures,
            "errors": len(errors_by_file.get(source, [])),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, "unicode")


_SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
_SECURITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


SRCROOT = "%SRCROOT%"
FINGERPRINT = "mooringFinding/v1"


def artifact_location(source: str, cwd: str | None = None) -> dict[str, str]:
    """A SARIF artifactLocation: a percent-encoded URI, relative to %SRCROOT% (the working
    directory) when the file is inside it, else an absolute file: URI."""
    shown = display_path(source, cwd)
    if Path(shown).is_absolute():
        return {"uri": "file://" + quote(shown)}
    return {"uri": quote(shown), "uriBaseId": SRCROOT}


def fingerprint(rule: str, uri: str, obj: str, field: str) -> str:
    """Stable across runs and line moves: the rule, the file, the object and the field."""
    return hashlib.sha256("\0".join((rule, uri, obj, field)).encode()).hexdigest()[:32]


def help_uri(rule_id: str) -> str:
    """The rule's section in docs/guardrails.md (headed by its id)."""
    return f"{DOCS_URL}guardrails.md#{rule_id}"


def sarif(outcome: Outcome, now: datetime) -> str:
    cwd = str(Path.cwd())
    rules = list(BY_ID.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for item in outcome.findings:
        f = item.finding
        location = artifact_location(item.position.source, cwd)
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": _SARIF_LEVEL[f.level],
            "message": {"text": f"{f.object}: {f.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": location,
                        "region": {
                            "startLine": item.position.line,
                            "startColumn": item.position.column,
                        },
                    },
                    "logicalLocations": [{"fullyQualifiedName": f.object, "kind": "object"}],
                }
            ],
            "partialFingerprints": {
                FINGERPRINT: fingerprint(f.rule_id, location["uri"], f.object, f.field)
            },
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
                        "artifactLocation": artifact_location(e.position.source, cwd),
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
                        "informationUri": DOCS_URL + "guardrails.md",
                        "rules": [
                            {
                                "id": rule.id,
                                "name": rule.title,
                                "shortDescription": {"text": rule.title},
                                "fullDescription": {"text": rule.description},
                                "help": {
                                    "text": f"{rule.description} See {help_uri(rule.id)}",
                                    "markdown": f"{rule.description}\n\n"
                                    f"[{rule.id} in the guardrails guide]({help_uri(rule.id)})",
                                },
                                "helpUri": help_uri(rule.id),
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
                "originalUriBaseIds": {SRCROOT: {"uri": "file://" + quote(cwd.rstrip("/") + "/")}},
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
