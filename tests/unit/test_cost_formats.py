"""`mooring cost report` formats, on the allocation worked by hand in test_cost_allocation."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

from rich.console import Console

from mooring.cli.cost_formats import as_csv, as_json, footer, table
from mooring.cli.cost_html import page
from mooring.core.cost.aggregate import aggregate
from mooring.core.cost.allocate import allocate
from mooring.core.cost.rates import PriceBook
from tests.unit.test_cost_allocation import PRICES, cluster


def report(by: str = "tenant", share_idle: bool = False):  # type: ignore[no-untyped-def]
    return aggregate(allocate(cluster(), PriceBook(PRICES)), by, share_idle)


def test_csv_rows_and_the_idle_row_add_up_to_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(report()))))
    assert [r["group"] for r in rows] == ["a", "b", "(idle)"]
    assert sum(Decimal(r["total"]) for r in rows) == Decimal("14.2")
    assert rows[0]["currency"] == "EUR"
    # a requested: a-1 2 vCPU-h and 4 GiB-h (2.40), a-2 1.20, their volume 2.00
    assert rows[0]["requested"] == "5.600000"
    # b used: 0.5 vCPU-h and 1 GiB-h (0.60), its load balancer 1.00
    assert rows[1]["used"] == "1.600000"
    assert rows[1]["efficiency"] == "0.5000"  # 0.60 used of 1.20 allocated to its container


def test_json_holds_the_window_buckets_rows_idle_and_notes() -> None:
    data = json.loads(as_json(report(share_idle=True)))
    assert data["total"] == "14.200000"
    assert data["idle"]["shared"] == "5.800000"
    assert data["idle"]["total"] == "0.000000"
    assert len(data["buckets"]) == 2 and len(data["rows"][0]["buckets"]) == 2
    assert sum(Decimal(r["total"]) for r in data["rows"]) == Decimal("14.2")
    assert any("shared among the groups" in note for note in data["notes"])


def test_the_table_keeps_idle_apart_and_says_how_to_share_it() -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table(report()))
    text = console.export_text()
    assert "(idle)" in text and "5.80" in text and "14.20" in text
    assert any("--share-idle shares it" in line for line in footer(report()))


def test_the_html_page_is_self_contained_with_two_charts_and_the_table() -> None:
    html = page(report("label:team"))
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 2
    assert "<script" not in html and "<link" not in html and not re.search(r"\bsrc=", html)
    assert "red" in html and "blue" in html and "(idle)" in html
    assert "14.20 EUR" in html


def test_names_are_escaped_in_the_page() -> None:
    result = report()
    result.rows[0].group = "<b>a</b>"
    assert "<b>a</b>" not in page(result)
