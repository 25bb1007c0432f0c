"""`cnncalc report FILE -o REPORT.html`: one self-contained page to send or hand in.

The page holds, with nothing fetched from anywhere (styles, script and pictures inline):
the totals and warnings; every layer in a table whose columns sort by a click (or by the
address: `REPORT.html#sort=macs-desc`), totals in its foot; the graph and the funnel as
inline SVG; the receptive field's growth. It reads on a phone (the table scrolls sideways,
pictures shrink to the screen) and prints (navigation hidden, tables unscrolled).

Other analyses add their own sections (`Section`): `report_html(..., sections=[...])`
places them after the receptive field, listed in the contents.

Names from the file are shown through `escape.visible` and HTML-escaped, like every other
HTML this project writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape as html_escape

from ..analysis.summary import Summary
from ..graph import Network
from ..units import human, human_bytes
from .columns import COLUMNS, Column, Context, Kind, Medium, View
from .diagram import funnel_svg, graph_svg
from .escape import visible
from .text import heading, rf_note, totals_lines

C = Column
TABLE = View(
    (C.NAME, C.TYPE, C.OUTPUT_SHAPE, C.PARAMS, C.TRAINABLE_PARAMS, C.NON_TRAINABLE_PARAMS, C.MACS, C.FLOPS,
     C.MEMORY_BYTES, C.RF_SIZE, C.RF_STRIDE),
    {C.OUTPUT_SHAPE: "output", C.MEMORY_BYTES: "output bytes", C.RF_SIZE: "RF", C.RF_STRIDE: "RF stride"},
)
NUMERIC = frozenset({Kind.COUNT, Kind.PER_DIM, Kind.SHAPE, Kind.FIELD_SIZE})
GLOBAL = 1e300  # the sort key of a field that mixes every position: after every size


@dataclass(frozen=True)
class Section:
    """A part of the page: `key` is its anchor, `html` its body (already escaped)."""

    key: str
    title: str
    html: str


def text(value: str) -> str:
    return html_escape(visible(value))


def sort_key(kind: Kind, value) -> str:
    """What a cell sorts by: numbers by size (a shape by its element count, a per-axis
    value by its largest), text as written."""
    if value is None:
        return repr(GLOBAL) if kind is Kind.PER_DIM else ""
    if kind is Kind.SHAPE:
        parts = value if value and isinstance(value[0], (list, tuple)) else [value]
        return str(sum(math.prod(part) for part in parts))
    if kind is Kind.FIELD_SIZE and isinstance(value, str):  # global, then undefined: after every size
        return repr(GLOBAL if value == "global" else 2 * GLOBAL)
    if kind in (Kind.PER_DIM, Kind.FIELD_SIZE):
        return str(float(max(value)))
    return str(value) if kind is Kind.COUNT else html_escape(visible(str(value)), quote=True)


def layer_table(summary: Summary) -> str:
    context = Context.of(summary)
    shown = TABLE.cells(Medium.HTML, context)
    plain = TABLE.cells(Medium.JSON, context)
    kinds = [COLUMNS[column].kind for column in TABLE.columns]
    head = "".join(
        f'<th scope="col" data-column="{column.value}" data-type="{"number" if kind in NUMERIC else "text"}"'
        f'{" class=num" if COLUMNS[column].right else ""}><button type="button">{html_escape(TABLE.title(column))}'
        "</button></th>"
        for column, kind in zip(TABLE.columns, kinds)
    )
    body = []
    for index, row in enumerate(summary.layers):
        cells = []
        for column, kind, cell, value in zip(TABLE.columns, kinds, shown(row), plain(row)):
            style = " class=num" if COLUMNS[column].right else ""
            tag = "th scope=row" if column is C.NAME else "td"
            cells.append(f'<{tag}{style} data-sort="{sort_key(kind, value)}">{cell}</{tag.split()[0]}>')
        body.append(f'<tr data-index="{index}">' + "".join(cells) + "</tr>")
    foot = []
    for column in TABLE.columns:
        spec = COLUMNS[column]
        if column is C.NAME:
            foot.append(f'<th scope="row">total ({len(summary.layers)} layers)</th>')
        elif spec.total is None:
            foot.append("<td></td>")
        else:
            figure = spec.total(summary.totals)
            foot.append(f'<td class=num data-column="{column.value}" data-value="{figure}">{figure:,}</td>')
    return (
        '<div class="scroll"><table id="layers-table" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        f"<tfoot><tr>{''.join(foot)}</tr></tfoot></table></div>"
    )


def field_growth(summary: Summary) -> str:
    """The layers where the receptive field grows or its stride changes."""
    context = Context.of(summary)
    rows, last = [], None
    for row in summary.layers:
        field = row.receptive_field
        key = None if field is None else (field.size, field.stride)
        if key == last:
            continue
        last = key
        size = "global" if field is None else "x".join(map(str, field.size)) if len(set(field.size)) > 1 else str(field.size[0])
        stride = "" if field is None else "x".join(str(s) for s in field.stride) if len(set(field.stride)) > 1 else str(field.stride[0])
        mark = " *" if row.name == context.covering else ""
        rows.append(f'<tr><th scope="row">{text(row.name)}{mark}</th><td>{text(row.type)}</td><td class=num>{size}</td>'
                    f"<td class=num>{stride}</td></tr>")
    note = ("* " if context.covering else "") + rf_note(context.covering)
    return (
        "<p>Each row is a layer where the field of one output position (r, in input pixels) or "
        "the step between neighbouring positions (S) changes.</p>"
        '<div class="scroll"><table id="field-table"><thead><tr><th scope="col">layer</th><th scope="col">type</th>'
        '<th scope="col" class=num>r</th><th scope="col" class=num>S</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div><p>{html_escape(note)}</p>"
    )


def report_html(network: Network, summary: Summary, sections: Sequence[Section] = ()) -> str:
    name = text(network.name or "network")
    totals = summary.totals
    cards = [
        ("params", human(totals.params), f"{totals.params:,}"),
        ("MACs", human(totals.macs), f"{totals.macs:,}"),
        ("FLOPs", human(totals.flops), f"{totals.flops:,}"),
        ("activations", human_bytes(totals.activation_bytes), f"{summary.dtype}, batch {summary.batch}"),
        ("parameters", human_bytes(totals.param_bytes), summary.dtype),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="figure">{html_escape(big)}</div>'
        f'<div class="exact">{html_escape(small)}</div></div>'
        for label, big, small in cards
    )
    lines = "".join(f"<li>{html_escape(line.strip())}</li>" for line in totals_lines(summary))
    if summary.warnings:
        warnings = "<ul class=warnings>" + "".join(f"<li>{text(w)}</li>" for w in summary.warnings) + "</ul>"
    else:
        warnings = "<p>None.</p>"
    if len(network.inputs) == 1:
        funnel = f'<div class="figure">{funnel_svg(network, summary)}</div>'
    else:
        funnel = f"<p>The funnel follows one input; this network has {len(network.inputs)}.</p>"
    parts = [
        Section("totals", "Totals", f'<div class="cards">{card_html}</div><ul class="lines">{lines}</ul>'),
        Section("warnings", f"Warnings ({len(summary.warnings)})", warnings),
        Section("layers", "Layers", '<p class="hint">Select a column title to sort by it; again to reverse.</p>'
                + layer_table(summary)),
        Section("graph", "Graph", f'<div class="figure">{graph_svg(network, summary)}</div>'),
        Section("funnel", "Feature maps", funnel),
        Section("field", "Receptive field", field_growth(summary)),
        *sections,
    ]
    contents = "".join(f'<li><a href="#{s.key}">{html_escape(s.title)}</a></li>' for s in parts)
    body = "".join(f'<section id="{s.key}"><h2>{html_escape(s.title)}</h2>{s.html}</section>' for s in parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{name}: cnncalc report</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{name}</h1><p>{html_escape(heading(summary))}, {summary.dtype}</p>"
        f'<nav aria-label="contents"><ul>{contents}</ul></nav></header><main>{body}</main>'
        "<footer>Made by cnncalc. Sizes are per sample; costs and memory for the whole batch.</footer>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


STYLE = """
:root { color-scheme: light; --line: #d1d5db; --soft: #f3f4f6; --ink: #111827; --muted: #4b5563; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 0 16px 32px; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: 20px 0 4px; word-break: break-word; }
h2 { font-size: 1.2rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
header p { margin: 0; color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: 12px 0 0; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav a { color: #1d4ed8; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fafafa; }
.card .label { color: var(--muted); font-size: .85rem; }
.card .figure { font-size: 1.35rem; font-weight: 600; }
.card .exact { color: var(--muted); font-size: .8rem; word-break: break-all; }
ul.lines { font: 13px/1.5 ui-monospace, Menlo, Consolas, monospace; padding-left: 18px; overflow-wrap: anywhere; }
ul.warnings li { color: #92400e; overflow-wrap: anywhere; }
.scroll { overflow: auto; max-width: 100%; max-height: 80vh; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font: 13px/1.35 ui-monospace, Menlo, Consolas, monospace; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--soft); text-align: left; white-space: nowrap; }
.num { text-align: right; }
thead th { position: sticky; top: 0; background: #e5e7eb; }
thead button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; color: inherit; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody th { font-weight: normal; }
tfoot td, tfoot th { font-weight: 600; border-top: 2px solid var(--line); background: var(--soft); }
.figure { overflow-x: auto; }
.figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.hint { color: var(--muted); font-size: .9rem; }
footer { margin-top: 32px; color: var(--muted); font-size: .85rem; }
@media (max-width: 600px) { body { padding: 0 10px 24px; font-size: 14px; } table { font-size: 12px; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav, .hint { display: none; }
  .scroll, .figure { overflow: visible; max-height: none; border: 0; }
  table { font-size: 7.5pt; }
  th, td { padding: 1px 4px; }
  thead th { position: static; }
  h2 { break-after: avoid; }
  section { break-inside: auto; }
  .figure svg { max-height: 25cm; }
}
"""

SCRIPT = """
(function () {
  function sort(table, column, direction) {
    var head = table.tHead.rows[0].cells;
    var numeric = head[column].getAttribute('data-type') === 'number';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute('data-sort'), y = b.cells[column].getAttribute('data-sort');
      var order = numeric ? (Number(x) > Number(y)) - (Number(x) < Number(y)) : x.localeCompare(y);
      if (order === 0) { order = Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')); return order; }
      return direction === 'descending' ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < head.length; i++) { head[i].removeAttribute('aria-sort'); }
    head[column].setAttribute('aria-sort', direction);
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    var head = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(head, function (cell, column) {
      cell.querySelector('button').addEventListener('click', function () {
        sort(table, column, cell.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending');
      });
    });
    var wanted = /^#sort=([a-z_]+?)(-desc)?$/.exec(window.location.hash);
    if (wanted) {
      Array.prototype.forEach.call(head, function (cell, column) {
        if (cell.getAttribute('data-column') === wanted[1]) { sort(table, column, wanted[2] ? 'descending' : 'ascending'); }
      });
    }
  });
})();
"""


SWEEP = (1, 8, 32, 128)  # the batches the report's training curve is drawn at


def training_section(network: Network, batch: int) -> Section:
    """One Adam step in float32 at the report's batch (`cnncalc train`'s table: what autograd
    keeps per layer, weights, gradients, optimizer state) and the total against the batch;
    for a layer type whose backward is not declared yet, the reason instead."""
    from ..analysis.training import train
    from ..errors import CnnError
    from .training import sweep_svg, training_table

    try:
        step = train(network, batch, "adam", "fp32")
        sweep = [step if b == batch else train(network, b, "adam", "fp32") for b in SWEEP]
    except CnnError as error:
        return Section("training", "Training step", f"<p>Not counted: {text(error.message)}</p>")
    body = (
        '<p class="hint">What one training step holds with Adam in float32, as <code>cnncalc train</code> '
        "counts it (other optimizers and precisions: run that command).</p>"
        f"<pre>{text(training_table(step))}</pre>"
        f'<div class="figure">{sweep_svg(sweep)}</div>'
    )
    return Section("training", "Training step", body)
