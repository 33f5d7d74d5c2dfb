"""`mooring cost report` as a table, CSV or JSON (HTML: cost_html.py).

Pure formatting: takes the report, returns what to print. Amounts have two decimals; the
idle row is kept apart from the groups, and the notes say where the figures come from.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.table import Table

from mooring.core.cost.aggregate import Report, Row
from mooring.core.cost.window import stamp

IDLE = "(idle)"
EXACT = 6  # decimals in CSV and JSON, which people sum again


def places(report: Report) -> int:
    """Decimals for people: cents, or hundredths of cents for a report under 10."""
    return 2 if report.total >= 10 else 4


def amount(value: Decimal, decimals: int = 2) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):f}"


def _efficiency(row: Row) -> str:
    value = row.efficiency
    return "-" if value is None else f"{(value * 100).quantize(Decimal(1))}%"


def _used(row: Row, decimals: int) -> str:
    return "-" if row.used is None else amount(row.used, decimals)


def _has_gpu(report: Report) -> bool:
    return any(row.gpu for row in report.rows) or report.idle.gpu > 0


def title(report: Report) -> str:
    window = report.inputs.window
    return f"Cost by {report.by}, {window.describe()}, in {report.currency}"


def table(report: Report) -> Table:
    decimals = places(report)

    def money_text(value: Decimal) -> str:
        return amount(value, decimals)

    gpu = _has_gpu(report)
    shared = report.shared_idle > 0
    result = Table(title=title(report), title_justify="left", show_edge=False)
    result.add_column(report.by, no_wrap=True)
    for name in ("CPU", "memory") + (("GPU",) if gpu else ()) + ("storage", "load bal."):
        result.add_column(name, justify="right")
    if shared:
        result.add_column("idle share", justify="right")
    for name in ("total", "requested", "used", "efficiency"):
        result.add_column(name, justify="right")
    for row in report.rows:
        cells = [row.group, money_text(row.cpu), money_text(row.memory)]
        cells += [money_text(row.gpu)] if gpu else []
        cells += [money_text(row.storage), money_text(row.load_balancer)]
        cells += [money_text(row.idle_share)] if shared else []
        cells += [
            money_text(row.total),
            money_text(row.requested),
            _used(row, decimals),
            _efficiency(row),
        ]
        result.add_row(*cells)
    idle = report.idle
    if idle.known and (idle.total or not shared):
        cells = [IDLE, money_text(idle.cpu), money_text(idle.memory)]
        cells += [money_text(idle.gpu)] if gpu else []
        cells += ["", ""] + ([""] if shared else []) + [money_text(idle.total), "", "", ""]
        result.add_row(*cells, style="dim")
    total = [f"total ({len(report.rows)} groups)"] + [""] * (4 + gpu + shared)
    total += [money_text(report.total), "", "", ""]
    result.add_row(*total, style="bold")
    return result


def footer(report: Report) -> list[str]:
    """What the figures mean and where they come from, one line each."""
    decimals = places(report)

    def money_text(value: Decimal) -> str:
        return amount(value, decimals)

    idle = report.idle
    lines = list(report.inputs.notes)
    if not idle.known:
        lines.append("Idle is unknown: no node capacity was found.")
    else:
        shared = money_text(report.shared_idle)
        how = (
            f"shared among the groups in proportion to their cost ({shared})."
            if report.shared_idle
            else "reported apart; --share-idle shares it."
        )
        lines.append(
            f"Nodes cost {money_text(idle.capacity)} {report.currency}; idle (capacity no "
            f"container was allocated) is {how}"
        )
        if idle.overcommit:
            lines.append(
                f"Containers used {money_text(idle.overcommit)} {report.currency} beyond their "
                "nodes' capacity (no idle there)."
            )
    return lines


def money_text(value: Decimal) -> str:
    """CSV and JSON: to a millionth, so that sums of rows stay right."""
    return amount(value, EXACT)


def _row_dict(row: Row) -> dict[str, Any]:
    return {
        "group": row.group,
        "cpu": money_text(row.cpu),
        "memory": money_text(row.memory),
        "gpu": money_text(row.gpu),
        "storage": money_text(row.storage),
        "loadBalancer": money_text(row.load_balancer),
        "idleShare": money_text(row.idle_share),
        "total": money_text(row.total),
        "requested": money_text(row.requested),
        "used": None if row.used is None else money_text(row.used),
        "efficiency": None if row.efficiency is None else f"{row.efficiency:.4f}",
    }


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    fields = list(_row_dict(Row("")).keys()) + ["currency"]
    writer = csv.DictWriter(buffer, fields, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({**_row_dict(row), "currency": report.currency})
    idle = report.idle
    if idle.known:
        writer.writerow(
            {
                "group": IDLE,
                "cpu": money_text(idle.cpu),
                "memory": money_text(idle.memory),
                "gpu": money_text(idle.gpu),
                "total": money_text(idle.total),
                "currency": report.currency,
            }
        )
    return buffer.getvalue()


def as_json(report: Report) -> str:
    window = report.inputs.window
    idle = report.idle
    return json.dumps(
        {
            "window": {
                "text": window.text,
                "start": stamp(window.start),
                "end": stamp(window.end),
                "step": int(window.step.total_seconds()),
            },
            "by": report.by,
            "currency": report.currency,
            "total": money_text(report.total),
            "allocated": money_text(report.allocated),
            "idle": {
                "known": idle.known,
                "cpu": money_text(idle.cpu),
                "memory": money_text(idle.memory),
                "gpu": money_text(idle.gpu),
                "total": money_text(idle.total),
                "shared": money_text(report.shared_idle),
                "capacity": money_text(idle.capacity),
                "overcommit": money_text(idle.overcommit),
                "buckets": [money_text(v) for v in idle.buckets],
            },
            "buckets": [
                {"start": stamp(b.start), "end": stamp(b.end)} for b in report.inputs.buckets
            ],
            "rows": [
                {**_row_dict(row), "buckets": [money_text(v) for v in row.buckets]}
                for row in report.rows
            ],
            "notes": footer(report),
        },
        indent=2,
    )
