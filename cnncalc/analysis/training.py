"""What one training step holds and costs, layer by layer (`cnncalc train`).

Memory of a step = weights (with buffers) + gradients + optimizer state + what autograd
keeps for the backward pass (`saved`). Each layer type declares the tensors its backward
keeps (Layer.saved); here they are placed in storages, so that a tensor several layers
keep, or a view of another, counts once in the total:

- a layer's INPUT is the storage its input value lives in (a view shares its source's);
  under autocast, an op that casts its input keeps the cast copy, a storage of its own;
- OUTPUT is the layer's own output's storage; NEW a storage of its own;
- WEIGHT is not counted (weights are counted once as weights), except the half-precision
  copy autocast makes of a weight for a lowered op: trainable weights' copies are cached
  (one per weight per step), frozen weights' are made at every call.

A layer is recorded by autograd (and keeps anything) only when one of its inputs needs a
gradient or its own weights are trained: frozen layers before the first trainable one
keep nothing.

Precision: fp32; amp-fp16 and amp-bf16, torch.autocast on the CPU (fp32 master weights,
gradients and optimizer state; convolutions, linear layers and prelu in the half type, a
few ops in float32, every other op in the type of its inputs); bf16, everything in
bfloat16 (model.to(torch.bfloat16)).

Optimizer state per trained tensor, as torch.optim creates it: sgd none; momentum one
buffer; adam and adamw exp_avg and exp_avg_sq, and a float32 scalar `step`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CnnError, did_you_mean
from ..graph import Network
from ..layers.base import Grads, Keep, product
from .summary import on_output_paths, value_shapes

PRECISIONS = ("fp32", "amp-fp16", "amp-bf16", "bf16")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2, "int64": 8, "bool": 1}
HALF = {"amp-fp16": "float16", "amp-bf16": "bfloat16"}
STEP_BYTES = 4  # Adam's `step`: a float32 scalar tensor per trained tensor (not fused, not capturable)


@dataclass(frozen=True)
class TrainRow:
    name: str
    type: str
    saved_bytes: int  # the distinct storages this layer's backward keeps
    forward_flops: int
    backward_flops: int
    kept: tuple[tuple[object, int], ...]  # (storage, bytes) of each storage it keeps


@dataclass(frozen=True)
class TrainTotals:
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    saved_bytes: int
    total_bytes: int
    forward_flops: int
    backward_flops: int


@dataclass(frozen=True)
class Training:
    name: str | None
    batch: int
    optimizer: str
    precision: str
    layers: tuple[TrainRow, ...]
    totals: TrainTotals
    max_batch: int | None = None
    memory_limit: int | None = None


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """A known optimizer or precision, or an error with a close match."""
    if value not in allowed:
        raise CnnError(f"unknown {what} '{value}'{did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}")
    return value


def param_dtype(precision: str) -> str:
    return "bfloat16" if precision == "bf16" else "float32"


def widest(dtypes) -> str:
    dtypes = set(dtypes)
    if "float32" in dtypes or len(dtypes) > 1:
        return "float32"
    return dtypes.pop()


def train(network: Network, batch: int = 1, optimizer: str = "adam", precision: str = "fp32", steps=None) -> Training:
    """The memory and FLOPs of one training step at this batch (`steps`: summary's
    value_shapes(network), when already made)."""
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    check_choice(precision, PRECISIONS, "precision")
    weights = param_dtype(precision)
    nodes = {node.name: node for node in network.nodes}
    dtype_of: dict[str, str] = {}
    storage_of: dict[str, tuple[object, int]] = {}
    needs_grad: dict[str, bool] = {}
    for name, shape in network.inputs.items():
        dtype_of[name] = weights
        storage_of[name] = (("input", name), product(shape) * batch * ITEMSIZE[weights])
        needs_grad[name] = False

    used = on_output_paths(network)  # weights no output depends on get no gradient
    reached = outputs_depend_on(network)  # layers no output depends on: no backward
    rows, all_kept = [], {}
    weight_bytes = grad_bytes = optimizer_bytes = 0
    for node, in_shapes, facts in steps if steps is not None else value_shapes(network):
        layer = node.layer
        owner = nodes[node.share] if node.share else node
        trained = owner.trainable and bool(facts.params)
        grads = Grads(tuple(needs_grad[v] for v in node.inputs), trained)
        mode = layer.autocast_for(in_shapes) if precision in HALF else "keep"
        in_types = [dtype_of[v] for v in node.inputs]
        promoted = [weights] if mode == "promote" and facts.params else []  # float32 master weights in the product
        compute = HALF[precision] if mode == "lower" else "float32" if mode == "float32" else widest(in_types + promoted)

        # the output's storage, before what is kept (a layer may keep its output)
        outputs = facts.outputs or (facts.output_shape,)
        names = [f"{node.name}.{i}" for i in range(len(outputs))] if facts.outputs else [node.name]
        if layer.torch_view_of(in_shapes, network.layout):
            for value in names:
                storage_of[value] = storage_of[node.inputs[0]]
        else:
            elements = layer.torch_storage(in_shapes, facts, network.layout)
            for value, shape in zip(names, outputs):
                count = elements if elements is not None else product(shape)
                storage_of[value] = ((node.name, value), count * batch * ITEMSIZE[compute])
        for value in names:
            dtype_of[value] = compute
            needs_grad[value] = grads.active
        if facts.outputs:
            storage_of[node.name] = storage_of[names[0]]
            dtype_of[node.name], needs_grad[node.name] = compute, grads.active

        kept: dict[object, int] = {}
        for number, item in enumerate(layer.saved(in_shapes, facts, network.layout, grads) if grads.active else ()):
            if item.keep is Keep.INPUT:
                value = node.inputs[item.index]
                if mode in ("lower", "float32") and dtype_of[value] != compute:
                    key, size = (node.name, "cast", item.index), product(in_shapes[item.index]) * batch * ITEMSIZE[compute]
                else:
                    key, size = storage_of[value]
                    own = product(in_shapes[item.index]) * batch * ITEMSIZE[dtype_of[value]]
                    if item.reshaped and size != own:
                        key, size = (node.name, "copy", item.index), own
            elif item.keep is Keep.OUTPUT:
                key, size = storage_of[node.name]
            elif item.keep is Keep.WEIGHT:
                if precision not in HALF or mode != "lower":
                    continue  # the weight itself, counted as a weight
                shape = facts.params[item.tensor]
                cached = owner.trainable  # autocast caches casts of leaf tensors that require grad
                key = ("weight-cast", owner.name, item.tensor) if cached else (node.name, "weight-cast", item.tensor)
                size = product(shape) * ITEMSIZE[compute]
            else:
                dtype = item.dtype
                if dtype == "compute":
                    dtype = compute
                elif dtype == "stats":
                    dtype = weights if (facts.params or facts.buffers) else compute
                elif dtype == "param":
                    dtype = weights
                key = (node.name, "new", number)
                size = item.elements * (batch if item.batched else 1) * ITEMSIZE[dtype]
            kept[key] = size
        all_kept.update(kept)

        if not node.share:
            params = facts.param_count
            weight_bytes += (params + facts.buffer_count) * ITEMSIZE[weights] + layer.extra_buffer_bytes()
            if trained and node.name in used:
                grad_bytes += params * ITEMSIZE[weights]
                optimizer_bytes += optimizer_state(optimizer, facts.params, weights)
        on_path = node.name in reached
        backward = layer.backward_flops(in_shapes, facts, grads) * batch if grads.active and on_path else 0  # no output, no backward
        rows.append(TrainRow(node.name, layer.type_name, sum(kept.values()), facts.flops * batch, backward, tuple(kept.items())))

    saved = sum(all_kept.values())
    totals = TrainTotals(
        weights_bytes=weight_bytes,
        gradients_bytes=grad_bytes,
        optimizer_bytes=optimizer_bytes,
        saved_bytes=saved,
        total_bytes=weight_bytes + grad_bytes + optimizer_bytes + saved,
        forward_flops=sum(r.forward_flops for r in rows),
        backward_flops=sum(r.backward_flops for r in rows),
    )
    return Training(network.name, batch, optimizer, precision, tuple(rows), totals)


def outputs_depend_on(network: Network) -> set[str]:
    """The layers some output depends on (the backward pass runs through these only)."""
    layers = {node.name: node for node in network.nodes}
    layer_of = lambda value: value if value in layers else value.rpartition(".")[0]  # noqa: E731
    reached = {layer_of(value) for value in network.outputs}
    for node in reversed(network.nodes):
        if node.name in reached:
            reached.update(layer_of(value) for value in node.inputs)
    return reached


def optimizer_state(optimizer: str, params: dict, dtype: str) -> int:
    """Bytes torch.optim keeps for these trained tensors after a step."""
    elements = sum(product(shape) for shape in params.values())
    if optimizer == "sgd":
        return 0
    if optimizer == "momentum":
        return elements * ITEMSIZE[dtype]
    return 2 * elements * ITEMSIZE[dtype] + STEP_BYTES * len(params)


def sweep(network: Network, batches: list[int], optimizer: str, precision: str) -> list[Training]:
    """The step at each of these batches."""
    steps = list(value_shapes(network))
    return [train(network, batch, optimizer, precision, steps) for batch in batches]


def fitting_batch(network: Network, limit: int, optimizer: str, precision: str) -> Training:
    """The step at the largest batch whose total is at most `limit` bytes (the total grows
    with the batch: found by doubling, then bisection), with max_batch set."""
    steps = list(value_shapes(network))
    first = train(network, 1, optimizer, precision, steps)
    if first.totals.total_bytes > limit:
        from ..units import human_bytes

        raise CnnError(
            f"no batch fits in {human_bytes(limit)} ({limit:,} bytes): batch 1 already needs "
            f"{human_bytes(first.totals.total_bytes)} ({first.totals.total_bytes:,} bytes) with {optimizer} in {precision}; "
            "allowed: a memory of at least that"
        )
    fits, low, high = first, 1, 2
    while True:
        step = train(network, high, optimizer, precision, steps)
        if step.totals.total_bytes > limit:
            break
        fits, low, high = step, high, high * 2
        if high > 2**40:
            break
    while high - low > 1:
        middle = (low + high) // 2
        step = train(network, middle, optimizer, precision, steps)
        if step.totals.total_bytes <= limit:
            fits, low = step, middle
        else:
            high = middle
    return Training(fits.name, fits.batch, optimizer, precision, fits.layers, fits.totals, fits.batch, limit)
