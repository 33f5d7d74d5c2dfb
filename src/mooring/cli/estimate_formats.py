"""`mooring cost estimate` results as text, JSON, Markdown or GitHub annotations.

Pure formatting: takes the outcome, returns text. GitHub: one `::notice` per tenant whose
figures change, on its tenant file, and a Markdown table for the job summary.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

from mooring.api.cost import money_text
from mooring.core.cost.estimate import Change
from mooring.services.cost_estimate import Outcome, Side

Format = Literal["text", "json", "markdown", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "markdown", "github")


def signed(amount: Decimal) -> str:
    """ "+ 412.00", "- 3.50", "0.00"."""
    if amount == 0:
        return "0.00"
    return f"{'+' if amount > 0 else '-'} {money_text(abs(amount))}"


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else money_text(value)


def _total(changes: list[Change], attribute: str) -> Decimal:
    return sum((getattr(c, attribute) for c in changes), Decimal(0))


def headline(outcome: Outcome) -> str:
    """ "+ 412.00 USD/month reserved, + 38.20 USD/month expected"."""
    upper = _total(outcome.changes, "upper_delta")
    expected = _total(outcome.changes, "expected_delta")
    currency = outcome.currency
    if outcome.base is None:
        return (
            f"{money_text(upper)} {currency}/month reserved (quotas at list price), "
            f"{money_text(expected)} {currency}/month expected (requests of the workloads given)"
        )
    return (
        f"{signed(upper)} {currency}/month reserved (quotas at list price), "
        f"{signed(expected)} {currency}/month expected (requests)"
    )


def text(outcome: Outcome) -> str:
    currency = outcome.currency
    lines = []
    if outcome.base is None:
        lines.append(f"{'tenant':<24} {'reserved/month':>16} {'expected/month':>16}  {currency}")
        for change in outcome.changes:
            lines.append(
                f"{change.tenant:<24} {_amount(change.upper_after):>16} "
                f"{_amount(change.expected_after):>16}"
            )
    else:
        lines.append(
            f"{'tenant':<24} {'reserved before':>16} {'after':>12} {'change':>12}   "
            f"{'expected before':>16} {'after':>12} {'change':>12}  {currency}/month"
        )
        for change in outcome.changes:
            if not change.changed:
                continue
            lines.append(
                f"{change.tenant:<24} {_amount(change.upper_before):>16} "
                f"{_amount(change.upper_after):>12} {signed(change.upper_delta):>12}   "
                f"{_amount(change.expected_before):>16} {_amount(change.expected_after):>12} "
                f"{signed(change.expected_delta):>12}"
            )
        if len(lines) == 1:
            lines.append(f"(no tenant's figures change against {outcome.base.name})")
    lines.append(f"total: {headline(outcome)}")
    for note in outcome.head.estimate.notes if outcome.head.estimate else []:
        where = f"{note.document.position()}: " if note.document else ""
        lines.append(f"note: {where}{note.message}")
    return "\n".join(lines)


def _side_json(side: Side | None) -> dict[str, Any] | None:
    if side is None or side.estimate is None:
        return None
    return {
        "name": side.name,
        "reserved": money_text(side.estimate.upper_bound),
        "expected": money_text(side.estimate.expected),
    }


def as_json(outcome: Outcome) -> str:
    def money(value: Decimal | None) -> str | None:
        return None if value is None else money_text(value)

    return json.dumps(
        {
            "currency": outcome.currency,
            "head": _side_json(outcome.head),
            "base": _side_json(outcome.base),
            "reservedChange": money_text(_total(outcome.changes, "upper_delta")),
            "expectedChange": money_text(_total(outcome.changes, "expected_delta")),
            "tenants": [
                {
                    "tenant": c.tenant,
                    "reservedBefore": money(c.upper_before),
                    "reservedAfter": money(c.upper_after),
                    "reservedChange": money_text(c.upper_delta),
                    "expectedBefore": money(c.expected_before),
                    "expectedAfter": money(c.expected_after),
                    "expectedChange": money_text(c.expected_delta),
                }
                for c in outcome.changes
            ],
            "notes": [
                {
                    "file": n.document.position().source if n.document else None,
                    "line": n.document.position().line if n.document else None,
                    "message": n.message,
                }
                for n in (outcome.head.estimate.notes if outcome.head.estimate else [])
            ],
        },
        indent=2,
    )


def markdown(outcome: Outcome) -> str:
    """The job summary / pull-request comment."""
    currency = outcome.currency
    against = f" against `{outcome.base.name}`" if outcome.base else ""
    lines = [
        f"### Cost of this change{against}",
        "",
        f"**{headline(outcome)}**",
        "",
        f"| tenant | reserved (quotas) {currency}/month | change | expected (requests) "
        f"{currency}/month | change |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for change in outcome.changes:
        if outcome.base is not None and not change.changed:
            continue
        lines.append(
            f"| {change.tenant} | {_amount(change.upper_after)} | {signed(change.upper_delta)} "
            f"| {_amount(change.expected_after)} | {signed(change.expected_delta)} |"
        )
    lines += [
        "",
        "Reserved: every quota fully used at list price, the most a tenant can cost. Expected: "
        "the requests of the workload manifests given. Computed by `mooring cost estimate`.",
    ]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github(outcome: Outcome) -> str:
    """One notice per tenant whose figures change, on its file; then the total."""
    currency = outcome.currency
    lines = []
    for change in outcome.changes:
        if not change.changed:
            continue
        position = change.document.position(("metadata", "name")) if change.document else None
        where = f" file={position.source},line={position.line}," if position else " "
        message = (
            f"{change.tenant}: {signed(change.upper_delta)} {currency}/month reserved "
            f"(quotas at list price), {signed(change.expected_delta)} {currency}/month expected "
            "(requests)"
        )
        lines.append(f"::notice{where}title=cost::{_escape(message)}")
    lines.append(f"::notice title=cost of this change::{_escape(headline(outcome))}")
    return "\n".join(lines)


RENDERERS = {"text": text, "json": as_json, "markdown": markdown, "github": github}
