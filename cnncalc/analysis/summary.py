"""Analysis of a built network: per-layer records of plain numbers and their totals.

Costs are for the whole batch (MACs, FLOPs, memory); shapes are per sample. Rendering
(units, separators, colours) happens elsewhere; JSON is these records unformatted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..graph import INPUT, Network
from ..layers import Facts, Shape
from ..layers.base import product
from .field import FieldTracker, NoField, ReceptiveField

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: Shape  # a tuple of shapes for a layer with several outputs (split, chunk)
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
    shares: str | None = None  # the layer whose weights it applies (its params are counted there)
    on_output_path: bool = True  # False: no output depends on it (a Keras Model leaves it out)
    convention: str | None = None  # whose defaults its type takes where PyTorch's and Keras's differ
    no_field: NoField | None = None  # why receptive_field is None: global or undefined, and the reason

    @property
    def field_status(self) -> str:
        """local (receptive_field holds it), global or undefined."""
        if self.receptive_field is not None:
            return "local"
        return self.no_field.status if self.no_field is not None else "global"

    @property
    def field_note(self) -> str | None:
        """Why a field is global or undefined; for a local field that a gate's global
        context also reaches, which value brings it."""
        if self.no_field is not None:
            return self.no_field.reason
        context = self.receptive_field.context if self.receptive_field is not None else None
        return f"the field through the main path; global context also arrives through '{context}'" if context else None


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
    training_bytes: int | None  # one Adam step (analysis/training.py) in float32 or bfloat16; None in other types
    keras_trainable_params: int = 0  # what keras.Model.summary() says: layers on a path to an output
    keras_non_trainable_params: int = 0
    activation_peak_bytes: int = 0  # the most activations alive at once in a forward pass (inputs included)


@dataclass(frozen=True)
class Summary:
    name: str | None
    input_shape: Shape | None  # the only input's shape; None for a network of several inputs
    layout: str
    batch: int
    dtype: str
    layers: tuple[Row, ...]
    totals: Totals
    warnings: tuple[str, ...]
    groups: tuple = ()  # block instances (blocks.Group)
    inputs: tuple[tuple[str, Shape], ...] = ()  # every input, by name, in order
    outputs: tuple[str, ...] = ()  # the values the network returns


def value_shapes(network: Network):
    """Every layer's Facts and the shape of every value (inputs, layers, NAME.i)."""
    shapes: dict[str, Shape] = dict(network.inputs)
    for node in network.nodes:
        in_shapes = tuple(shapes[name] for name in node.inputs)
        facts = node.layer.infer(in_shapes, network.layout)
        if facts.outputs:
            shapes.update({f"{node.name}.{i}": shape for i, shape in enumerate(facts.outputs)})
        else:
            shapes[node.name] = facts.output_shape
        yield node, in_shapes, facts


def analyse(network: Network, batch: int = 1, dtype: str = "float32") -> Summary:
    """Shapes, parameters, costs, memory and receptive fields of every layer."""
    size = DTYPE_BYTES[dtype]
    fields = FieldTracker(network)
    rows, warnings = [], list(network.warnings)
    needed = on_output_paths(network)
    weights: dict[str, dict] = {}
    steps = list(value_shapes(network))
    for node, in_shapes, facts in steps:
        weights[node.name] = facts.params
        if node.share and facts.params != weights[node.share]:
            theirs = ", ".join(f"{k} {v}" for k, v in weights[node.share].items())
            mine = ", ".join(f"{k} {v}" for k, v in facts.params.items())
            raise node.layer.fail(
                f"shares the weights of '{node.share}' ({theirs}), but its input needs {mine}; received input "
                f"{node.layer.received(in_shapes[0])}; allowed: an input that fits the shared weights"
            )
        warnings.extend(facts.warnings)
        field = fields.step(node.name, node.inputs, in_shapes, facts, warnings)
        rows.append(make_row(node, facts, batch, size, field, node.name in needed))
    totals = total(rows, network.inputs.values(), batch, size)
    totals = replace(totals, activation_peak_bytes=activation_peak(network, batch, size, steps),
                     training_bytes=training_bytes(network, batch, dtype, steps))
    single = next(iter(network.inputs.values())) if len(network.inputs) == 1 else None
    return Summary(
        network.name, single, network.layout.name, batch, dtype, tuple(rows), totals, tuple(warnings), network.groups,
        tuple(network.inputs.items()), network.outputs,
    )


def on_output_paths(network: Network) -> set[str]:
    """The layers some output depends on, and the layers whose weights such a layer applies
    (share:): what a Keras Model built from the inputs to the outputs holds."""
    layer_of = {node.name: node for node in network.nodes}
    needed = {value if value in layer_of else value.rpartition(".")[0] for value in network.outputs}
    for node in reversed(network.nodes):
        if node.name in needed:
            needed.update(value if value in layer_of else value.rpartition(".")[0] for value in node.inputs)
    owners = {layer_of[name].share for name in needed if name in layer_of and layer_of[name].share}
    return needed | owners  # an owner's weights are held; what it reads itself is not


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
        no_field=last.no_field,
    )


def make_row(node, facts: Facts, batch: int, size: int, field, on_output_path: bool = True) -> Row:
    """A layer's figures. A layer applying another's weights (share:) counts none of its
    own: they are the other layer's, counted there once; its MACs and FLOPs count here."""
    params, stats = (0, 0) if node.share else (facts.param_count, facts.buffer_count)
    trainable = params if node.trainable else 0
    shapes = facts.outputs or (facts.output_shape,)
    return Row(
        name=node.name,
        type=node.layer.type_name,
        inputs=node.inputs,
        output_shape=facts.outputs or facts.output_shape,
        params=params,
        trainable_params=trainable,
        non_trainable_params=params - trainable + stats,
        running_stats=stats,
        macs=facts.macs * batch,
        flops=facts.flops * batch,
        memory_bytes=sum(product(shape) for shape in shapes) * batch * size,
        receptive_field=field if isinstance(field, ReceptiveField) else None,
        weights=() if node.share else tuple(facts.params.items()),
        buffers=() if node.share else tuple(facts.buffers.items()),
        shares=node.share,
        on_output_path=on_output_path,
        convention=node.layer.convention,
        no_field=field if isinstance(field, NoField) else None,
    )


def total(rows: list[Row], input_shapes, batch: int, size: int) -> Totals:
    def add(attr: str, only_used: bool = False) -> int:
        return sum(getattr(row, attr) for row in rows if row.on_output_path or not only_used)

    params, stats = add("params"), add("running_stats")
    input_bytes = sum(product(shape) for shape in input_shapes) * batch * size
    activation_bytes = add("memory_bytes")
    param_bytes = (params + stats) * size
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
        training_bytes=None,
        keras_trainable_params=add("trainable_params", only_used=True),
        keras_non_trainable_params=add("non_trainable_params", only_used=True),
    )


def training_bytes(network: Network, batch: int, dtype: str, steps=None) -> int | None:
    """One training step with Adam (`cnncalc train`'s total_bytes): in float32 (fp32) or
    bfloat16 (bf16); None for the other types, which that model does not cover, and for a
    network with a layer type that has not declared what its backward keeps."""
    precision = {"float32": "fp32", "bfloat16": "bf16"}.get(dtype)
    if precision is None:
        return None
    from ..layers.base import Undeclared
    from .training import train  # training builds on this module's value_shapes

    try:
        return train(network, batch, "adam", precision, steps).totals.total_bytes
    except Undeclared:  # a type that has not declared what its backward keeps: `train` says which
        return None


def activation_peak(network: Network, batch: int, size: int, steps=None) -> int:
    """The most activation bytes alive at once in a forward pass, layers run in the file's
    order: the inputs (their caller holds them) and every value from the moment its layer
    makes it until its last reader has run (outputs until the end); a layer's output that
    is its input's memory at inference (a view, eval-mode dropout) takes none of its own."""
    readers: dict[str, int] = {}
    for node in network.nodes:
        for value in node.inputs:
            readers[value] = readers.get(value, 0) + 1
    kept = set(network.outputs) | set(network.inputs)
    storage = {name: name for name in network.inputs}
    sizes = {name: product(shape) * batch * size for name, shape in network.inputs.items()}
    holders = dict.fromkeys(sizes, 1)
    live = peak = sum(sizes.values())

    def release(value: str) -> None:
        nonlocal live
        key = storage.pop(value)
        holders[key] -= 1
        if holders[key] == 0:
            live -= sizes[key]

    for node, in_shapes, facts in steps if steps is not None else value_shapes(network):
        outputs = facts.outputs or (facts.output_shape,)
        names = [f"{node.name}.{i}" for i in range(len(outputs))] if facts.outputs else [node.name]
        view = node.layer.inference_view(in_shapes, network.layout)
        for value, shape in zip(names, outputs):
            key = storage[node.inputs[0]] if view else value
            if not view:
                sizes[key] = product(shape) * batch * size
                live += sizes[key]
            storage[value] = key
            holders[key] = holders.get(key, 0) + 1
        peak = max(peak, live)
        for value in node.inputs:
            readers[value] -= 1
            if readers[value] == 0 and value not in kept and value in storage:
                release(value)
        for value in names:  # read by nobody: freed at once
            if readers.get(value, 0) == 0 and value not in kept:
                release(value)
    return peak
def conventions(summary: Summary) -> dict[str, tuple[str, ...]]:
    """The layers whose type takes Keras's or PyTorch's defaults where the two differ, by
    convention ("keras", "pytorch"); empty unless some layer takes Keras's (cnncalc's own
    spellings take PyTorch's, which a file written PyTorch's way need not be told)."""
    found: dict[str, list[str]] = {}
    for row in summary.layers:
        if row.convention is not None:
            found.setdefault(row.convention, []).append(row.name)
    if "keras" not in found:
        return {}
    return {key: tuple(found[key]) for key in sorted(found)}


def covering_layer(summary: Summary) -> str | None:
    """The layer from which on every layer's output positions each see the whole input (or
    mix it all): the first of the last run of such layers. An undefined field covers
    nothing; a side branch that covers (a squeeze-excitation gate's pooling) starts no run
    when the main path after it does not."""
    if not any(len(shape) > 1 for _, shape in summary.inputs):
        return None
    first = None
    for row in reversed(summary.layers):
        if not (row.field_status == "global" or (row.receptive_field and row.receptive_field.covers)):
            break
        first = row.name
    return first
