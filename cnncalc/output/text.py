"""Tables for a terminal (summary, rf, run), and the summary as HTML for a notebook.

Plain fixed-width text (`plain_table`): a rich table took longer to lay out 175 rows than
cnncalc takes to analyse them. Every cell comes from the command's view in `columns`, so
user text arrives escaped (`escape.visible`): no escape sequence reaches the terminal.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from html import escape as html_escape

from ..analysis.summary import Summary, conventions, fold
from ..units import human, human_bytes, shape_text
from .columns import RF, RUN, SUMMARY, Column, Context, Medium, gated_note
from .escape import visible

GAP = "   "


def terminal_width() -> int:
    """COLUMNS, else the terminal's width, else 80 (what a pipe or a file gets)."""
    return shutil.get_terminal_size((80, 24)).columns


def plain_table(headers, rows, right=(), width: int | None = None, fold=(1, 0)) -> list[str]:
    """Columns padded to their widest cell (numbers right-aligned), a rule under the
    header. When wider than `width`, the `fold` columns (types, then names) narrow and
    their long cells continue on the next lines. Plain text: fast for thousands of rows."""
    width = width or terminal_width()
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    for column in fold:  # in order: the first listed folds down to 10 before the next
        cut = min(excess, widths[column] - max(len(headers[column]), 10))
        if cut > 0:
            widths[column] -= cut
            excess -= cut

    def line(cells) -> list[str]:
        pieces = [[cell[i : i + w] for i in range(0, max(len(cell), 1), w)] or [""] for cell, w in zip(cells, widths)]
        out = []
        for depth in range(max(len(p) for p in pieces)):
            parts = []
            for column, (piece, w) in enumerate(zip(pieces, widths)):
                text = piece[depth] if depth < len(piece) else ""
                parts.append(text.rjust(w) if column in right else text.ljust(w))
            out.append(GAP.join(parts).rstrip())
        return out

    total = sum(widths) + len(GAP) * (len(widths) - 1)
    lines = line(headers) + ["\u2500" * total]
    for row in rows:
        lines += line(row)
    return lines


def heading(summary: Summary) -> str:
    """What a title says after the network's name: input shape (or named inputs), layout,
    batch."""
    return f"{inputs_text(summary, visible)} ({summary.layout}), batch {summary.batch}"


def inputs_text(summary: Summary, show) -> str:
    """input (3, 224, 224); or inputs image (3, 224, 224), meta (10,) with their names shown by `show`."""
    if summary.input_shape is not None and [name for name, _ in summary.inputs] == ["input"]:
        return f"input {shape_text(summary.input_shape)}"
    parts = ", ".join(f"{show(name)} {shape_text(shape)}" for name, shape in summary.inputs)
    return f"input{'s' if len(summary.inputs) > 1 else ''} {parts}"


def totals_lines(summary: Summary) -> list[str]:
    """The totals, each line under 80 columns, in PyTorch's and Keras's terms."""
    t = summary.totals
    frozen = t.non_trainable_params - t.running_stats
    return [
        f"Params: {t.params:,} (trainable {t.trainable_params:,}, frozen {frozen:,})"
        f" + running stats {t.running_stats:,}",
        f"  PyTorch  parameters(): {t.params:,} (running stats are buffers)",
        f"  Keras    Total {t.keras_trainable_params + t.keras_non_trainable_params:,} = Trainable "
        f"{t.keras_trainable_params:,} + Non-trainable {t.keras_non_trainable_params:,}",
        f"MACs: {human(t.macs)} ({t.macs:,})   FLOPs: {human(t.flops)} ({t.flops:,})",
        f"Memory, {summary.dtype}, batch {summary.batch}: input {human_bytes(t.input_bytes)},"
        f" parameters {human_bytes(t.param_bytes)},",
        f"  activations {human_bytes(t.activation_bytes)} in all, at most {human_bytes(t.activation_peak_bytes)} alive at once,",
        f"  {training_text(t.training_bytes)}",
        *defaults_lines(summary),
    ]


def training_text(training_bytes: int | None) -> str:
    """The summary's training figure: `cnncalc train`'s total for one Adam step."""
    if training_bytes is None:
        return "training step: not counted here (`cnncalc train` says why)"
    return f"training step {human_bytes(training_bytes)} (Adam, `cnncalc train`)"


FRAMEWORK = {"keras": "Keras", "pytorch": "PyTorch"}


def defaults_lines(summary: Summary) -> list[str]:
    """Whose defaults the layers take where PyTorch's and Keras's differ (epsilon,
    momentum ...): the count of layers and their types, per framework."""
    lines = []
    types = {row.name: row.type for row in summary.layers}
    for convention, names in conventions(summary).items():
        kinds = ", ".join(dict.fromkeys(types[name] for name in names))
        lines.append(f"Defaults: {FRAMEWORK[convention]}'s for {len(names):,} layer{'s' if len(names) != 1 else ''} ({kinds})")
    return lines


def to_table(summary: Summary, depth: int | None = None, width: int | None = None) -> str:
    view = SUMMARY[Medium.TERMINAL]
    cells = view.cells(Medium.TERMINAL)
    rows = [cells(row) for row in fold(summary, depth)]
    lines = [f"{visible(summary.name or 'network')}: {heading(summary)}"]
    lines += plain_table(view.headers, rows, right=view.right, width=width)
    gated = gated_note(summary)
    lines += totals_lines(summary) + ([gated] if gated else [])
    return "\n".join(lines) + "\n"


def to_html(summary: Summary, depth: int | None = None) -> str:
    """An HTML table of the layers and the totals (a notebook's rich display)."""
    view = SUMMARY[Medium.HTML]
    cells = view.cells(Medium.HTML)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells(row)) + "</tr>" for row in fold(summary, depth)
    )
    head = "".join(f"<th>{html_escape(title)}</th>" for title in view.headers)
    title = html_escape(visible(summary.name or "network"))
    gated = gated_note(summary)
    totals = "".join(f"<li>{html_escape(line.strip())}</li>" for line in totals_lines(summary) + ([gated] if gated else []))
    warnings = "".join(f"<li>warning: {html_escape(visible(w))}</li>" for w in summary.warnings)
    return (
        f"<div><p><b>{title}</b>: {html_escape(heading(summary))}"
        f"</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<ul>{totals}{warnings}</ul></div>"
    )


# -- cnncalc rf ----------------------------------------------------------------------------------

GATES_FROZEN = "gates held at their values for the zero input, so the main path's field is measured"


def rf_note(covering: str | None, quote=visible) -> str:
    """Which layer's field covers the input first, its name written by `quote`."""
    if covering is None:
        return "No layer's field covers the whole input."
    return f"From layer '{quote(covering)}' on, every output position sees the whole input."


def rf_table(summary: Summary, measured: Mapping | None = None, width: int | None = None) -> str:
    view = RF[Medium.TERMINAL] if measured is not None else RF[Medium.TERMINAL].without(Column.MEASURED)
    context = Context.of(summary, measured)
    cells = view.cells(Medium.TERMINAL, context)
    rows = []
    for row in summary.layers:
        shown = cells(row)
        if row.name == context.covering:
            shown[0] += " *"
        rows.append(shown)
    lines = [f"{visible(summary.name or 'network')}: receptive fields in input pixels (r size, S stride, P padding)"]
    lines += plain_table(view.headers, rows, right=view.right, width=width)
    lines.append(("* " if context.covering else "") + rf_note(context.covering))
    gated = gated_note(summary)
    if gated:
        lines.append(gated)
    if measured is not None:
        differing = [visible(name) for name, (_, agrees) in measured.items() if not agrees]
        lines.append(
            "measured by propagation (NumPy forward pass): "
            + ("all agree with the formula" if not differing else f"{len(differing)} layer(s) differ: {', '.join(differing[:5])}")
            + (f"; {GATES_FROZEN}" if gated else "")
        )
    return "\n".join(lines) + "\n"


# -- cnncalc run ---------------------------------------------------------------------------------

SMALL_OUTPUT = 64  # elements: an output this small is printed


def run_table(result, name: str | None, width: int | None = None) -> str:
    view = RUN[Medium.TERMINAL]
    cells = view.cells(Medium.TERMINAL)
    rows = [cells(layer) for layer in result.layers]
    lines = [f"{visible(name or 'network')}: forward pass in NumPy, batch {result.layers[0].shape[0]}"]
    lines += plain_table(view.headers, rows, right=view.right, width=width)
    mismatches = sum(not layer.ok for layer in result.layers)
    verdict = "all shapes as computed" if not mismatches else f"{mismatches} shape(s) differ from the computed ones"
    lines.append(f"{len(result.layers)} layers, {verdict}; forward {result.forward_seconds:.3f} s")
    if result.random_weights:
        names = [visible(layer) for layer in result.random_weights[:6]]
        listed = ", ".join(names) + (", ..." if len(result.random_weights) > 6 else "")
        lines.append(f"random weights (seeded) for {len(result.random_weights)} layer(s): {listed}")
    outputs = result.output if isinstance(result.output, tuple) else (result.output,)
    if sum(output.size for output in outputs) <= SMALL_OUTPUT:
        import numpy as np

        for index, output in enumerate(outputs):
            lines.append("output:" if len(outputs) == 1 else f"output {index}:")
            lines.append(np.array2string(output, precision=6, suppress_small=True))
    return "\n".join(lines) + "\n"
