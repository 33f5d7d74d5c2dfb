"""Pure: recording rules and multi-window, multi-burn-rate alerts for a tenant's SLOs.

As in the SRE workbook (chapter 5, "Alerting on SLOs"): the error ratio is recorded over
5m, 30m, 1h, 2h, 6h, 1d and 3d, and over the SLO's window for the error-budget panel;
a page fires when both windows of a pair burn faster than the factor allows
(1h and 5m at 14.4x, 6h and 30m at 6x: 2% and 5% of a 30-day budget), a ticket for the
slower pairs (1d and 2h at 3x, 3d and 6h at 1x: 10% each). The tenant's series are
selectors; Mooring adds the namespace matcher, so an SLO only ever counts the tenant's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mooring.api.observe import Slo, parse_selector
from mooring.core.observe.baseline import Rule, alert
from mooring.core.observe.scope import Scope

RATIO = "mooring:slo_errors:ratio_rate"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, long window, short window, burn factor)
BURNS: tuple[tuple[str, str, str, Decimal], ...] = (
    ("critical", "1h", "5m", Decimal("14.4")),
    ("critical", "6h", "30m", Decimal("6")),
    ("warning", "1d", "2h", Decimal("3")),
    ("warning", "3d", "6h", Decimal("1")),
)


def scoped(selector: str, namespace: str) -> str:
    """The tenant's selector with the namespace matcher Mooring adds."""
    metric, matchers = parse_selector(selector)
    parts = [f'namespace="{namespace}"'] + [f"{label}{op}{value}" for label, op, value in matchers]
    return f"{metric}{{{', '.join(parts)}}}"


def applies(slo: Slo, scope: Scope) -> bool:
    return not slo.environments or scope.environment in slo.environments


def labels(slo: Slo, scope: Scope) -> dict[str, str]:
    return {
        "tenant": scope.tenant,
        "namespace": scope.namespace,
        "slo": slo.name,
        "slo_kind": slo.kind,
    }


def recording_rules(slo: Slo, scope: Scope) -> list[Rule]:
    good, total = scoped(slo.good, scope.namespace), scoped(slo.total, scope.namespace)
    rules: list[Rule] = [
        {
            "record": f"{RATIO}{window}",
            "expr": (
                f"1 - (\n  sum by (namespace) (rate({good}[{window}]))\n  /\n"
                f"  sum by (namespace) (rate({total}[{window}]))\n)"
            ),
            "labels": labels(slo, scope),
        }
        for window in WINDOWS
    ]
    # The whole window from the 5m ratios: cheap, and what the error-budget panel reads.
    selector = _selector(slo, scope)
    rules.append(
        {
            "record": f"{RATIO}{slo.window}",
            "expr": f"avg_over_time({RATIO}5m{selector}[{slo.window}])",
            "labels": labels(slo, scope),
        }
    )
    rules.append(
        {
            "record": "mooring:slo_objective:ratio",
            "expr": f"vector({slo.target})",
            "labels": labels(slo, scope),
        }
    )
    return rules


def _selector(slo: Slo, scope: Scope) -> str:
    return f'{{namespace="{scope.namespace}", tenant="{scope.tenant}", slo="{slo.name}"}}'


def burn_alerts(slo: Slo, scope: Scope) -> list[Rule]:
    selector = _selector(slo, scope)
    rules = []
    for severity in ("critical", "warning"):
        pairs = [b for b in BURNS if b[0] == severity]
        expr = "\nor\n".join(
            f"(\n  {RATIO}{long}{selector} > ({factor} * {slo.budget})\n"
            f"  and\n  {RATIO}{short}{selector} > ({factor} * {slo.budget})\n)"
            for _, long, short, factor in pairs
        )
        name = "MooringSLOErrorBudgetBurn"
        kind = "page" if severity == "critical" else "ticket"
        rule = alert(
            scope,
            name,
            expr,
            severity,
            f"SLO {slo.name} burns its error budget too fast ({kind}).",
            f"SLO {slo.name} ({slo.objective}% {slo.kind} over {slo.window}) in "
            "{{ $labels.namespace }} is consuming its error budget at a rate that exhausts it "
            f"early; windows {', '.join(f'{long}/{short}' for _, long, short, _ in pairs)}.",
            "2m" if severity == "critical" else "15m",
        )
        rule["labels"].update({"slo": slo.name, "slo_kind": slo.kind, "burn": kind})
        rules.append(rule)
    return rules


def slo_groups(slos: list[Slo], scope: Scope, interval: str) -> list[dict[str, Any]]:
    """One rule group per SLO and namespace: its recording rules, then its alerts."""
    return [
        {
            "name": f"mooring-slo-{scope.namespace}-{slo.name}",
            "interval": interval,
            "rules": recording_rules(slo, scope) + burn_alerts(slo, scope),
        }
        for slo in slos
        if applies(slo, scope)
    ]
