"""Markdown pipe tables (summary, rf): paste into a README, a report or a homework sheet.

Names are code spans and other user text is escaped prose (`escape.markdown_code`,
`escape.markdown_text`): a name can add no row, column, heading, HTML or link. Warnings
are listed after the tables, so the document is complete on its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..analysis.summary import Summary, fold
from ..units import human, human_bytes, shape_text
from .columns import GATED, RF, SUMMARY, Column, Context, Medium, View, gated_note
from .escape import markdown_code, markdown_text
from .text import inputs_text, rf_note, training_text


def row_line(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def header_lines(view: View, numbered: bool = False) -> list[str]:
    titles = (["#"] if numbered else []) + view.headers
    right = (True,) * numbered + tuple(i in view.right for i in range(len(view.columns)))
    return [row_line(titles), "|" + "|".join("--:" if r else "---" for r in right) + "|"]


def warning_lines(warnings) -> list[str]:
    return ["", *(f"- warning: {markdown_text(w)}" for w in warnings)] if warnings else []


def to_markdown(summary: Summary, depth: int | None = None) -> str:
    """A pipe table of the layers with a total row, then the totals as a second table."""
    t = summary.totals
    view = SUMMARY[Medium.MARKDOWN]
    cells = view.cells(Medium.MARKDOWN)
    lines = [
        f"**{markdown_text(summary.name or 'network')}**: {inputs_text(summary, markdown_code)} "
        f"({summary.layout}), batch {summary.batch}",
        "",
        *header_lines(view, numbered=True),
    ]
    for i, row in enumerate(fold(summary, depth), 1):
        lines.append(row_line([str(i), *cells(row)]))
    totals = ["", *(f"**{cell}**" if cell else "" for cell in view.total_cells(t, Medium.MARKDOWN, "total"))]
    lines.append("|" + "|".join(f" {cell} " if cell else " " for cell in totals) + "|")
    frozen = t.non_trainable_params - t.running_stats
    lines += [
        "",
        "| total | value |",
        "|---|---|",
        f"| params | {t.params:,} (trainable {t.trainable_params:,}, frozen {frozen:,}) |",
        f"| running statistics | {t.running_stats:,} (PyTorch buffers) |",
        f"| Keras's count | {t.keras_trainable_params + t.keras_non_trainable_params:,} = {t.keras_trainable_params:,} trainable"
        f" + {t.non_trainable_params:,} non-trainable |",
        f"| MACs | {t.macs:,} ({human(t.macs)}) |",
        f"| FLOPs | {t.flops:,} ({human(t.flops)}) |",
        f"| memory ({summary.dtype}, batch {summary.batch}) | input {human_bytes(t.input_bytes)}, activations "
        f"{human_bytes(t.activation_bytes)} (at most {human_bytes(t.activation_peak_bytes)} alive at once), parameters "
        f"{human_bytes(t.param_bytes)}; {training_text(t.training_bytes)} |",
    ]
    gated = gated_note(summary, quote=markdown_text)
    lines += ["", markdown_text(GATED) + gated[len(GATED):]] if gated else []
    lines += warning_lines(summary.warnings)
    return "\n".join(lines) + "\n"


def rf_markdown(summary: Summary, measured: Mapping | None = None) -> str:
    view = RF[Medium.MARKDOWN] if measured is not None else RF[Medium.MARKDOWN].without(Column.MEASURED)
    context = Context.of(summary, measured)
    cells = view.cells(Medium.MARKDOWN, context)
    lines = header_lines(view) + [row_line(cells(row)) for row in summary.layers]
    lines += ["", rf_note(context.covering, quote=markdown_text)]
    gated = gated_note(summary, quote=markdown_text)
    lines += ["", markdown_text(GATED) + gated[len(GATED):]] if gated else []
    lines += warning_lines(summary.warnings)
    return "\n".join(lines) + "\n"
