"""The columns of every per-layer output, as data (after torchinfo's formatting.py).

A column is a member of `Column` (its value is the key used as a CSV header and a JSON
key); `COLUMNS` holds its title, its kind of value and how to read that value from a record.
A kind's notation in each medium is one entry of `NOTATION`, so a shape is `(3, 224, 224)`
in tables, markdown and HTML, `3x224x224` in CSV and a list in JSON, in every command.
A command's columns per medium are a `View` (`SUMMARY`, `RF`, `RUN`); a renderer walks
its view and never names a column's notation itself.

User text (names, block kinds) is made inert by the notation of NAME and TEXT, through
`escape` (see there for each medium's rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from html import escape as html_escape
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from ..analysis.field import ReceptiveField
from ..analysis.summary import Summary, Totals, covering_layer
from ..units import human, number, per_dim_text, shape_list, shape_text, size_text
from .escape import csv_text, markdown_code, markdown_text, visible


class Medium(Enum):
    """Where cells end up: the formats of `--format`, and HTML for notebooks."""

    TERMINAL = "table"
    MARKDOWN = "markdown"
    HTML = "html"
    CSV = "csv"
    JSON = "json"


class Kind(Enum):
    """What a column holds, which decides its notation."""

    NAME = "name"  # user text naming a layer: code in markdown
    TEXT = "text"  # user or registry text: prose in markdown
    NAMES = "names"  # several names
    SHAPE = "shape"  # a tuple of sizes
    COUNT = "count"  # an exact integer: params, MACs, bytes
    PER_DIM = "per dim"  # one number per spatial axis (exact fractions)
    FIELD_SIZE = "field size"  # r per axis, marked GATED where a gate's global context also arrives; or global / undefined
    FIELD = "field"  # a whole receptive field (JSON only)
    FLAG = "flag"  # a bool or None (JSON only)
    MEASURED = "measured"  # (measured size per axis or None, agrees) from rf --verify
    VERDICT = "verdict"  # a shape check's outcome
    SECONDS = "seconds"  # a duration


def count_text(n: int) -> str:
    return human(n) if n else "-"


def exact(n: int) -> str:
    return f"{n:,}"


def field_json(field: ReceptiveField | None) -> dict | None:
    if field is None:
        return None
    return {
        "size": list(field.size),
        "stride": [number(s) for s in field.stride],
        "padding": [number(p) for p in field.padding],
        "center": [number(c) for c in field.center],
        "global_context": field.context,
    }


# After r: the field is the main path's, and a gate seeing the whole input (squeeze-excitation) also reaches the layer.
GATED = "+g"


def field_size_text(value, marked: bool = True) -> str:
    """`7`, `7x5`, `7+g` (through the main path, a global gate beside it), `global`, `undefined`."""
    if isinstance(value, str):
        return value
    size, gated = value
    return per_dim_text(size) + (GATED if gated and marked else "")


def gated_note(summary: Summary, quote=None) -> str | None:
    """The footnote for GATED, naming the first gate and the layer where it joins; None
    when no layer has one."""
    quote = quote or visible
    first = next((row for row in summary.layers if row.receptive_field and row.receptive_field.context), None)
    if first is None:
        return None
    return (f"{GATED}: the field through the main path; a gate seeing the whole input (squeeze-excitation) "
            f"joins it: first '{quote(first.receptive_field.context)}' at '{quote(first.name)}'")


def measured_text(measured: tuple) -> str:
    """`5 ok`, `5x3 DIFFERS`, `- ok` (no position clear of the borders), `global ok`."""
    size, agrees = measured
    if size is None:
        shown = "global"
    elif len(set(size)) == 1:
        shown = "-" if size[0] is None else str(size[0])
    else:
        shown = "x".join("-" if v is None else str(v) for v in size)
    return shown + (" ok" if agrees else " DIFFERS")


def measured_json(measured: tuple) -> dict:
    size, agrees = measured
    return {"size": None if size is None else list(size), "agrees": agrees}


def html_text(text: str) -> str:
    return html_escape(visible(text))


def same(value):
    return value


# NOTATION[kind][medium]: the value as that medium writes it. A kind absent from a medium
# is never shown there.
NOTATION: Mapping[Kind, Mapping[Medium, Callable[[Any], Any]]] = {
    Kind.NAME: {Medium.TERMINAL: visible, Medium.MARKDOWN: markdown_code, Medium.HTML: html_text,
                Medium.CSV: csv_text, Medium.JSON: same},
    Kind.TEXT: {Medium.TERMINAL: visible, Medium.MARKDOWN: markdown_text, Medium.HTML: html_text,
                Medium.CSV: csv_text, Medium.JSON: same},
    Kind.NAMES: {Medium.TERMINAL: lambda names: ", ".join(map(visible, names)),
                 Medium.MARKDOWN: lambda names: ", ".join(map(markdown_code, names)),
                 Medium.HTML: lambda names: ", ".join(map(html_text, names)),
                 Medium.CSV: lambda names: csv_text(" ".join(names)), Medium.JSON: list},
    Kind.SHAPE: {Medium.TERMINAL: shape_text, Medium.MARKDOWN: shape_text, Medium.HTML: shape_text,
                 Medium.CSV: size_text, Medium.JSON: shape_list},
    Kind.COUNT: {Medium.TERMINAL: count_text, Medium.MARKDOWN: exact, Medium.HTML: exact,
                 Medium.CSV: same, Medium.JSON: same},
    Kind.FIELD_SIZE: {Medium.TERMINAL: field_size_text, Medium.MARKDOWN: field_size_text, Medium.HTML: field_size_text,
                      Medium.CSV: lambda value: field_size_text(value, marked=False),
                      Medium.JSON: lambda value: value if isinstance(value, str) else [number(v) for v in value[0]]},
    Kind.PER_DIM: {Medium.TERMINAL: per_dim_text, Medium.MARKDOWN: per_dim_text, Medium.HTML: per_dim_text,
                   Medium.CSV: per_dim_text, Medium.JSON: lambda values: [number(v) for v in values]},
    Kind.FIELD: {Medium.JSON: field_json},
    Kind.FLAG: {Medium.JSON: same},
    Kind.MEASURED: {Medium.TERMINAL: measured_text, Medium.MARKDOWN: measured_text, Medium.HTML: measured_text,
                    Medium.CSV: measured_text, Medium.JSON: measured_json},
    Kind.VERDICT: {Medium.TERMINAL: lambda ok: "ok" if ok else "MISMATCH", Medium.JSON: same},
    Kind.SECONDS: {Medium.TERMINAL: lambda s: f"{s * 1000:.2f}", Medium.JSON: lambda s: round(s, 6)},
}
RIGHT_ALIGNED = frozenset({Kind.COUNT, Kind.PER_DIM, Kind.FIELD_SIZE, Kind.MEASURED, Kind.SECONDS})


@dataclass(frozen=True)
class Context:
    """What a row's cells may need beyond the row: the first layer whose field covers the
    input, and `rf --verify`'s measurements by layer name."""

    covering: str | None = None
    measured: Mapping[str, tuple] | None = None

    @classmethod
    def of(cls, summary: Summary, measured: Mapping[str, tuple] | None = None) -> Context:
        return cls(covering_layer(summary), measured)


def field_part(part: str) -> Callable[[Any, Context], Any]:
    """One of the receptive field's per-axis tuples; None where the layer mixes every position."""

    def read(row, context: Context):
        receptive_field = row.receptive_field
        return None if receptive_field is None else getattr(receptive_field, part)

    return read


def field_size(row, context: Context):
    """(r per axis, whether a global gate also reaches the layer), or `global` / `undefined`."""
    receptive_field = row.receptive_field
    if receptive_field is None:
        return row.field_status
    return receptive_field.size, receptive_field.context is not None


def field_status(row, context: Context) -> str:
    return row.field_status


def field_note(row, context: Context) -> str | None:
    return row.field_note


def global_context(row, context: Context) -> str | None:
    return row.receptive_field.context if row.receptive_field is not None else None


def covers_input(row, context: Context) -> bool | None:
    """True/False where the layer has a field; for a layer that mixes every position, True
    on the covering layer and null after it."""
    if row.receptive_field is not None:
        return row.receptive_field.covers
    return row.name == context.covering or None


def measured(row, context: Context) -> tuple | None:
    return None if context.measured is None else context.measured.get(row.name)


@dataclass(frozen=True)
class Spec:
    title: str  # the header in tables, markdown and HTML (a view may rename it)
    kind: Kind
    value: str | Callable[[Any, Context], Any]  # the record's attribute, or a function of (record, context); None: no value
    missing: str = ""  # the text shown for None
    total: Callable[[Totals], int] | None = None  # the column's figure in the totals
    omitted_when_none: bool = False  # JSON leaves the key out rather than writing null

    @property
    def right(self) -> bool:
        return self.kind in RIGHT_ALIGNED


class Column(Enum):
    """Every per-layer column of every command; the value is the CSV header and JSON key."""

    NAME = "name"
    TYPE = "type"
    INPUTS = "inputs"
    OUTPUT_SHAPE = "output_shape"
    PARAMS = "params"
    TRAINABLE_PARAMS = "trainable_params"
    NON_TRAINABLE_PARAMS = "non_trainable_params"
    RUNNING_STATS = "running_stats"
    MACS = "macs"
    FLOPS = "flops"
    MEMORY_BYTES = "memory_bytes"
    RECEPTIVE_FIELD = "receptive_field"
    RF_STATUS = "receptive_field_status"
    RF_NOTE = "receptive_field_note"
    RF_CONTEXT = "rf_global_context"
    RF_SIZE = "rf_size"
    RF_STRIDE = "rf_stride"
    RF_PADDING = "rf_padding"
    RF_CENTER = "rf_center"
    COVERS_INPUT = "covers_input"
    MEASURED = "measured"
    EXPECTED_SHAPE = "expected_shape"
    SHAPE = "shape"
    OK = "ok"
    SECONDS = "seconds"


def counted(title: str, name: str, total: str | None = None) -> Spec:
    """A count read from the record's `name`, whose figure in the totals is `total`'s."""
    return Spec(title, Kind.COUNT, name, total=attrgetter(total or name))


C = Column
COLUMNS: Mapping[Column, Spec] = MappingProxyType({
    C.NAME: Spec("layer", Kind.NAME, "name"),
    C.TYPE: Spec("type", Kind.TEXT, "type"),  # a block's name where instances are folded
    C.INPUTS: Spec("inputs", Kind.NAMES, "inputs"),
    C.OUTPUT_SHAPE: Spec("output", Kind.SHAPE, "output_shape"),
    C.PARAMS: counted("params", "params"),
    C.TRAINABLE_PARAMS: counted("trainable", "trainable_params"),
    C.NON_TRAINABLE_PARAMS: counted("non-trainable", "non_trainable_params"),
    C.RUNNING_STATS: counted("running stats", "running_stats"),
    C.MACS: counted("MACs", "macs"),
    C.FLOPS: counted("FLOPs", "flops"),
    C.MEMORY_BYTES: counted("memory", "memory_bytes", total="activation_bytes"),
    C.RECEPTIVE_FIELD: Spec("receptive field", Kind.FIELD, "receptive_field"),
    C.RF_STATUS: Spec("field", Kind.TEXT, field_status),
    C.RF_NOTE: Spec("note", Kind.TEXT, field_note),
    C.RF_CONTEXT: Spec("global context", Kind.NAME, global_context),
    C.RF_SIZE: Spec("r", Kind.FIELD_SIZE, field_size),
    C.RF_STRIDE: Spec("S", Kind.PER_DIM, field_part("stride")),
    C.RF_PADDING: Spec("P", Kind.PER_DIM, field_part("padding")),
    C.RF_CENTER: Spec("centre", Kind.PER_DIM, field_part("center")),
    C.COVERS_INPUT: Spec("covers input", Kind.FLAG, covers_input),
    C.MEASURED: Spec("measured", Kind.MEASURED, measured, omitted_when_none=True),
    C.EXPECTED_SHAPE: Spec("expected", Kind.SHAPE, "expected_shape"),
    C.SHAPE: Spec("real", Kind.SHAPE, "shape"),
    C.OK: Spec("", Kind.VERDICT, "ok"),
    C.SECONDS: Spec("ms", Kind.SECONDS, "seconds"),
})


@dataclass(frozen=True)
class View:
    """The columns one command shows in one medium, and the titles it gives them where
    they differ from `COLUMNS`'s."""

    columns: tuple[Column, ...]
    titles: Mapping[Column, str] = field(default_factory=dict)

    def title(self, column: Column) -> str:
        return self.titles.get(column, COLUMNS[column].title)

    @property
    def headers(self) -> list[str]:
        return [self.title(column) for column in self.columns]

    @property
    def right(self) -> tuple[int, ...]:
        return tuple(i for i, column in enumerate(self.columns) if COLUMNS[column].right)

    def without(self, *columns: Column) -> View:
        return View(tuple(c for c in self.columns if c not in columns), self.titles)

    def cells(self, medium: Medium, context: Context = Context()) -> Callable[[Any], list]:
        """A function from a record to its cells as `medium` writes them."""
        readers = [cell_reader(column, medium, context) for column in self.columns]
        return lambda row: [read(row) for read in readers]

    def total_cells(self, totals: Totals, medium: Medium, label: str) -> list:
        """The totals under the columns that have one, `label` under the name, else empty."""
        out = []
        for column in self.columns:
            spec = COLUMNS[column]
            if column is Column.NAME:
                out.append(label)
            elif spec.total is None:
                out.append("")
            else:
                out.append(NOTATION[spec.kind][medium](spec.total(totals)))
        return out

    def record(self, context: Context = Context()) -> Callable[[Any], dict]:
        """A function from a record to its JSON object, keys in the view's order; a key
        whose column is `omitted_when_none` left out when it has no value."""
        readers = [(column.value, cell_reader(column, Medium.JSON, context)) for column in self.columns]
        optional = {column.value for column in self.columns if COLUMNS[column].omitted_when_none}
        if not optional:
            return lambda row: {key: read(row) for key, read in readers}
        return lambda row: {key: value for key, read in readers if (value := read(row)) is not None or key not in optional}


def cell_reader(column: Column, medium: Medium, context: Context) -> Callable[[Any], Any]:
    """A function from a record to the column's value in the medium's notation; None as the
    column's `missing` text (JSON: null). Kept to one call per cell where it can: the
    renderers take 100,000 rows."""
    spec = COLUMNS[column]
    note = NOTATION[spec.kind][medium]
    missing = None if medium is Medium.JSON else spec.missing
    if isinstance(spec.value, str):
        get = attrgetter(spec.value)
        if note is same:
            return get
        return lambda row: missing if (plain := get(row)) is None else note(plain)
    value = spec.value
    return lambda row: missing if (plain := value(row, context)) is None else note(plain)


# -- each command's columns --------------------------------------------------------------------

SUMMARY_SHOWN = (C.NAME, C.TYPE, C.OUTPUT_SHAPE, C.PARAMS, C.MACS, C.RF_SIZE, C.RF_STRIDE)
SUMMARY_FIGURES = (C.NAME, C.TYPE, C.INPUTS, C.OUTPUT_SHAPE, C.PARAMS, C.TRAINABLE_PARAMS, C.NON_TRAINABLE_PARAMS,
                   C.RUNNING_STATS, C.MACS, C.FLOPS, C.MEMORY_BYTES)
SUMMARY: Mapping[Medium, View] = MappingProxyType({
    Medium.TERMINAL: View(SUMMARY_SHOWN, {C.RF_SIZE: "RF"}),
    Medium.HTML: View(SUMMARY_SHOWN, {C.RF_SIZE: "RF"}),
    Medium.MARKDOWN: View(SUMMARY_SHOWN, {C.OUTPUT_SHAPE: "output shape", C.RF_SIZE: "RF", C.RF_STRIDE: "RF stride"}),
    Medium.CSV: View(SUMMARY_FIGURES + (C.RF_SIZE, C.RF_STRIDE, C.RF_PADDING, C.RF_CONTEXT)),
    Medium.JSON: View(SUMMARY_FIGURES + (C.RECEPTIVE_FIELD, C.RF_STATUS, C.RF_NOTE)),
})

RF_SHOWN = (C.NAME, C.TYPE, C.OUTPUT_SHAPE, C.RF_SIZE, C.RF_STRIDE, C.RF_PADDING, C.RF_CENTER, C.MEASURED)
RF: Mapping[Medium, View] = MappingProxyType({
    Medium.TERMINAL: View(RF_SHOWN),
    Medium.MARKDOWN: View(RF_SHOWN),
    Medium.CSV: View(RF_SHOWN + (C.RF_CONTEXT,)),
    Medium.JSON: View((C.NAME, C.TYPE, C.OUTPUT_SHAPE, C.RECEPTIVE_FIELD, C.RF_STATUS, C.RF_NOTE, C.COVERS_INPUT, C.MEASURED)),
})

RUN: Mapping[Medium, View] = MappingProxyType({
    Medium.TERMINAL: View((C.NAME, C.TYPE, C.EXPECTED_SHAPE, C.SHAPE, C.OK, C.SECONDS)),
    Medium.JSON: View((C.NAME, C.EXPECTED_SHAPE, C.SHAPE, C.OK, C.SECONDS)),
})
