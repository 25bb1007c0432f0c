"""Pictures of a network as SVG (`cnncalc diagram`): the graph, and the funnel.

The graph: one box per layer (or per block instance, folded as in `summary --depth`),
top to bottom in the file's order, with its output shape and parameters. A branch gets a
column of its own; an edge between neighbouring rows is drawn in the gap between them,
and a longer one (a skip connection) in a lane of its own to the right of every box, so
no edge crosses a box. Unfolded block instances are drawn as labelled frames.

The funnel: per row, the feature map's spatial size and its channels (log scale), and
below it the receptive field's growth.

Plain SVG text, no dependency: sizes come from a monospace font of known width.
Names from the file are shown through `escape.visible` and written as XML character data
(`escape.xml_text`): no name makes the SVG ill-formed or reorders what is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..analysis.summary import Row, Summary, fold
from ..errors import CnnError
from ..files import save_text, write_atomically
from ..graph import INPUT, Network
from ..units import human, shape_text
from .escape import visible, xml_text

FONT = 12
CHAR = 7.3  # width of one character of a 12 px monospace font
BOX_W, BOX_H = 300, 42
ROW_GAP, COL_GAP, LANE_GAP = 24, 36, 12
MARGIN, TITLE = 24, 44
FRAME_TOP, FRAME_BOTTOM, FRAME_INSET = 22, 8, 10
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


@dataclass
class Box:
    name: str
    title: str
    detail: str
    family: str
    row: int
    column: int = 0
    x: float = 0
    y: float = 0
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


def default_depth(summary: Summary) -> int | None:
    """The deepest folding with at most MAX_BOXES boxes (None: every layer)."""
    levels = sorted({g.level for g in summary.groups})
    if len(summary.layers) <= MAX_BOXES or not levels:
        return None
    best = 0
    for depth in range(0, max(levels) + 1):
        if len(fold(summary, depth)) <= MAX_BOXES:
            best = depth
    return best


def boxes_of(network: Network, summary: Summary, depth: int | None) -> list[Box]:
    rows = fold(summary, depth)
    shown = {row.name for row in rows}
    owner: dict[str, str] = {}  # layer name -> the box it is drawn in
    for row in summary.layers:
        parts = row.name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(len(parts), 0, -1))
        owner[row.name] = next(p for p in prefixes if p in shown)
    for name in network.inputs:
        owner[name] = name
    for node, row in zip(network.nodes, summary.layers):  # the parts of a split are drawn in its box
        if isinstance(row.output_shape[0], tuple):
            owner.update({f"{node.name}.{i}": owner[node.name] for i in range(len(row.output_shape))})
    inputs: dict[str, list[str]] = {row.name: [] for row in rows}
    for node in network.nodes:
        box = owner[node.name]
        for source in node.inputs:
            source_box = owner[source]
            if source_box != box and source_box not in inputs[box]:
                inputs[box].append(source_box)
    families = {node.name: node.layer.family for node in network.nodes}
    boxes = [Box(name, visible(name), shape_text(shape), "input", index) for index, (name, shape) in enumerate(network.inputs.items())]
    for index, row in enumerate(rows, len(boxes)):
        family = families.get(row.name, "block")
        title = f"{visible(row.name)} · {visible(row.type)}"
        params = f" · {human(row.params)} params" if row.params else ""
        boxes.append(Box(row.name, title, shape_text(row.output_shape) + params, family, index, inputs=inputs[row.name]))
    return boxes


def fit(text: str, width: float) -> str:
    most = int((width - 16) / CHAR)
    return text if len(text) <= most else text[: most - 1] + "…"


def place_columns(boxes: list[Box]) -> None:
    """A box goes in its first input's column, unless that column still carries a value
    another box needs later; then into the first column that is free."""
    by_name = {b.name: b for b in boxes}
    last_use: dict[str, int] = {}
    for box in boxes:
        for source in box.inputs or ([boxes[box.row - 1].name] if box.row else []):
            last_use[source] = max(last_use.get(source, 0), box.row)
    holder: dict[int, str] = {}  # column -> the box whose value it carries
    for box in boxes:
        if box.row == 0:
            holder[0] = box.name
            continue
        if not box.inputs:
            box.inputs = [boxes[box.row - 1].name]
        first = by_name[box.inputs[0]]
        column = first.column
        current = holder.get(column)
        if current is not None and current != first.name and last_use.get(current, -1) > box.row:
            column = next(c for c in range(len(boxes)) if holder.get(c) is None or last_use.get(holder[c], -1) <= box.row)
        box.column = column
        holder[column] = box.name


def frames_of(summary: Summary, boxes: list[Box], depth: int | None):
    """Block instances shown unfolded: (name, kind, level, first row, last row)."""
    frames = []
    for group in summary.groups:
        if depth is not None and group.level > depth:
            continue
        rows = [b.row for b in boxes if b.name.startswith(group.name + ".")]
        if rows:
            frames.append((group.name, group.kind, group.level, min(rows), max(rows)))
    return frames


def graph_svg(network: Network, summary: Summary, depth: int | None = None) -> str:
    depth = default_depth(summary) if depth is None else depth
    boxes = boxes_of(network, summary, depth)
    place_columns(boxes)
    frames = frames_of(summary, boxes, depth)
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for _, _, _, first, last in frames:
        starts[first] = starts.get(first, 0) + 1
        ends[last] = ends.get(last, 0) + 1
    y = MARGIN + TITLE
    tops = []
    for box in boxes:
        y += starts.get(box.row, 0) * FRAME_TOP
        tops.append(y)
        y += BOX_H + ROW_GAP + ends.get(box.row, 0) * FRAME_BOTTOM
    columns = max(b.column for b in boxes) + 1
    for box in boxes:
        box.x = MARGIN + FRAME_INSET * 3 + box.column * (BOX_W + COL_GAP)
        box.y = tops[box.row]
    right = MARGIN + FRAME_INSET * 3 + columns * (BOX_W + COL_GAP) - COL_GAP + FRAME_INSET * 3
    by_name = {b.name: b for b in boxes}

    # Long edges get lanes: a lane is free again once the edge using it has arrived.
    edges = [(by_name[s], b) for b in boxes for s in b.inputs]
    lanes: list[int] = []  # lane -> last row it is busy until
    routes = []
    for source, target in sorted(edges, key=lambda e: (e[0].row, e[1].row)):
        if target.row == source.row + 1:
            routes.append((source, target, None))
            continue
        lane = next((i for i, busy in enumerate(lanes) if busy < source.row), None)
        if lane is None:
            lane = len(lanes)
            lanes.append(0)
        lanes[lane] = target.row
        routes.append((source, target, lane))
    width = right + LANE_GAP * (len(lanes) + 1) + MARGIN
    height = y + MARGIN

    out = [svg_open(width, height)]
    title = f"{visible(network.name or 'network')}: {human(summary.totals.params)} params, {human(summary.totals.macs)} MACs"
    out.append(text(MARGIN, MARGIN + 16, title, size=16, weight="bold"))
    for name, kind, level, first, last in sorted(frames, key=lambda f: f[2]):
        inset = FRAME_INSET * (3 - min(level, 3) + 1) - FRAME_INSET
        members = [b for b in boxes if first <= b.row <= last]
        left = min(b.x for b in members) - inset - FRAME_INSET
        edge = max(b.x for b in members) + BOX_W + inset + FRAME_INSET
        # Frames starting (ending) on the same row nest: the outer ones reach further out.
        top = tops[first] - FRAME_TOP * sum(1 for f in frames if f[3] == first and f[2] >= level)
        bottom = tops[last] + BOX_H + FRAME_BOTTOM * sum(1 for f in frames if f[4] == last and f[2] >= level)
        out.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{edge - left:.1f}" height="{bottom - top:.1f}" rx="8" '
            'fill="#f8fafc" stroke="#94a3b8" stroke-dasharray="4 3"/>'
        )
        out.append(text(left + 8, top + 15, fit(f"{visible(name)} · {visible(kind)}", edge - left), size=11, fill="#475569"))
    for source, target, lane in routes:
        out.append(route(source, target, lane, right))
    for box in boxes:
        fill, stroke = COLOURS.get(box.family, COLOURS["block"])
        dash = ' stroke-dasharray="6 3"' if box.family == "block" else ""
        out.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
        )
        out.append(text(box.x + 8, box.y + 17, fit(box.title, BOX_W), weight="bold"))
        out.append(text(box.x + 8, box.y + 34, fit(box.detail, BOX_W), fill="#374151"))
    out.append("</svg>\n")
    return "\n".join(out)


def route(source: Box, target: Box, lane: int | None, right: float) -> str:
    """Down from the source, into the top of the target, never across a box."""
    sx, sy = source.x + BOX_W / 2, source.y + BOX_H
    tx, ty = target.x + BOX_W / 2, target.y
    if lane is None:
        if source.column == target.column:
            points = [(sx, sy), (tx, ty)]
        else:
            middle = sy + (ty - sy) / 2
            points = [(sx, sy), (sx, middle), (tx, middle), (tx, ty)]
    else:
        lane_x = right + LANE_GAP * (lane + 1)
        start_y = source.y + BOX_H / 2
        gap_y = ty - ROW_GAP / 2
        points = [(source.x + BOX_W, start_y), (lane_x, start_y), (lane_x, gap_y), (tx, gap_y), (tx, ty)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
    colour = "#64748b" if lane is None else "#ea580c"
    return f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.4" marker-end="url(#arrow)"/>'


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
    rows: list[Row] = list(fold(summary, depth))
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
