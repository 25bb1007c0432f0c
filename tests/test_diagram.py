"""`cnncalc diagram`: every example drawn in both views; the graph is checked as geometry
(every box present, none overlapping, no edge crossing a box, every edge ending on its
target), the funnel as data (one point per row)."""

from __future__ import annotations

import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.analysis import fold
from cnncalc.cli import main
from cnncalc.output.diagram import BOX_H, BOX_W, default_depth, funnel_svg, graph_svg

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def boxes_and_paths(svg: str):
    root = ET.fromstring(svg)
    boxes = [
        tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
        for r in root.iter(SVG + "rect")
        if r.get("rx") == "6"
    ]
    paths = []
    for p in root.iter(SVG + "path"):
        if p.get("marker-end"):
            paths.append([tuple(map(float, xy.split(","))) for xy in re.findall(r"[ML]([\d.]+,[\d.]+)", p.get("d"))])
    titles = [t.text for t in root.iter(SVG + "text") if t.get("font-weight") == "bold"]
    return boxes, paths, titles


def crosses(a, b, box) -> bool:
    """Does the axis-parallel segment a-b pass through the inside of the box?"""
    x, y, w, h = box
    left, right, top, bottom = x + 1, x + w - 1, y + 1, y + h - 1
    if a[0] == b[0]:  # vertical
        return left < a[0] < right and min(a[1], b[1]) < bottom and max(a[1], b[1]) > top
    return top < a[1] < bottom and min(a[0], b[0]) < right and max(a[0], b[0]) > left


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("depth", ["default", "all"])
def test_graph_boxes_and_edges(path, depth):
    net = cnncalc.load(path)
    summary = cnncalc.summary(net)
    level = default_depth(summary) if depth == "default" else None
    svg = graph_svg(net, summary, level if depth == "default" else 99)
    boxes, paths, titles = boxes_and_paths(svg)
    rows = fold(summary, level if depth == "default" else None)
    assert len(boxes) == len(rows) + len(net.inputs)  # and a box per input
    for row in rows:
        assert any(t.startswith(row.name[:20]) for t in titles), row.name
    for i, a in enumerate(boxes):
        assert (a[2], a[3]) == (BOX_W, BOX_H)
        for b in boxes[i + 1 :]:
            assert a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1] or a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0]
    for points in paths:
        end = points[-1]
        assert any(abs(end[1] - y) < 0.2 and x <= end[0] <= x + w for x, y, w, h in boxes), "an edge ends on a box top"
        for a, b in zip(points, points[1:]):
            assert a[0] == b[0] or a[1] == b[1], "edges are horizontal and vertical segments"
            hit = [box for box in boxes if crosses(a, b, box)]
            assert not hit, f"segment {a}-{b} crosses a box at {hit}"


def test_unet_draws_its_four_skip_connections():
    net = cnncalc.load(EXAMPLES[0].parent / "unet.yaml")
    summary = cnncalc.summary(net)
    _, paths, _ = boxes_and_paths(graph_svg(net, summary, 0))
    long_edges = [p for p in paths if len(p) == 5]  # out to a lane, down, back in
    assert len(long_edges) == 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_funnel_has_a_point_per_row(path):
    net = cnncalc.load(path)
    summary = cnncalc.summary(net)
    if len(net.inputs) > 1:  # sizes along one path from one input: refused, with the reason
        with pytest.raises(cnncalc.CnnError, match="this needs a network with one input"):
            funnel_svg(net, summary)
        return
    root = ET.fromstring(funnel_svg(net, summary))
    rows = fold(summary, default_depth(summary))
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
