"""What PyTorch really keeps for the backward pass, read from cnncalc's own PyTorch export.

`measure(net, batch, precision)` builds the exported module, runs one training forward
under `torch.autograd.graph.saved_tensors_hooks` (and `torch.autocast` for the amp
precisions) and returns every storage the hooks saw that is not a weight or a buffer,
with the layer whose module was running when it was saved (None outside every plain
module); then one backward under FlopCounterMode and one optimizer step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from cnncalc.analysis import analyse
from cnncalc.export import to_pytorch
from cnncalc.forward.runner import index_range


def draw(batch: int, shape, dtype, indices):
    """A random input: standard normal values, or integer indices where an embedding reads it."""
    if indices is None:
        return torch.randn(batch, *shape, dtype=dtype)
    low, high = indices
    return torch.randint(low, high, (batch, *shape)).to(dtype)

AUTOCAST = {"amp-fp16": torch.float16, "amp-bf16": torch.bfloat16}
OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01),
    "momentum": lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=0.001),
    "adamw": lambda params: torch.optim.AdamW(params, lr=0.001),
}


@dataclass
class Measured:
    saved: dict  # storage key -> (bytes, dtype, set of layer names or None)
    by_layer: dict = field(default_factory=dict)  # layer -> {storage key}
    outside: set = field(default_factory=set)  # storages saved outside every plain module
    backward_flops: int = 0
    backward_by_layer: dict = field(default_factory=dict)
    gradient_bytes: int = 0
    optimizer_bytes: int = 0
    weight_bytes: int = 0


def build(net):
    namespace: dict = {"__name__": "exported"}
    exec(compile(to_pytorch(net), "<exported>", "exec"), namespace)
    return namespace["Net"]()


def plain_layers(net) -> set:
    """Layers that are exactly their own module (no activation, pad or slice around it),
    called once."""
    shapes = dict(net.inputs)
    for row in analyse(net).layers:
        shapes[row.name] = row.output_shape
        if row.output_shape and isinstance(row.output_shape[0], tuple):
            shapes.update({f"{row.name}.{i}": s for i, s in enumerate(row.output_shape)})
    shared = {node.share for node in net.nodes if node.share} | {node.name for node in net.nodes if node.share}
    return {
        node.name for node in net.nodes
        if node.name not in shared
        and node.layer.torch(tuple(shapes[s] for s in node.inputs), shapes[node.name], net.layout).expression == "{m}({x})"
    }


def key(tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def measure(net, batch: int = 2, precision: str = "fp32", optimizer: str | None = None, seed: int = 0, flops: bool = True) -> Measured:
    torch.manual_seed(seed)
    model = build(net)
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    model.train()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    inputs = [draw(batch, shape, dtype, index_range(net, name)) for name, shape in net.inputs.items()]
    owned = {key(t) for t in (*model.parameters(), *model.buffers())}
    modules = dict(model.named_modules())
    current: list = [None]
    plain = plain_layers(net) & set(modules)
    for name in plain:
        modules[name].register_forward_pre_hook(lambda m, i, name=name: current.__setitem__(0, name))
        modules[name].register_forward_hook(lambda m, i, o: current.__setitem__(0, None))
    measured = Measured({})
    keep = []

    def pack(tensor):
        keep.append(tensor)
        storage = tensor.untyped_storage()
        if storage.nbytes() and key(tensor) not in owned:
            measured.saved.setdefault(key(tensor), (storage.nbytes(), tensor.dtype))
            if current[0] is None:
                measured.outside.add(key(tensor))
            else:
                measured.by_layer.setdefault(current[0], set()).add(key(tensor))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if precision in AUTOCAST:
            with torch.autocast("cpu", AUTOCAST[precision]):
                out = model(*inputs)
        else:
            out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    loss = sum(o.float().sum() for o in outs if o.requires_grad)
    if torch.is_tensor(loss) and flops:
        with FlopCounterMode(display=False) as counter:
            loss.backward()
        measured.backward_flops = counter.get_total_flops()
    elif torch.is_tensor(loss):
        loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    measured.gradient_bytes = sum(p.grad.nbytes for p in trainable if p.grad is not None)
    measured.weight_bytes = sum(t.nbytes for t in (*model.parameters(), *model.buffers()))
    if optimizer is not None and trainable:
        step = OPTIMIZERS[optimizer](trainable)
        step.step()
        measured.optimizer_bytes = sum(
            value.nbytes for state in step.state.values() for value in state.values() if torch.is_tensor(value)
        )
    return measured
