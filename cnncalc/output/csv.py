"""CSV (summary, rf): one row per layer with exact figures, for a spreadsheet.

Headers are the columns' keys (as in JSON). Text cells carry OWASP's formula guard and
RFC 4180's quotes (`escape.csv_text`, the CSV notation of every text column), so every
name reads back exactly (`escape.csv_unguard`); numbers, shapes and fields never need
either, and are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..analysis.summary import Summary, fold
from .columns import RF, SUMMARY, Column, Context, Medium, View


def document(view: View, rows: Iterable[list]) -> str:
    """The header (the columns' keys), then the rows, each line ended by a line feed."""
    lines = [",".join(column.value for column in view.columns)]
    lines += [",".join(map(str, row)) for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(summary: Summary, depth: int | None = None) -> str:
    """Every layer (block instances folded deeper than `depth`), then a `total` row."""
    view = SUMMARY[Medium.CSV]
    cells = view.cells(Medium.CSV)
    rows = [cells(row) for row in fold(summary, depth)]
    rows.append(view.total_cells(summary.totals, Medium.CSV, "total"))
    return document(view, rows)


def rf_csv(summary: Summary, measured: Mapping | None = None) -> str:
    view = RF[Medium.CSV] if measured is not None else RF[Medium.CSV].without(Column.MEASURED)
    context = Context.of(summary, measured)
    cells = view.cells(Medium.CSV, context)
    return document(view, (cells(row) for row in summary.layers))
