"""Summary records as text: a plain table, JSON, CSV or markdown.

Only this module formats numbers. Tables are plain fixed-width text (`plain_table`):
a rich table took longer to lay out 175 rows than cnncalc takes to analyse them.
"""

from __future__ import annotations

import csv
import io
import json
from enum import Enum

from ..analysis.summary import ReceptiveField, Row, Summary, fold
from ..units import human, human_bytes, number, per_dim_text, shape_text


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


GAP = "   "


def terminal_width() -> int:
    """COLUMNS, else the terminal's width, else 80 (what a pipe or a file gets)."""
    import shutil

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


def field_json(field: ReceptiveField | None):
    if field is None:
        return None
    return {
        "size": list(field.size),
        "stride": [number(s) for s in field.stride],
        "padding": [number(p) for p in field.padding],
        "center": [number(c) for c in field.center],
    }


def row_json(row: Row) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "inputs": list(row.inputs),
        "output_shape": list(row.output_shape),
        "params": row.params,
        "trainable_params": row.trainable_params,
        "non_trainable_params": row.non_trainable_params,
        "running_stats": row.running_stats,
        "macs": row.macs,
        "flops": row.flops,
        "memory_bytes": row.memory_bytes,
        "receptive_field": field_json(row.receptive_field),
    }


def summary_json(summary: Summary) -> dict:
    t = summary.totals
    return {
        "name": summary.name,
        "input_shape": list(summary.input_shape),
        "layout": summary.layout,
        "batch": summary.batch,
        "dtype": summary.dtype,
        "layers": [row_json(row) for row in summary.layers],
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "running_stats": t.running_stats,
            "macs": t.macs,
            "flops": t.flops,
            "input_bytes": t.input_bytes,
            "activation_bytes": t.activation_bytes,
            "param_bytes": t.param_bytes,
            "training_bytes": t.training_bytes,
        },
        "warnings": list(summary.warnings),
    }


def to_json(summary: Summary, depth: int | None = None) -> str:
    """Indented, but each layer on one line: readable, and fast for 100,000 layers (the
    indenting encoder is pure Python; the compact one is C)."""
    data = summary_json(summary)
    parts = []
    for key, value in data.items():  # the contract's order: ..., layers, totals, warnings
        if key == "layers":
            rows = ",\n".join("    " + json.dumps(layer) for layer in value)
            parts.append('  "layers": [\n' + rows + "\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: " + json.dumps(value, indent=2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


CSV_COLUMNS = (
    "name",
    "type",
    "inputs",
    "output_shape",
    "params",
    "trainable_params",
    "non_trainable_params",
    "running_stats",
    "macs",
    "flops",
    "memory_bytes",
    "rf_size",
    "rf_stride",
    "rf_padding",
)


def to_csv(summary: Summary, depth: int | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in fold(summary, depth):
        field = row.receptive_field
        writer.writerow(
            [
                row.name,
                row.type,
                " ".join(row.inputs),
                "x".join(str(d) for d in row.output_shape),
                row.params,
                row.trainable_params,
                row.non_trainable_params,
                row.running_stats,
                row.macs,
                row.flops,
                row.memory_bytes,
                *(("global",) * 3 if field is None else (per_dim_text(field.size), per_dim_text(field.stride), per_dim_text(field.padding))),
            ]
        )
    t = summary.totals
    writer.writerow(
        ["total", "", "", "", t.params, t.trainable_params, t.non_trainable_params, t.running_stats, t.macs, t.flops, t.activation_bytes, "", "", ""]
    )
    return out.getvalue()


def field_cells(row: Row) -> tuple[str, str]:
    field = row.receptive_field
    if field is None:
        return "global", ""
    return per_dim_text(field.size), per_dim_text(field.stride)


def totals_lines(summary: Summary) -> list[str]:
    """The totals, each line under 80 columns, in PyTorch's and Keras's terms."""
    t = summary.totals
    frozen = t.non_trainable_params - t.running_stats
    return [
        f"Params: {t.params:,} (trainable {t.trainable_params:,}, frozen {frozen:,})"
        f" + running stats {t.running_stats:,}",
        f"  PyTorch  parameters(): {t.params:,} (running stats are buffers)",
        f"  Keras    Total {t.trainable_params + t.non_trainable_params:,} = Trainable {t.trainable_params:,}"
        f" + Non-trainable {t.non_trainable_params:,}",
        f"MACs: {human(t.macs)} ({t.macs:,})   FLOPs: {human(t.flops)} ({t.flops:,})",
        f"Memory, {summary.dtype}, batch {summary.batch}: input {human_bytes(t.input_bytes)},"
        f" activations {human_bytes(t.activation_bytes)},",
        f"  parameters {human_bytes(t.param_bytes)}, training estimate {human_bytes(t.training_bytes)} (Adam)",
    ]


def markdown_cell(text: str) -> str:
    """Text safe inside a pipe table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def to_markdown(summary: Summary, depth: int | None = None) -> str:
    """A pipe table of the layers with a total row, then the totals as a second table:
    pastes into a README, a report or a homework sheet."""
    t = summary.totals
    rows = fold(summary, depth)
    lines = [
        f"**{markdown_cell(summary.name or 'network')}**: input {shape_text(summary.input_shape)} "
        f"({summary.layout}), batch {summary.batch}",
        "",
        "| # | layer | type | output shape | params | MACs | RF | RF stride |",
        "|--:|---|---|---|--:|--:|--:|--:|",
    ]
    for i, row in enumerate(rows, 1):
        size, stride = field_cells(row)
        lines.append(
            f"| {i} | `{markdown_cell(row.name)}` | {markdown_cell(row.type)} | {shape_text(row.output_shape)} | "
            f"{row.params:,} | {row.macs:,} | {size} | {stride} |"
        )
    lines.append(f"| | **total** | | | **{t.params:,}** | **{t.macs:,}** | | |")
    frozen = t.non_trainable_params - t.running_stats
    lines += [
        "",
        "| total | value |",
        "|---|---|",
        f"| params | {t.params:,} (trainable {t.trainable_params:,}, frozen {frozen:,}) |",
        f"| running statistics | {t.running_stats:,} (PyTorch buffers) |",
        f"| Keras's count | {t.trainable_params + t.non_trainable_params:,} = {t.trainable_params:,} trainable"
        f" + {t.non_trainable_params:,} non-trainable |",
        f"| MACs | {t.macs:,} ({human(t.macs)}) |",
        f"| FLOPs | {t.flops:,} ({human(t.flops)}) |",
        f"| memory ({summary.dtype}, batch {summary.batch}) | input {human_bytes(t.input_bytes)}, activations "
        f"{human_bytes(t.activation_bytes)}, parameters {human_bytes(t.param_bytes)}; training about "
        f"{human_bytes(t.training_bytes)} (Adam) |",
    ]
    if summary.warnings:
        lines += ["", *(f"- warning: {markdown_cell(w)}" for w in summary.warnings)]
    return "\n".join(lines) + "\n"


def to_table(summary: Summary, depth: int | None = None, width: int | None = None) -> str:
    rows = []
    for row in fold(summary, depth):
        size, stride = field_cells(row)
        rows.append([
            row.name,
            row.type,
            shape_text(row.output_shape),
            human(row.params) if row.params else "-",
            human(row.macs) if row.macs else "-",
            size,
            stride,
        ])
    title = summary.name or "network"
    lines = [f"{title}: input {shape_text(summary.input_shape)} ({summary.layout}), batch {summary.batch}"]
    lines += plain_table(("layer", "type", "output", "params", "MACs", "RF", "S"), rows, right=(3, 4, 5, 6), width=width)
    lines += totals_lines(summary)
    return "\n".join(lines) + "\n"


def to_html(summary: Summary, depth: int | None = None) -> str:
    """An HTML table of the layers and the totals (a notebook's rich display)."""
    from html import escape

    cells = []
    for row in fold(summary, depth):
        size, stride = field_cells(row)
        values = (row.name, row.type, shape_text(row.output_shape), f"{row.params:,}", f"{row.macs:,}", size, stride)
        cells.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in values) + "</tr>")
    head = "".join(f"<th>{title}</th>" for title in ("layer", "type", "output", "params", "MACs", "RF", "S"))
    title = escape(summary.name or "network")
    totals = "".join(f"<li>{escape(line.strip())}</li>" for line in totals_lines(summary))
    warnings = "".join(f"<li>warning: {escape(w)}</li>" for w in summary.warnings)
    return (
        f"<div><p><b>{title}</b>: input {escape(shape_text(summary.input_shape))} ({summary.layout}), "
        f"batch {summary.batch}</p><table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table>"
        f"<ul>{totals}{warnings}</ul></div>"
    )


RENDERERS = {Format.TABLE: to_table, Format.JSON: to_json, Format.CSV: to_csv, Format.MARKDOWN: to_markdown}


def run_json(result) -> str:
    """CONTRACT.md §7: shapes with the batch dimension."""
    return json.dumps(
        {
            "ok": result.ok,
            "forward_seconds": round(result.forward_seconds, 6),
            "layers": [
                {
                    "name": layer.name,
                    "expected_shape": list(layer.expected_shape),
                    "shape": list(layer.shape),
                    "ok": layer.ok,
                    "seconds": round(layer.seconds, 6),
                }
                for layer in result.layers
            ],
            "random_weights": list(result.random_weights),
            "warnings": list(result.warnings),
        },
        indent=2,
    ) + "\n"


SMALL_OUTPUT = 64  # elements: an output this small is printed


def run_table(result, name: str | None, width: int | None = None) -> str:
    rows = [
        [layer.name, layer.type, shape_text(layer.expected_shape), shape_text(layer.shape),
         "ok" if layer.ok else "MISMATCH", f"{layer.seconds * 1000:.2f}"]
        for layer in result.layers
    ]
    lines = [f"{name or 'network'}: forward pass in NumPy, batch {result.layers[0].shape[0]}"]
    lines += plain_table(("layer", "type", "expected", "real", "", "ms"), rows, right=(5,), width=width)
    mismatches = sum(not layer.ok for layer in result.layers)
    verdict = "all shapes as computed" if not mismatches else f"{mismatches} shape(s) differ from the computed ones"
    lines.append(f"{len(result.layers)} layers, {verdict}; forward {result.forward_seconds:.3f} s")
    if result.random_weights:
        listed = ", ".join(result.random_weights[:6]) + (", ..." if len(result.random_weights) > 6 else "")
        lines.append(f"random weights (seeded) for {len(result.random_weights)} layer(s): {listed}")
    if result.output.size <= SMALL_OUTPUT:
        import numpy as np

        lines.append("output:")
        lines.append(np.array2string(result.output, precision=6, suppress_small=True))
    return "\n".join(lines) + "\n"


# -- cnncalc rf --------------------------------------------------------------------------------

RF_COLUMNS = ("layer", "type", "output", "r", "S", "P", "centre", "measured")


def covering_layer(summary: Summary) -> str | None:
    """The first layer whose every output position sees the whole input (or mixes it all)."""
    for row in summary.layers:
        if (row.receptive_field is None and summary_has_spatial(summary)) or (row.receptive_field and row.receptive_field.covers):
            return row.name
    return None


def summary_has_spatial(summary: Summary) -> bool:
    return len(summary.input_shape) > 1


def rf_cells(row: Row, measured: dict | None) -> list[str]:
    field = row.receptive_field
    check = ""
    if measured is not None and row.name in measured:
        size, agrees = measured[row.name]
        shown = "global" if size is None else "x".join("-" if v is None else str(v) for v in size)
        if size is not None and len(set(size)) == 1:
            shown = "-" if size[0] is None else str(size[0])
        check = shown + (" ok" if agrees else " DIFFERS")
    if field is None:
        return [row.name, row.type, shape_text(row.output_shape), "global", "", "", "", check]
    return [
        row.name,
        row.type,
        shape_text(row.output_shape),
        per_dim_text(field.size),
        per_dim_text(field.stride),
        per_dim_text(field.padding),
        per_dim_text(field.center),
        check,
    ]


def rf_note(summary: Summary) -> str:
    layer = covering_layer(summary)
    if layer is None:
        return "No layer's field covers the whole input."
    return f"From layer '{layer}' on, every output position sees the whole input."


def rf_json(summary: Summary, measured: dict | None = None) -> str:
    layers = []
    for row in summary.layers:
        entry = {
            "name": row.name,
            "type": row.type,
            "output_shape": list(row.output_shape),
            "receptive_field": field_json(row.receptive_field),
            "covers_input": row.receptive_field.covers if row.receptive_field else row.name == covering_layer(summary) or None,
        }
        if measured is not None and row.name in measured:
            size, agrees = measured[row.name]
            entry["measured"] = {"size": None if size is None else list(size), "agrees": agrees}
        layers.append(entry)
    data = {
        "name": summary.name,
        "input_shape": list(summary.input_shape),
        "layout": summary.layout,
        "layers": layers,
        "covers_input_from": covering_layer(summary),
        "warnings": list(summary.warnings),
    }
    if measured is not None:
        data["verified"] = all(agrees for _, agrees in measured.values())
    return json.dumps(data, indent=2) + "\n"


def rf_csv(summary: Summary, measured: dict | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RF_COLUMNS if measured is not None else RF_COLUMNS[:-1])
    for row in summary.layers:
        cells = rf_cells(row, measured)
        writer.writerow(cells if measured is not None else cells[:-1])
    return out.getvalue()


def rf_markdown(summary: Summary, measured: dict | None = None) -> str:
    columns = RF_COLUMNS if measured is not None else RF_COLUMNS[:-1]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in summary.layers:
        cells = rf_cells(row, measured)
        lines.append("| " + " | ".join(cells[: len(columns)]) + " |")
    return "\n".join(lines) + "\n\n" + rf_note(summary) + "\n"


def rf_table(summary: Summary, measured: dict | None = None, width: int | None = None) -> str:
    columns = RF_COLUMNS if measured is not None else RF_COLUMNS[:-1]
    covering = covering_layer(summary)
    rows = []
    for row in summary.layers:
        cells = rf_cells(row, measured)[: len(columns)]
        if row.name == covering:
            cells[0] += " *"
        rows.append(cells)
    lines = [f"{summary.name or 'network'}: receptive fields in input pixels (r size, S stride, P padding)"]
    lines += plain_table(columns, rows, right=tuple(range(3, len(columns))), width=width)
    lines.append(("* " if covering else "") + rf_note(summary))
    if measured is not None:
        differing = [name for name, (_, agrees) in measured.items() if not agrees]
        lines.append(
            "measured by propagation (NumPy forward pass): "
            + ("all agree with the formula" if not differing else f"{len(differing)} layer(s) differ: {', '.join(differing[:5])}")
        )
    return "\n".join(lines) + "\n"


RF_RENDERERS = {Format.TABLE: rf_table, Format.JSON: rf_json, Format.CSV: rf_csv, Format.MARKDOWN: rf_markdown}
