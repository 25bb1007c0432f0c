"""The Python API: load a network, summarise it, read the records.

    import cnncalc
    net = cnncalc.load("examples/resnet50.yaml")
    s = cnncalc.summary(net, batch=1, dtype="float32")
    s.totals.params, s.layers[0].name, s.to_dict()
    print(s)               # the table; s._repr_html_() in a notebook
    d = cnncalc.diagram(net, direction="lr")   # an SVG picture; d._repr_svg_() in a notebook
    d.save("net.svg")

Every command of the CLI is this API followed by a renderer. Errors a user can cause are
`cnncalc.CnnError`, located in the text they come from (`str(error)` is the message
with its place; `error.render(cnncalc.sources())` adds the line and a caret).
"""

from __future__ import annotations

import os
from dataclasses import fields

from .analysis.summary import DTYPE_BYTES, Summary as Record, analyse
from .errors import CnnError
from .graph import Network
from .source.reading import SOURCES, Source, load_source, load_spec, parse


class Summary(Record):
    """The per-layer records and totals of a network (frozen, plain numbers).

    `layers` and `totals` hold the figures; `to_dict()` is `summary --format json`'s
    document, `str()` the table, `_repr_html_()` the table for notebooks.
    """

    def to_dict(self) -> dict:
        from .output.json import summary_json

        return summary_json(self)

    def __str__(self) -> str:
        from .output.text import to_table

        return to_table(self)

    def _repr_html_(self) -> str:
        from .output.text import to_html

        return to_html(self)


def load(path: str | os.PathLike, *, input_shape: tuple[int, ...] | str | None = None) -> Network:
    """The network in a YAML (.yaml/.yml) or DSL file, blocks expanded, checked."""
    shape = "x".join(map(str, input_shape)) if isinstance(input_shape, (tuple, list)) else input_shape
    return load_source(Source(os.fspath(path)), shape)


def loads(text: str, *, format: str | None = None, path: str = "<string>", input_shape=None) -> Network:
    """The network in YAML or DSL text. `format` is "yaml" or "dsl"; by default YAML when
    the text has a top-level `layers:` key."""
    if format not in (None, "yaml", "dsl"):
        raise CnnError(f"unknown format {format!r}; allowed: 'yaml', 'dsl' or None (detect)")
    spec = parse(text, path, None if format is None else format == "yaml")
    shape = tuple(input_shape) if input_shape is not None else None
    return load_spec(spec, shape)


def summary(network: Network, batch: int = 1, dtype: str = "float32") -> Summary:
    """Shapes, parameters, MACs, FLOPs, memory and receptive fields of every layer."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise CnnError(f"batch must be a positive integer; received {batch!r}")
    if dtype not in DTYPE_BYTES:
        raise CnnError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPE_BYTES)}")
    try:
        record = analyse(network, batch, dtype)
    except CnnError as error:  # a layout slip often shows first as a window that does not fit
        from .source.hints import layout_hints

        error.notes = (*error.notes, *layout_hints(network))
        raise
    return Summary(**{f.name: getattr(record, f.name) for f in fields(record)})


class Diagram:
    """A picture of a network as SVG text (`cnncalc diagram`'s): `str()` and `.svg` are
    the text, a notebook shows it (`_repr_svg_`), `save(path)` writes .svg (or .png with
    the extra cnncalc[png])."""

    def __init__(self, svg: str):
        self.svg = svg

    def __str__(self) -> str:
        return self.svg

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | os.PathLike) -> None:
        from .output.diagram import save_picture

        save_picture(os.fspath(path), self.svg)


def diagram(network: Network, view: str = "graph", *, depth: int | None = None, direction: str = "tb",
            labels: str = "full") -> Diagram:
    """The network's graph (layers as boxes, branches side by side; `direction` "tb" or
    "lr", `labels` "full", "shape" or "name") or its funnel (`view="funnel"`: sizes,
    channels and receptive field per layer). `depth` folds block instances as `summary
    --depth` does, every instance of a block alike (default: at most 40 boxes)."""
    from .output.diagram import Direction, Labels, funnel_svg, graph_svg

    def choice(name: str, value, allowed) -> None:
        if value not in allowed:
            raise CnnError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")

    choice("view", view, ("graph", "funnel"))
    choice("direction", direction, [d.value for d in Direction])
    choice("labels", labels, [lab.value for lab in Labels])
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise CnnError(f"depth must be a non-negative integer or None; received {depth!r}")
    record = summary(network)
    if view == "funnel":
        return Diagram(funnel_svg(network, record, depth))
    return Diagram(graph_svg(network, record, depth, Direction(direction), Labels(labels)))


def sources() -> dict[str, str]:
    """The texts read so far, by the path errors name (for `CnnError.render`)."""
    return SOURCES
