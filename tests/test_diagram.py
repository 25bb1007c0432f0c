"""`cnncalc diagram`: every example drawn in both views; the graph is checked as geometry
in both directions and at two depths (every box and edge present, no box overlapping
another, no edge crossing a box, every edge from its source's far side to its target's near
side, parallel branches on one row or column, the main path straight), the funnel as data
(one point per row)."""

from __future__ import annotations

import functools
import re
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import main
from cnncalc.output.diagram import Direction, Labels, boxes_of, default_depth, even_fold, funnel_svg, graph_layout, graph_svg
from cnncalc.output.escape import unvisible
from cnncalc.output.layout import main_path
from helpers import expected_text

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


@functools.lru_cache(maxsize=None)
def analysed(path: Path):
    net = cnncalc.load(path)
    return net, cnncalc.summary(net)


@dataclass
class Drawing:
    boxes: dict[str, tuple[float, float, float, float]]  # name -> x, y, width, height
    edges: list[tuple[str, str, list[tuple[float, float]]]]
    frames: list[tuple[float, float, float, float]]
    width: float
    height: float


def drawing(svg: str) -> Drawing:
    root = ET.fromstring(svg)
    boxes = {}
    for r in root.iter(SVG + "rect"):
        if r.get("class") == "box":
            assert r.get("data-name") not in boxes, "one box per name"
            boxes[unvisible(r.get("data-name"))] = tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
    frames = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for r in root.iter(SVG + "rect") if r.get("class") == "frame"]
    edges = []
    for p in root.iter(SVG + "path"):
        if p.get("class") == "edge":
            points = [tuple(map(float, xy.split(","))) for xy in re.findall(r"[ML]([-\d.]+,[-\d.]+)", p.get("d"))]
            edges.append((unvisible(p.get("data-from")), unvisible(p.get("data-to")), points))
    return Drawing(boxes, edges, frames, float(root.get("width")), float(root.get("height")))


def crosses(a, b, box) -> bool:
    """Does the axis-parallel segment a-b pass through the inside of the box?"""
    x, y, w, h = box
    left, right, top, bottom = x + 1, x + w - 1, y + 1, y + h - 1
    if a[0] == b[0]:  # vertical
        return left < a[0] < right and min(a[1], b[1]) < bottom and max(a[1], b[1]) > top
    return top < a[1] < bottom and min(a[0], b[0]) < right and max(a[0], b[0]) > left


def on_side(point, box, side: str) -> bool:
    x, y, w, h = box
    px, py = point
    if side in ("top", "bottom"):
        edge = y if side == "top" else y + h
        return abs(py - edge) < 0.2 and x <= px <= x + w
    edge = x if side == "left" else x + w
    return abs(px - edge) < 0.2 and y <= py <= y + h


def drawn_crossings(edges):
    """Pairs of edges (not sharing a source or target) whose segments cross."""
    hs, vs = [], []
    for k, (s, t, points) in enumerate(edges):
        for a, b in zip(points, points[1:]):
            if a[1] == b[1] and a[0] != b[0]:
                hs.append((a[1], min(a[0], b[0]), max(a[0], b[0]), k))
            elif a[0] == b[0] and a[1] != b[1]:
                vs.append((a[0], min(a[1], b[1]), max(a[1], b[1]), k))
    if not hs or not vs:
        return []
    H, V = numpy.array(hs), numpy.array(vs)
    hit = (H[:, None, 1] < V[None, :, 0]) & (V[None, :, 0] < H[:, None, 2]) & (V[None, :, 1] < H[:, None, 0]) & (H[:, None, 0] < V[None, :, 2])
    out = []
    for i, j in zip(*hit.nonzero()):
        e, f = edges[int(H[i, 3])], edges[int(V[j, 3])]
        if e[0] != f[0] and e[1] != f[1]:
            out.append((e[0], e[1], f[0], f[1]))
    return out


def check_geometry(net, summary, picture: Drawing, depth, direction: Direction) -> None:
    tb = direction is Direction.TB
    boxes = boxes_of(net, summary, depth)
    assert set(picture.boxes) == {b.name for b in boxes}  # every row and every input, once
    rects = list(picture.boxes.values())
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1] or a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0], (a, b)
    wanted = {(source, box.name) for box in boxes for source in box.inputs}
    assert {(s, t) for s, t, _ in picture.edges} == wanted  # every edge drawn, once
    for source, target, points in picture.edges:
        assert on_side(points[0], picture.boxes[source], "bottom" if tb else "right"), (source, points[0])
        assert on_side(points[-1], picture.boxes[target], "top" if tb else "left"), (target, points[-1])
        for a, b in zip(points, points[1:]):
            assert a[0] == b[0] or a[1] == b[1], "edges are horizontal and vertical segments"
            hit = [name for name, box in picture.boxes.items() if crosses(a, b, box)]
            assert not hit, f"edge {source} -> {target}: segment {a}-{b} crosses {hit}"
    # No two edges cross (every example can be drawn so; edges from one source or into one
    # target share their lines on purpose).
    assert drawn_crossings(picture.edges) == []
    # Parallel branches share a row (tb) or a column (lr): the boxes of one block instance
    # (or of the top level) fed by one box only. (A U-Net decoder's crop of an encoder's
    # output is not a branch beside the encoder: it is drawn in its decoder block.)
    fed_by: dict[tuple, list[str]] = {}
    for box in boxes:
        if len(box.inputs) == 1:
            block = max((g.name for g in summary.groups if box.name.startswith(g.name + ".")), key=len, default="")
            fed_by.setdefault((box.inputs[0], block), []).append(box.name)
    axis = 1 if tb else 0
    for source, branches in fed_by.items():
        assert len({picture.boxes[b][axis] for b in branches}) == 1, (source, branches)
    # The main path is straight.
    names = [b.name for b in boxes]
    main = main_path(names, [(source, box.name) for box in boxes for source in box.inputs])
    assert len({picture.boxes[n][1 - axis] for n in main}) == 1, main


# Left to right at the default depth only: the layout is the same, turned (time).
CASES = [(path, depth, Direction.TB) for path in EXAMPLES for depth in ("default", "all")]
CASES += [(path, "default", Direction.LR) for path in EXAMPLES]


@pytest.mark.parametrize("path, depth, direction", CASES, ids=lambda v: getattr(v, "stem", getattr(v, "value", v)))
def test_graph_geometry(path, depth, direction):
    net, summary = analysed(path)
    level = default_depth(summary) if depth == "default" else None
    svg = graph_svg(net, summary, level if depth == "default" else 99, direction)
    check_geometry(net, summary, drawing(svg), level, direction)


def test_tiny_resnet_edges_do_not_cross():
    """The issue's picture: in the second block the main path's lane crossed the shortcut's."""
    net, summary = analysed(EXAMPLES[0].parent / "tiny-resnet.yaml")
    _, placed = graph_layout(net, summary)
    assert placed.crossings == 0


def test_unet_draws_its_four_skip_connections_beside_the_path():
    net, summary = analysed(EXAMPLES[0].parent / "unet.yaml")
    boxes, placed = graph_layout(net, summary, 0)
    skips = [(s, t) for s, t, _ in placed.routes if placed.layer[t] - placed.layer[s] > 1]
    assert sorted(skips) == [(f"enc{i}", f"dec{i}") for i in range(1, 5)]
    assert placed.crossings == 0


def test_a_crossing_that_cannot_be_avoided_is_drawn_and_counted():
    """Three layers each reading all three of the layer before (K3,3): crossings are
    unavoidable, and the checker above sees them (so its silence on the examples means
    something)."""
    text = "input: [4, 8, 8]\nlayers:\n"
    for name in "abc":
        text += f"  - conv2d: {{out: 4, kernel: 1}}\n    name: {name}\n    from: input\n"
    for name, order in (("x", "a, b, c"), ("y", "c, a, b"), ("z", "b, c, a")):
        text += f"  - concat: [{order}]\n    name: {name}\n"
    text += "  - concat: [x, y, z]\n"
    net = cnncalc.loads(text)
    summary = cnncalc.summary(net)
    picture = drawing(graph_svg(net, summary))
    assert graph_layout(net, summary)[1].crossings == 9  # the fewest for K3,3 on two layers: 3 x 3 pairs
    assert drawn_crossings(picture.edges)


@st.composite
def random_graphs(draw):
    """A network of shape-keeping layers, each reading one or two earlier values (random
    branches, joins and skips), with random block instances to frame."""
    count = draw(st.integers(2, 14))
    lines = ["input: [2, 4, 4]", "layers:"]
    names = ["input"]
    for i in range(count):
        if len(names) > 2 and draw(st.booleans()):
            a, b = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
            lines += [f"  - add: [{a}, {b}]", f"    name: n{i}"]
        else:
            source = draw(st.sampled_from(names[-4:]))
            lines += ["  - conv2d: {out: 2, kernel: 1}", f"    name: n{i}", f"    from: {source}"]
        names.append(f"n{i}")
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.sampled_from(list(Direction)))
def test_any_graph_is_drawn_with_boxes_apart_and_edges_around_them(text, direction):
    net = cnncalc.loads(text)
    summary = cnncalc.summary(net)
    picture = drawing(graph_svg(net, summary, None, direction))
    tb = direction is Direction.TB
    rects = list(picture.boxes.values())
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1] or a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0], (a, b)
    for source, target, points in picture.edges:
        assert on_side(points[0], picture.boxes[source], "bottom" if tb else "right")
        assert on_side(points[-1], picture.boxes[target], "top" if tb else "left")
        for a, b in zip(points, points[1:]):
            assert a[0] == b[0] or a[1] == b[1]
            assert not [name for name, box in picture.boxes.items() if crosses(a, b, box)], (source, target, a, b)


def branches_net(modules: int, branches: int, length: int) -> str:
    """`modules` modules in a row, each `branches` parallel chains of `length` convolutions joined."""
    lines = ["input: [4, 8, 8]", "layers:", "  - conv2d: {out: 4, kernel: 1}", "    name: m"]
    previous = "m"
    for i in range(modules):
        ends = []
        for j in range(branches):
            for k in range(length):
                lines += ["  - conv2d: {out: 4, kernel: 3, padding: 1}", f"    name: m{i}b{j}l{k}"]
                if k == 0:
                    lines.append(f"    from: {previous}")
            ends.append(f"m{i}b{j}l{length - 1}")
        lines += [f"  - add: [{', '.join(ends)}]", f"    name: join{i}"]
        previous = f"join{i}"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("direction", Direction)
def test_size_follows_depth_and_width_not_branch_count(direction):
    def size(modules, branches, length):
        net = cnncalc.loads(branches_net(modules, branches, length))
        picture = drawing(graph_svg(net, cnncalc.summary(net), None, direction))
        return (picture.width, picture.height) if direction is Direction.TB else (picture.height, picture.width)

    across, along = size(2, 3, 2)
    four, six = size(4, 3, 2), size(6, 3, 2)  # more branches in all, in more modules: only deeper
    assert across == four[0] == six[0] and six[1] - four[1] == four[1] - along > 0
    deeper = size(2, 3, 4)
    assert deeper[0] == across and deeper[1] > along
    wider = size(2, 6, 2)
    assert wider[1] == along and wider[0] > 1.8 * across


def test_even_folding_folds_every_instance_of_a_block_alike():
    """GoogLeNet's `basic` block is used at the top level and inside every inception: at
    depth 1 every instance is one box (before, the stem's were open and the others shut)."""
    net, summary = analysed(EXAMPLES[0].parent / "googlenet.yaml")
    rows = {row.name: row for row in even_fold(summary, 1)}
    basics = [g.name for g in summary.groups if g.kind == "basic"]
    assert {1, 2} <= {g.level for g in summary.groups if g.kind == "basic"}
    assert all(name in rows and rows[name].type == "basic" for name in basics)
    assert "inception3a.concat_1" in rows  # the inceptions are open


def test_boxes_say_kernel_stride_and_shape():
    net = cnncalc.loads("input 3x32x32 | conv2d 8 k=3 s=2 p=1 | maxpool2d 2 | conv2d 8 k=(1,3) d=2")
    root = ET.fromstring(graph_svg(net, cnncalc.summary(net)))
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "kernel 3x3, stride 2" in texts and "kernel 2x2, stride 2" in texts
    assert "kernel 1x3, stride 1, dilation 2" in texts
    for row in cnncalc.summary(net).layers:  # the shapes are the summary's (tested against PyTorch elsewhere)
        assert any(t and t.startswith(str(row.output_shape)) for t in texts), row.output_shape
    fewer = [t.text for t in ET.fromstring(graph_svg(net, cnncalc.summary(net), labels=Labels.SHAPE)).iter(SVG + "text")]
    assert not any(t.startswith("kernel") for t in fewer) and any(t.startswith("(8, 16, 16)") for t in fewer)
    least = [t.text for t in ET.fromstring(graph_svg(net, cnncalc.summary(net), labels=Labels.NAME)).iter(SVG + "text")]
    assert not any(t.startswith("(") for t in least[1:])


def test_folded_blocks_say_their_stride():
    """The issue's question, which `inverted` block is the stride-2 one: a folded box says
    its instance's parameters, and those saying stride 2 are the ones that halve the map."""
    net, summary = analysed(EXAMPLES[0].parent / "mobilenetv2.yaml")
    boxes = {box.name: box for box in boxes_of(net, summary, 0)}
    shapes = {**{r.name: r.output_shape for r in even_fold(summary, 0)}, **dict(net.inputs)}
    checked = 0
    for group in summary.groups:
        if group.kind == "inverted":
            box = boxes[group.name]
            said = int(re.search(r"stride (\d+)", box.lines[1]).group(1))
            before, after = shapes[box.inputs[0]][1], shapes[group.name][1]
            assert said == (2 if after < before else 1) == dict(group.params)["stride"], (group.name, box.lines)
            checked += 1
    assert checked == 16


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_funnel_has_a_point_per_row(path):
    net, summary = analysed(path)
    if len(net.inputs) > 1:  # sizes along one path from one input: refused, with the reason
        with pytest.raises(cnncalc.CnnError, match="this needs a network with one input"):
            funnel_svg(net, summary)
        return
    root = ET.fromstring(funnel_svg(net, summary))
    rows = even_fold(summary, default_depth(summary))
    lines = list(root.iter(SVG + "polyline"))
    assert len(lines[0].get("points").split()) == len(rows)  # channels of every row
    fields = [r for r in rows if r.receptive_field and r.receptive_field.size]
    if fields:
        assert len(lines[1].get("points").split()) == len(fields)


def test_diagram_command_writes_svg_atomically(tmp_path):
    target = tmp_path / "net.svg"
    result = CliRunner().invoke(main, ["diagram", str(EXAMPLES[0]), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert ET.fromstring(target.read_text()).tag == SVG + "svg"
    assert target.read_text() == CliRunner().invoke(main, ["diagram", str(EXAMPLES[0])]).stdout  # the picture it prints
    assert [p.name for p in tmp_path.iterdir()] == ["net.svg"]


def test_png_goes_through_cairosvg(tmp_path, monkeypatch):
    calls = []
    fake = types.SimpleNamespace(svg2png=lambda bytestring: calls.append(bytestring) or b"\x89PNG fake")
    monkeypatch.setitem(sys.modules, "cairosvg", fake)
    target = tmp_path / "net.png"
    result = CliRunner().invoke(main, ["diagram", str(EXAMPLES[0]), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == b"\x89PNG fake" and calls[0].startswith(b"<svg")


def test_png_without_cairo_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import fails
    result = CliRunner().invoke(main, ["diagram", str(EXAMPLES[0]), "-o", str(tmp_path / "net.png")])
    assert result.exit_code == 2
    assert "pip install 'cnncalc[png]'" in result.output
    assert not list(tmp_path.iterdir())


def test_unknown_picture_format_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["diagram", str(EXAMPLES[0]), "-o", str(tmp_path / "net.gif")])
    assert result.exit_code == 2 and "allowed: a name ending in .svg or .png" in result.output


README_PICTURES = {  # the README's pictures and the commands it says drew them (unet.svg: test_readme)
    "docs/googlenet.svg": ["examples/googlenet.yaml", "--depth", "1"],
    "docs/resnet18.svg": ["examples/resnet18.yaml", "--depth", "2", "--labels", "shape"],
    "docs/siamese-lr.svg": ["examples/siamese.yaml", "--direction", "lr", "--labels", "shape"],
}


@pytest.mark.parametrize("picture", README_PICTURES)
def test_readme_pictures_are_fresh_drawings(picture, monkeypatch, overwrite):
    root = EXAMPLES[0].parent.parent
    monkeypatch.chdir(root)
    args = README_PICTURES[picture]
    readme = (root / "README.md").read_text()
    assert f"]({picture})" in readme and f"cnncalc diagram {' '.join(args)} -o {picture}" in readme
    drawn = CliRunner().invoke(main, ["diagram", *args]).stdout
    assert drawn == expected_text(root / picture, drawn, overwrite), picture


def test_api_diagram_is_the_command_s_picture_for_notebooks():
    net, _ = analysed(EXAMPLES[0].parent / "tiny-resnet.yaml")
    picture = cnncalc.diagram(net, direction="lr", labels="shape")
    command = CliRunner().invoke(main, ["diagram", str(EXAMPLES[0].parent / "tiny-resnet.yaml"), "--direction", "lr", "--labels", "shape"])
    assert picture._repr_svg_() == str(picture) == command.stdout
    assert cnncalc.diagram(net, "funnel")._repr_svg_() == CliRunner().invoke(
        main, ["diagram", str(EXAMPLES[0].parent / "tiny-resnet.yaml"), "--view", "funnel"]).stdout
    for wrong, message in (({"direction": "up"}, "unknown direction 'up'; allowed: 'tb', 'lr'"),
                           ({"labels": "all"}, "unknown labels 'all'; allowed: 'full', 'shape', 'name'"),
                           ({"view": "tree"}, "unknown view 'tree'; allowed: 'graph', 'funnel'"),
                           ({"depth": -1}, "depth must be a non-negative integer or None; received -1")):
        with pytest.raises(cnncalc.CnnError, match=re.escape(message)):
            cnncalc.diagram(net, **wrong)
