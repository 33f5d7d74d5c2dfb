"""`mooring cost report --format html`: one self-contained page (inline CSS and SVG, no
script, no external asset) that can be mailed or attached to a ticket.

Pure formatting. Two charts: cost per group over time (stacked columns, idle on top), and
requested vs used vs allocated per group (idle as a bar of its own); then the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from html import escape

from mooring import __version__
from mooring.cli.cost_formats import IDLE, amount, footer, places, title
from mooring.core.cost.aggregate import Report, Row
from mooring.core.cost.window import Bucket, stamp

COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
OTHERS_COLOUR = "#9c755f"
IDLE_COLOUR = "#c8c8c8"
SERIES = len(COLOURS)
BARS = 15
WIDTH, HEIGHT = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 180, 20, 40

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.idle td { color: #777; } tr.total td { font-weight: bold; }
.notes { color: #555; font-size: 0.9em; } .big { font-size: 1.6em; font-weight: bold; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
"""


def _money(report: Report) -> Callable[[Decimal], str]:
    decimals = places(report)
    return lambda value: amount(value, decimals)


def _nice(top: float) -> tuple[float, int]:
    """A round axis maximum at or above `top`, and how many equal divisions it has
    (1, 2, 2.5 or 5 times a power of ten, in steps of 0.2, 0.5 or 0.5 of that power)."""
    if top <= 0:
        return 1.0, 4
    magnitude = 10.0 ** math.floor(math.log10(top))
    for factor, divisions in ((1, 5), (2, 4), (2.5, 5), (5, 5), (10, 5)):
        if factor * magnitude >= top * (1 - 1e-12):
            return factor * magnitude, divisions
    return 10 * magnitude, 5


def _axis(maximum: float, divisions: int, plot_height: float, currency: str) -> list[str]:
    step = maximum / divisions
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step * 10 % 1 else 0)) if step else 0
    parts = []
    for i in range(divisions + 1):
        value = step * i
        y = TOP + plot_height - plot_height * i / divisions
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.{decimals}f}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_height / 2:.1f}" transform="rotate(-90 12 '
        f'{TOP + plot_height / 2:.1f})" text-anchor="middle">{escape(currency)}</text>'
    )
    return parts


def _legend(entries: list[tuple[str, str]]) -> list[str]:
    parts = []
    for index, (name, colour) in enumerate(entries):
        y = TOP + 14 * index
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{y}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 28}" y="{y + 9}">{escape(name[:28])}</text>'
        )
    return parts


def _series(report: Report) -> list[tuple[str, str, list[Decimal]]]:
    """(name, colour, cost per bucket): the largest groups, the others, idle."""
    rows = report.rows
    shown = rows[: SERIES if len(rows) <= SERIES + 1 else SERIES - 1]
    series = [(row.group, COLOURS[i], row.buckets) for i, row in enumerate(shown)]
    rest = rows[len(shown) :]
    if rest:
        count = len(report.inputs.buckets)
        others = [sum((row.buckets[b] for row in rest), Decimal(0)) for b in range(count)]
        series.append((f"{len(rest)} others", OTHERS_COLOUR, others))
    if report.idle.known and report.idle.total:
        series.append((IDLE, IDLE_COLOUR, report.idle.buckets))
    return series


def _when(buckets: list[Bucket], index: int) -> str:
    """A bucket's start as people read it: the date for days, the time within a day (with
    the date where it changes)."""
    start = buckets[index].start
    if buckets[index].end - start >= timedelta(days=1):
        return start.strftime("%b %d")
    previous = buckets[index - 1].start if index else None
    if previous is None or previous.date() != start.date():
        return start.strftime("%b %d %H:%M")
    return start.strftime("%H:%M")


def over_time(report: Report) -> str:
    """Stacked columns: each bucket's cost by group, idle on top."""
    money_text = _money(report)
    buckets = report.inputs.buckets
    series = _series(report)
    count = max(len(buckets), 1)
    totals = [sum((s[2][b] for s in series), Decimal(0)) for b in range(len(buckets))]
    maximum, divisions = _nice(float(max(totals, default=Decimal(0))))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / count
    bar = max(slot * 0.8, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">'
    ]
    parts += _axis(maximum, divisions, plot_height, report.currency)
    for b, bucket in enumerate(buckets):
        x = LEFT + slot * b + (slot - bar) / 2
        base = float(TOP + plot_height)
        for name, colour, values in series:
            value = float(values[b])
            if value <= 0:
                continue
            height = plot_height * value / maximum
            base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{escape(name)}, {stamp(bucket.start)}: '
                f"{money_text(values[b])} {escape(report.currency)}</title></rect>"
            )
    every = max(1, -(-count // 8))  # at most eight labels
    for b in range(0, count, every):
        x = LEFT + slot * b + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_when(buckets, b)}</text>"
        )
    parts += _legend([(name, colour) for name, colour, _ in series])
    parts.append("</svg>")
    return "".join(parts)


def requested_used(report: Report) -> str:
    """Per group: what it requested, used, and was allocated (the cost); idle beside them."""
    money_text = _money(report)
    rows: list[Row] = report.rows[:BARS]
    entries: list[tuple[str, list[tuple[str, Decimal | None, str]]]] = [
        (
            row.group,
            [
                ("requested", row.requested, "#4e79a7"),
                ("used", row.used, "#59a14f"),
                ("allocated", row.allocated, "#f28e2b"),
            ],
        )
        for row in rows
    ]
    if report.idle.known:
        entries.append((IDLE, [("idle", report.idle.total, IDLE_COLOUR)]))
    values = [float(v) for _, bars in entries for _, v, _ in bars if v is not None]
    maximum, _ = _nice(max(values, default=0.0))
    row_height = 34
    height = TOP + BOTTOM + row_height * max(len(entries), 1)
    label_width = 220
    plot_width = WIDTH - label_width - 100  # room for the amounts after the bars
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img">'
    ]
    for index, (group, bars) in enumerate(entries):
        y = TOP + row_height * index
        name_text = escape(group[:40])
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 18}" text-anchor="end">{name_text}</text>'
        )
        for position, (name, value, colour) in enumerate(bars):
            if value is None:
                y_text = y + 8 + 9 * position
                parts.append(
                    f'<text x="{label_width + 4}" y="{y_text}">{name}: not measured</text>'
                )
                continue
            width = plot_width * float(value) / maximum
            top = y + 2 + 9 * position
            parts.append(
                f'<rect x="{label_width}" y="{top}" width="{width:.1f}" '
                f'height="8" fill="{colour}"><title>{escape(group)} {name}: '
                f"{money_text(value)} {escape(report.currency)}</title></rect>"
                f'<text x="{label_width + width + 4:.1f}" y="{top + 8}">{money_text(value)}</text>'
            )
    legend_y = height - BOTTOM + 18
    for i, (name, colour) in enumerate(
        (
            ("requested", "#4e79a7"),
            ("used", "#59a14f"),
            ("allocated", "#f28e2b"),
            ("idle", IDLE_COLOUR),
        )
    ):
        x = label_width + 110 * i
        parts.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{legend_y}">{name}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(report: Report) -> str:
    money_text = _money(report)
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            escape(report.by),
            "CPU",
            "memory",
            "GPU",
            "storage",
            "load bal.",
            "idle share",
            "total",
            "requested",
            "used",
        )
    )
    body = []
    for row in report.rows:
        cells = [escape(row.group)] + [
            money_text(v)
            for v in (
                row.cpu,
                row.memory,
                row.gpu,
                row.storage,
                row.load_balancer,
                row.idle_share,
                row.total,
                row.requested,
            )
        ]
        cells.append("-" if row.used is None else money_text(row.used))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    idle = report.idle
    if idle.known:
        cells = [IDLE, money_text(idle.cpu), money_text(idle.memory), money_text(idle.gpu)]
        cells += ["", "", "", money_text(idle.total), "", ""]
        body.append('<tr class="idle">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    total = [f"total ({len(report.rows)})"] + [""] * 6 + [money_text(report.total), "", ""]
    body.append('<tr class="total">' + "".join(f"<td>{c}</td>" for c in total) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(report: Report) -> str:
    money_text = _money(report)
    notes = "".join(f"<li>{escape(line)}</li>" for line in footer(report))
    currency = escape(report.currency)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title(report))}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title(report))}</h1>"
        f'<p class="big">{money_text(report.total)} {currency}</p>'
        f"<p>{money_text(report.allocated)} {currency} allocated to {len(report.rows)} "
        f"groups, {money_text(report.idle.total)} {currency} idle"
        + (
            f", {money_text(report.shared_idle)} {currency} idle shared"
            if report.shared_idle
            else ""
        )
        + ".</p>"
        f"<h2>Cost per {escape(report.by)} over time</h2>{over_time(report)}"
        f"<h2>Requested, used and allocated per {escape(report.by)}</h2>{requested_used(report)}"
        f"<h2>Table</h2>{_table(report)}"
        f'<ul class="notes">{notes}</ul>'
        f'<p class="notes">Made by mooring {__version__} (mooring cost report).</p>'
        "</body></html>\n"
    )
