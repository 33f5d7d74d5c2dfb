"""Pure: what `mooring validate` checks about guardrails, across a repository's documents.

Registers PolicyException with validate's models, and two repository checks: every rule id
named by the PlatformConfig, a Tenant or a PolicyException exists, and an exception names
the namespace it lives in; every hostname a Tenant claims is its own (core/hostnames.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from mooring.api.documents import Document, PathItem
from mooring.api.exceptions import PolicyException
from mooring.core.hostnames import holdings, overlap
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


def check_hostnames(parsed: Parsed) -> list[Finding]:
    """Every hostname claim is below the tier's host suffixes and overlaps no name another
    tenant holds (the tenant that sorts first holds it here: a repository has no creation
    times; in the cluster the older Tenant does)."""
    platform = parsed.platform[0].spec if parsed.platform is not None else None
    documents = {tenant.name: (tenant, document) for tenant, document in parsed.tenants}
    findings = []
    for refusal in holdings([tenant for tenant, _ in parsed.tenants], platform).refused:
        _, document = documents[refusal.tenant]
        message = refusal.reason
        if refusal.holder is not None and refusal.holder in documents:
            holder, holder_document = documents[refusal.holder]
            index = next(
                i for i, name in enumerate(holder.spec.hostnames) if overlap(name, refusal.hostname)
            )
            where = holder_document.position(("spec", "hostnames", index))
            message += f" (declared at {where})"
        findings.append(
            Finding(
                "hostname-taken" if refusal.holder is not None else "hostname-suffix",
                message,
                ("spec", "hostnames", refusal.index),
                document=document,
            )
        )
    return findings


MODELS.setdefault("PolicyException", PolicyException)
for _check in (check_guardrails, check_hostnames):
    if _check not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(_check)
