"""Analysis of a built network: per-layer records of plain numbers and their totals.

Costs are for the whole batch (MACs, FLOPs, memory); shapes are per sample. Rendering
(units, separators, colours) happens elsewhere; JSON is these records unformatted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import INPUT, Network
from ..layers import Facts, Shape
from ..layers.base import product
from .field import FieldTracker, ReceptiveField

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: Shape
    params: int
    trainable_params: int
    non_trainable_params: int
    running_stats: int
    macs: int
    flops: int
    memory_bytes: int  # this layer's output for the whole batch
    receptive_field: ReceptiveField | None
    weights: tuple[tuple[str, Shape], ...]  # learnable tensors, PyTorch names and shapes
    buffers: tuple[tuple[str, Shape], ...] = ()  # running statistics, PyTorch names and shapes


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    non_trainable_params: int
    running_stats: int
    macs: int
    flops: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int
    training_bytes: int


@dataclass(frozen=True)
class Summary:
    name: str | None
    input_shape: Shape
    layout: str
    batch: int
    dtype: str
    layers: tuple[Row, ...]
    totals: Totals
    warnings: tuple[str, ...]
    groups: tuple = ()  # block instances (blocks.Group)


def analyse(network: Network, batch: int = 1, dtype: str = "float32") -> Summary:
    """Shapes, parameters, costs, memory and receptive fields of every layer."""
    size = DTYPE_BYTES[dtype]
    shapes: dict[str, Shape] = {INPUT: network.input_shape}
    fields = FieldTracker(network)
    rows, warnings = [], []
    for node in network.nodes:
        in_shapes = tuple(shapes[name] for name in node.inputs)
        facts = node.layer.infer(in_shapes, network.layout)
        shapes[node.name] = facts.output_shape
        warnings.extend(facts.warnings)
        field = fields.step(node.name, node.inputs, in_shapes, facts, warnings)
        rows.append(make_row(node, facts, batch, size, field))
    totals = total(rows, network.input_shape, batch, size)
    return Summary(
        network.name, network.input_shape, network.layout.name, batch, dtype, tuple(rows), totals, tuple(warnings), network.groups
    )


def fold(summary: Summary, depth: int | None) -> tuple[Row, ...]:
    """Rows with every block instance nested deeper than `depth` folded into one row.

    Depth 0 folds each top-level instance into one row (its totals, its last layer's
    output shape and receptive field); None keeps every layer.
    """
    if depth is None or not summary.groups:
        return summary.layers
    folded: list[Row] = []
    members: dict[str, list[Row]] = {}
    at_level = {g.name: g for g in summary.groups if g.level == depth + 1}
    for row in summary.layers:
        parts = row.name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
        owner = next((at_level[p] for p in prefixes if p in at_level), None)
        if owner is None:
            folded.append(row)
            continue
        if owner.name not in members:
            members[owner.name] = []
            folded.append(Row(owner.name, owner.kind, (), (), 0, 0, 0, 0, 0, 0, 0, None, ()))  # placeholder
        members[owner.name].append(row)
    return tuple(merge_rows(row, members[row.name]) if row.name in members else row for row in folded)


def merge_rows(group: Row, rows: list[Row]) -> Row:
    def add(attr: str) -> int:
        return sum(getattr(r, attr) for r in rows)

    last = rows[-1]
    return Row(
        name=group.name,
        type=group.type,
        inputs=rows[0].inputs,
        output_shape=last.output_shape,
        params=add("params"),
        trainable_params=add("trainable_params"),
        non_trainable_params=add("non_trainable_params"),
        running_stats=add("running_stats"),
        macs=add("macs"),
        flops=add("flops"),
        memory_bytes=add("memory_bytes"),
        receptive_field=last.receptive_field,
        weights=tuple(w for r in rows for w in r.weights),
    )


def make_row(node, facts: Facts, batch: int, size: int, field) -> Row:
    params, stats = facts.param_count, facts.buffer_count
    trainable = params if node.trainable else 0
    return Row(
        name=node.name,
        type=node.layer.type_name,
        inputs=node.inputs,
        output_shape=facts.output_shape,
        params=params,
        trainable_params=trainable,
        non_trainable_params=params - trainable + stats,
        running_stats=stats,
        macs=facts.macs * batch,
        flops=facts.flops * batch,
        memory_bytes=product(facts.output_shape) * batch * size,
        receptive_field=field,
        weights=tuple(facts.params.items()),
        buffers=tuple(facts.buffers.items()),
    )


def total(rows: list[Row], input_shape: Shape, batch: int, size: int) -> Totals:
    def add(attr: str) -> int:
        return sum(getattr(row, attr) for row in rows)

    params, stats = add("params"), add("running_stats")
    input_bytes = product(input_shape) * batch * size
    activation_bytes = add("memory_bytes")
    param_bytes = (params + stats) * size
    # Training with Adam: weights, gradients and two moments per parameter; every layer's
    # output kept for the backward pass plus a gradient of the same size.
    training = 4 * params * size + stats * size + input_bytes + 2 * activation_bytes
    return Totals(
        params=params,
        trainable_params=add("trainable_params"),
        non_trainable_params=add("non_trainable_params"),
        running_stats=stats,
        macs=add("macs"),
        flops=add("flops"),
        input_bytes=input_bytes,
        activation_bytes=activation_bytes,
        param_bytes=param_bytes,
        training_bytes=training,
    )
