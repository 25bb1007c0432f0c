"""Pictures of a network as SVG (`cnncalc diagram`): the graph, and the funnel.

The graph: one box per layer (or per folded block instance), laid out in layers by
`layout.py` (top to bottom or left to right): parallel branches side by side, the main
path straight, long edges in lanes beside the boxes, no edge across a box. A box says the
layer's name and type, its kernel and stride (read from the layer's own `windows` rule),
its output shape and parameters; `Labels` says less. Folding is even: at a depth, every
instance of a block that is folded anywhere is folded everywhere, so two instances of a
block look alike. Unfolded instances are drawn as labelled frames.

The funnel: per row, the feature map's spatial size and its channels (log scale), and
below it the receptive field's growth.

Plain SVG text, no dependency: sizes come from a monospace font of known width.
Names from the file are shown through `escape.visible` and written as XML character data
(`escape.xml_text`): no name makes the SVG ill-formed or reorders what is drawn.
"""

from __future__ import annotations

import math
from html import escape as html_escape
from dataclasses import dataclass, field
from enum import Enum

from ..analysis.summary import Row, Summary, merge_rows
from ..errors import CnnError
from ..files import save_text, write_atomically
from ..graph import Network
from ..units import human, shape_text
from .escape import visible, xml_text
from .layout import Frame, Graph, Sizes, layout, main_path

FONT = 12
CHAR = 7.3  # width of one character of a 12 px monospace font
BOX_W = 270
MARGIN, TITLE = 24, 44
MAX_BOXES = 40  # the default depth is the deepest with at most this many boxes

COLOURS = {  # family: (fill, stroke)
    "convolution": ("#dbeafe", "#2563eb"),
    "pooling": ("#dcfce7", "#16a34a"),
    "normalisation": ("#fef9c3", "#ca8a04"),
    "activation": ("#f3f4f6", "#6b7280"),
    "dense": ("#ede9fe", "#7c3aed"),
    "merge": ("#ffedd5", "#ea580c"),
    "shape": ("#ccfbf1", "#0d9488"),
    "regularisation": ("#f3f4f6", "#6b7280"),
    "block": ("#ffffff", "#334155"),
    "input": ("#ffffff", "#111827"),
}


class Direction(Enum):
    """Which way the layers follow each other."""

    TB = "tb"  # top to bottom: parallel branches share a row
    LR = "lr"  # left to right: parallel branches share a column


class Labels(Enum):
    """How much each box says."""

    FULL = "full"  # name and type; kernel and stride; output shape and params
    SHAPE = "shape"  # name and type; output shape
    NAME = "name"  # name and type


LINES = {Labels.FULL: 3, Labels.SHAPE: 2, Labels.NAME: 1}


def box_height(labels: Labels) -> int:
    return 10 + 16 * LINES[labels]


@dataclass
class Box:
    name: str
    lines: list[str]  # the first is the title
    family: str
    inputs: list[str] = field(default_factory=list)


def save_picture(path: str, svg: str) -> None:
    """SVG as it is; PNG through cairosvg (the optional extra cnncalc[png]), which needs
    the Cairo library."""
    if path.lower().endswith(".svg"):
        save_text(path, svg)
        return
    if not path.lower().endswith(".png"):
        raise CnnError(f"cannot tell the picture format of '{path}'; allowed: a name ending in .svg or .png")
    try:
        import cairosvg
    except (ImportError, OSError) as exc:
        raise CnnError(
            f"writing PNG needs cairosvg and the Cairo library ({exc}); install them with "
            "pip install 'cnncalc[png]', or write .svg and convert it (e.g. rsvg-convert net.svg -o net.png)"
        ) from None
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    write_atomically(path, lambda stream: stream.write(png))


# -- folding -------------------------------------------------------------------------------------


def folded_groups(summary: Summary, depth: int | None) -> set[str]:
    """The block instances drawn as one box at this depth: those nested deeper than `depth`,
    and every instance of a block kind that has such an instance anywhere, so that two
    instances of one block always look alike (folded or not, whatever their nesting)."""
    if depth is None:
        return set()
    deep_kinds = {g.kind for g in summary.groups if g.level > depth}
    return {g.name for g in summary.groups if g.level > depth or g.kind in deep_kinds}


def even_fold(summary: Summary, depth: int | None) -> tuple[Row, ...]:
    """Rows with each folded instance (the outermost of `folded_groups`) merged into one."""
    folded = folded_groups(summary, depth)
    if not folded:
        return summary.layers
    kinds = {g.name: g.kind for g in summary.groups}
    rows: list[Row] = []
    members: dict[str, list[Row]] = {}
    for row in summary.layers:
        parts = row.name.split(".")
        owner = next((p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in folded), None)
        if owner is None:
            rows.append(row)
            continue
        if owner not in members:
            members[owner] = []
            rows.append(Row(owner, kinds[owner], (), (), 0, 0, 0, 0, 0, 0, 0, None, ()))  # placeholder
        members[owner].append(row)
    return tuple(merge_rows(row, members[row.name]) if row.name in members else row for row in rows)


def default_depth(summary: Summary) -> int | None:
    """The deepest folding with at most MAX_BOXES boxes (None: every layer)."""
    levels = sorted({g.level for g in summary.groups})
    if len(summary.layers) <= MAX_BOXES or not levels:
        return None
    best = 0
    for depth in range(0, max(levels) + 1):
        if len(even_fold(summary, depth)) <= MAX_BOXES:
            best = depth
    return best


# -- the graph -----------------------------------------------------------------------------------


def window_text(layer, in_shape, layout) -> str:
    """'kernel 3x3 · stride 2' for a layer sliding a window (its own `windows` rule), else ''."""
    windows = getattr(layer, "windows", None)
    if windows is None or "kernel" not in layer.values or not in_shape or isinstance(in_shape[0], tuple) or len(in_shape) < 2:
        return ""
    found = windows(layout.split(in_shape)[1])

    def each(values) -> str:
        values = tuple(values)
        return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))

    parts = [f"kernel {'x'.join(str(w.kernel) for w in found)}", f"stride {each(w.stride for w in found)}"]
    if any(w.dilation != 1 for w in found):
        parts.append(f"dilation {each(w.dilation for w in found)}")
    return ", ".join(parts)


FIRST_PARAMS = ("kernel", "stride", "dilation")  # a folded block's parameters shown first


def block_text(group, layers: int) -> str:
    """A folded block instance: its parameters as written (kernel and stride first) and its
    layer count, 'kernel 7, stride 2, out 64, padding 3 · 3 layers'; a repeat, its count."""
    params = sorted(group.params, key=lambda item: FIRST_PARAMS.index(item[0]) if item[0] in FIRST_PARAMS else len(FIRST_PARAMS))
    if not params:
        return f"{layers} layers"
    shown = ("true" if v is True else "false" if v is False else "null" if v is None else visible(str(v)) for _, v in params)
    return ", ".join(f"{visible(k)} {v}" for (k, _), v in zip(params, shown)) + f" · {layers} layers"


def boxes_of(network: Network, summary: Summary, depth: int | None, labels: Labels = Labels.FULL) -> list[Box]:
    rows = even_fold(summary, depth)
    shown = {row.name for row in rows}
    owner: dict[str, str] = {}  # layer name -> the box it is drawn in
    for row in summary.layers:
        parts = row.name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(len(parts), 0, -1))
        owner[row.name] = next(p for p in prefixes if p in shown)
    for name in network.inputs:
        owner[name] = name
    shapes: dict[str, object] = dict(network.inputs)
    for node, row in zip(network.nodes, summary.layers):  # the parts of a split are drawn in its box
        shapes[node.name] = row.output_shape
        if row.output_shape and isinstance(row.output_shape[0], tuple):
            owner.update({f"{node.name}.{i}": owner[node.name] for i in range(len(row.output_shape))})
            shapes.update({f"{node.name}.{i}": part for i, part in enumerate(row.output_shape)})
    inputs: dict[str, list[str]] = {row.name: [] for row in rows}
    counts: dict[str, int] = {row.name: 0 for row in rows}
    windows: dict[str, str] = {}
    for node in network.nodes:
        box = owner[node.name]
        counts[box] += 1
        if box == node.name and labels is Labels.FULL and node.inputs:
            windows[box] = window_text(node.layer, shapes[node.inputs[0]], network.layout)
        for source in (v for v in node.inputs if v not in node.layer.references()):  # data, not shape references
            source_box = owner[source]
            if source_box != box and source_box not in inputs[box]:
                inputs[box].append(source_box)
    families = {node.name: node.layer.family for node in network.nodes}
    groups = {g.name: g for g in summary.groups}
    boxes = [Box(name, [f"{visible(name)} · input", shape_text(shape)], "input") for name, shape in network.inputs.items()]
    for row in rows:
        family = families.get(row.name, "block")
        lines = [f"{visible(row.name)} · {visible(row.type)}"]
        if labels is Labels.FULL:
            lines.append(windows.get(row.name, "") if family != "block" else block_text(groups[row.name], counts[row.name]))
        if labels is not Labels.NAME:
            params = f" · {human(row.params)} params" if row.params and labels is Labels.FULL else ""
            lines.append(shape_text(row.output_shape) + params)
        boxes.append(Box(row.name, lines, family, inputs=inputs[row.name]))
    for box in boxes[: len(network.inputs)]:
        box.lines = box.lines[: 1] + ([""] if labels is Labels.FULL else []) + box.lines[1:]
        box.lines = box.lines[: LINES[labels]]
    return boxes


def fit(text: str, width: float) -> str:
    most = int((width - 16) / CHAR)
    return text if len(text) <= most else text[: most - 1] + "…"


def sizes_for(direction: Direction, labels: Labels) -> Sizes:
    height = box_height(labels)
    across, along = (BOX_W, height) if direction is Direction.TB else (height, BOX_W)
    if direction is Direction.TB:  # a frame's label in the space before its first layer
        return Sizes(across, along, 40, 14, 30, 10, 8, 22, 8)
    return Sizes(across, along, 40, 14, 30, 10, 8, 10, 10)  # a frame's label above it


def graph_layout(network: Network, summary: Summary, depth: int | None = None, direction: Direction = Direction.TB,
                 labels: Labels = Labels.FULL):
    """The boxes and their layered placement (layout.Placed), before drawing."""
    depth = default_depth(summary) if depth is None else depth
    boxes = boxes_of(network, summary, depth, labels)
    names = [b.name for b in boxes]
    edges = [(source, box.name) for box in boxes for source in box.inputs]
    folded = folded_groups(summary, depth)
    open_groups = {g.name: g for g in summary.groups if g.name not in folded}
    members: dict[str, list[str]] = {}
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in open_groups:
                members.setdefault(prefix, []).append(name)
    frames = [Frame(f"{g.name} · {g.kind}", frozenset(members[g.name])) for g in summary.groups if g.name in members]
    graph = Graph(names, edges, main_path(names, edges), frames)
    return boxes, layout(graph, sizes_for(direction, labels))


def graph_svg(network: Network, summary: Summary, depth: int | None = None, direction: Direction = Direction.TB,
              labels: Labels = Labels.FULL) -> str:
    """The network as boxes in layers, drawn without any outside program."""
    boxes, placed = graph_layout(network, summary, depth, direction, labels)
    height = box_height(labels)
    title = f"{visible(network.name or 'network')}: {human(summary.totals.params)} params, {human(summary.totals.macs)} MACs"
    left, top = MARGIN, MARGIN + TITLE
    tb = direction is Direction.TB

    def at(order: float, rank: float) -> tuple[float, float]:
        return (left + order, top + rank) if tb else (left + rank, top + order)

    content_w, content_h = (placed.width, placed.length) if tb else (placed.length, placed.width)
    width = max(left + content_w + MARGIN, MARGIN * 2 + len(title) * CHAR * 16 / FONT)
    total_h = top + content_h + MARGIN
    out = [svg_open(width, total_h)]
    out.append(text(MARGIN, MARGIN + 16, title, size=16, weight="bold"))
    for frame, (low, start, high, end), level, (first, last) in sorted(placed.frames, key=lambda f: -f[2]):
        x0, y0 = at(low, start)
        x1, y1 = at(high, end)
        out.append(
            f'<rect class="frame" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="8" '
            'fill="#f8fafc" fill-opacity="0.6" stroke="#94a3b8" stroke-dasharray="4 3"/>'
        )
        # The label starts over the frame's first boxes, clear of shortcuts running beside them.
        label = visible(frame.name)
        if tb:
            out.append(text(left + first, y0 + 15, fit(label, x1 - left - first), size=11, fill="#475569"))
        else:  # just above the frame, in the space between it and what lies beside it
            out.append(text(x0 + 6, y0 - 4, fit(label, x1 - x0), size=11, fill="#475569"))
    for source, target, points in placed.routes:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(at(*p) for p in points))
        long_edge = placed.layer[target] - placed.layer[source] > 1
        colour = "#ea580c" if long_edge else "#64748b"
        ends = f'data-from="{attribute(source)}" data-to="{attribute(target)}"'
        out.append(f'<path class="edge" {ends} d="{path}" fill="none" stroke="{colour}" stroke-width="1.4" marker-end="url(#arrow)"/>')
    w, h = BOX_W, height
    for box in boxes:
        centre = placed.centre[box.name]
        start = placed.starts[placed.layer[box.name]]
        x, y = at(centre - (w if tb else h) / 2, start)
        fill, stroke = COLOURS.get(box.family, COLOURS["block"])
        dash = ' stroke-dasharray="6 3"' if box.family == "block" else ""
        out.append(
            f'<rect class="box" data-name="{attribute(box.name)}" x="{x:.1f}" y="{y:.1f}" width="{w}" height="{h}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
        )
        for i, line in enumerate(box.lines):
            if line:
                out.append(text(x + 8, y + 17 + 16 * i, fit(line, w), weight="bold" if i == 0 else "normal",
                                fill="#111827" if i == 0 else "#374151"))
    out.append("</svg>\n")
    return "\n".join(out)


def attribute(name: str) -> str:
    """A name as an XML attribute value (shown escaped, quotes as entities)."""
    return html_escape(visible(name), quote=True)


def svg_open(width: float, height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="{FONT}">\n'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>\n'
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>'
    )


def text(x: float, y: float, content: str, size: int = FONT, weight: str = "normal", fill: str = "#111827", anchor: str = "start", rotate: float | None = None) -> str:
    transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" fill="{fill}" '
        f'text-anchor="{anchor}"{transform}>{xml_text(content)}</text>'
    )


# -- the funnel ----------------------------------------------------------------------------------


PLOT_W, PANEL_H = 820, 220
LEFT, RIGHT_AXIS = 70, 70


def funnel_svg(network: Network, summary: Summary, depth: int | None = None) -> str:
    """Spatial size and channels per row (log 2 scales), and the receptive field below."""
    depth = default_depth(summary) if depth is None else depth
    rows: list[Row] = list(even_fold(summary, depth))
    layout_last = network.layout.channels_last
    count_rows = len(rows)
    step = PLOT_W / max(count_rows, 1)
    label_space = min(160, 8 + CHAR * 0.85 * max(len(visible(r.name)) for r in rows))
    width = LEFT + PLOT_W + RIGHT_AXIS
    top1 = MARGIN + TITLE
    top2 = top1 + PANEL_H + 60
    height = top2 + PANEL_H + label_space + MARGIN
    out = [svg_open(width, height)]
    out.append(text(MARGIN, MARGIN + 16, f"{visible(network.name or 'network')}: feature maps and receptive field", size=16, weight="bold"))

    def spatial(row: Row) -> int | None:
        shape = row.output_shape
        if len(shape) < 2:
            return None
        sizes = shape[:-1] if layout_last else shape[1:]
        return max(sizes)

    def channels(row: Row) -> int:
        shape = row.output_shape
        return shape[-1] if layout_last or len(shape) == 1 else shape[0]

    sizes = [spatial(r) for r in rows]
    chans = [channels(r) for r in rows]
    fields = [max(r.receptive_field.size) if r.receptive_field and r.receptive_field.size else None for r in rows]
    top_size = max([s for s in sizes if s] + [network.input_shape[1] if len(network.input_shape) > 1 else 1, 2])
    top_channels = max(chans + [2])

    top_size, top_channels = power_above(top_size), power_above(top_channels)

    def y_log(value: float, top: float, panel_top: float) -> float:
        return panel_top + PANEL_H - PANEL_H * math.log2(max(value, 1)) / math.log2(max(top, 2))

    out.append(axes(top1, top_size, "spatial size (bars)", left=True))
    out.append(axes(top1, top_channels, "channels (line)", left=False))
    for i, size in enumerate(sizes):
        if size:
            y = y_log(size, top_size, top1)
            out.append(
                f'<rect x="{LEFT + i * step + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                f'height="{top1 + PANEL_H - y:.1f}" fill="#bfdbfe" stroke="#2563eb" stroke-width="0.8"/>'
            )
    points = [(LEFT + (i + 0.5) * step, y_log(c, top_channels, top1)) for i, c in enumerate(chans)]
    out.append(polyline(points, "#ea580c"))
    field_rows = [(i, f) for i, f in enumerate(fields) if f]
    top_field = power_above(max([f for _, f in field_rows] + [2]))
    out.append(axes(top2, top_field, "receptive field (pixels)", left=True))
    field_points = [(LEFT + (i + 0.5) * step, y_log(f, top_field, top2)) for i, f in field_rows]
    if field_points:
        out.append(polyline(field_points, "#16a34a"))
    every = max(1, math.ceil(count_rows / 60))
    for i, row in enumerate(rows):
        if i % every == 0:
            x = LEFT + (i + 0.5) * step
            out.append(text(x, top2 + PANEL_H + 12, fit(visible(row.name), 170), size=10, fill="#374151", anchor="end", rotate=-60))
    out.append("</svg>\n")
    return "\n".join(out)


def power_above(value: int) -> int:
    """The axis top: the smallest power of two at least the value."""
    return 2 ** math.ceil(math.log2(max(value, 2)))


def axes(panel_top: float, top: float, label: str, left: bool) -> str:
    """A log 2 axis with ticks at powers of two, and the panel's frame."""
    x = LEFT if left else LEFT + PLOT_W
    parts = []
    if left:
        parts.append(
            f'<rect x="{LEFT}" y="{panel_top:.1f}" width="{PLOT_W}" height="{PANEL_H}" fill="none" stroke="#d1d5db"/>'
        )
    power = 0
    limit = math.log2(max(top, 2))
    while power <= limit:
        y = panel_top + PANEL_H - PANEL_H * power / limit
        parts.append(f'<line x1="{x - 4 if left else x}" y1="{y:.1f}" x2="{x if left else x + 4}" y2="{y:.1f}" stroke="#6b7280"/>')
        parts.append(text(x - 7 if left else x + 7, y + 4, str(2**power), size=10, fill="#374151", anchor="end" if left else "start"))
        power += 1 if limit <= 12 else 2
    label_x = 16 if left else LEFT + PLOT_W + RIGHT_AXIS - 12
    parts.append(text(label_x, panel_top + PANEL_H / 2, label, size=11, fill="#374151", anchor="middle", rotate=-90))
    return "\n".join(parts)


def polyline(points, colour: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.8"/>' + dots
