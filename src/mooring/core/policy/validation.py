"""Pure: what `mooring validate` checks about guardrails, across a repository's documents.

Registers PolicyException with validate's models, and one repository check: every rule id
named by the PlatformConfig, a Tenant or a PolicyException exists; an exception names the
namespace it lives in.
"""

from __future__ import annotations

from collections.abc import Iterable

from mooring.api.documents import Document, PathItem
from mooring.api.exceptions import PolicyException
from mooring.core.policy.rules import RULE_IDS
from mooring.core.validate import EXTRA_CHECKS, MODELS, Finding, Parsed


def _unknown(ids: Iterable[str], path: tuple[PathItem, ...], document: Document) -> list[Finding]:
    return [
        Finding(
            "unknown-rule",
            f"unknown guardrail rule {rule!r}; rules are: {', '.join(RULE_IDS)}",
            (*path, index),
            document=document,
        )
        for index, rule in enumerate(ids)
        if rule not in RULE_IDS
    ]


def check_guardrails(parsed: Parsed) -> list[Finding]:
    findings: list[Finding] = []
    if parsed.platform is not None:
        config, document = parsed.platform
        for index, entry in enumerate(config.spec.guardrails.rules):
            findings += [
                Finding(
                    f.code,
                    f.message,
                    ("spec", "guardrails", "rules", index, "rule"),
                    document=document,
                )
                for f in _unknown([entry.rule], (), document)
            ]
    for tenant, document in parsed.tenants:
        for index, override in enumerate(tenant.spec.guardrails):
            findings += [
                Finding(f.code, f.message, ("spec", "guardrails", index, "rule"), document=document)
                for f in _unknown([override.rule], (), document)
            ]
    for exception, document in parsed.others.get("PolicyException", []):
        assert isinstance(exception, PolicyException)
        findings += _unknown(exception.spec.rules, ("spec", "rules"), document)
        if exception.metadata.namespace is None:
            findings.append(
                Finding(
                    "exception-namespace",
                    "a PolicyException applies in its own namespace: set metadata.namespace to "
                    "the namespace of the workloads it covers",
                    ("metadata",),
                    document=document,
                )
            )
    return findings


MODELS.setdefault("PolicyException", PolicyException)
if check_guardrails not in EXTRA_CHECKS:
    EXTRA_CHECKS.append(check_guardrails)
