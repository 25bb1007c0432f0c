"""The graph arranged for PyTorch code: the network and its block instances as nested
scopes, each with its own layers, the values it takes from outside and those it gives back,
and what both exporters need to know about values and shared layers.

A value is an input's name, a layer's name, or NAME.i for output i of a layer with several
(split, chunk): such a layer's values are all made where the layer is."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..analysis.summary import value_shapes
from ..errors import CnnError
from ..graph import Network, Node
from ..layers.code import Call, TorchOp
from .code import Place, expression, from_record


@dataclass(frozen=True)
class Values:
    """Every value's shape (per sample, in the file's layout), and every layer's tensors."""

    shapes: dict  # value -> shape; a layer with several outputs also by its name: a tuple of shapes
    tensors: dict  # layer -> ((name, shape) of its weights and buffers, as its Facts give them)


def values_of(network: Network) -> Values:
    """Every value's shape and every layer's tensors (Layer.infer's, through value_shapes)."""
    shapes: dict = dict(network.inputs)
    tensors: dict = {}
    for node, _, facts in value_shapes(network):
        if facts.outputs:
            shapes[node.name] = facts.outputs
            shapes.update({f"{node.name}.{i}": shape for i, shape in enumerate(facts.outputs)})
        else:
            shapes[node.name] = facts.output_shape
        tensors[node.name] = (*facts.params.items(), *facts.buffers.items())
    return Values(shapes, tensors)


def outputs_of(node: Node) -> list[str]:
    """The values a layer gives: its name, or NAME.0, NAME.1, ... for a layer with several."""
    count = node.layer.output_count()
    return [node.name] if count == 1 else [f"{node.name}.{i}" for i in range(count)]


def producer(value: str, layers) -> str | None:
    """The layer that makes a value (None for an input)."""
    if value in layers:
        return value
    head = value.rpartition(".")[0]
    return head if head in layers else None


def is_part(value: str, layers) -> bool:
    """Is the value NAME.i, one output of a layer with several?"""
    return producer(value, layers) not in (None, value)


def part_name(value: str, layers) -> str:
    """The text a variable for the value is named after: output i of a layer with several
    outputs after the last part of the layer's name and i (s_0 for s.0), else the value."""
    if not is_part(value, layers):
        return value
    return f"{value.rpartition('.')[0].split('.')[-1]}_{value.rpartition('.')[2]}"


def calls_owner(framework: str, what: str, node: Node, owner: Node, mine: Call, theirs: Call, values: Values) -> bool:
    """Whether `node` (share: OWNER) calls its owner's module or layer: it does when both are
    built by the same call with the same weights. A layer without weights that would need
    another call (another size to pad, say) gets its own; one with weights is refused."""
    if mine == theirs and values.tensors[node.name] == values.tensors[owner.name]:
        return True
    if not values.tensors[owner.name]:
        return False
    here, there = code_of(mine), code_of(theirs)
    if here == there:  # the same call, on inputs that give other weights
        here = ", ".join(f"{name} {shape}" for name, shape in values.tensors[node.name])
        there = ", ".join(f"{name} {shape}" for name, shape in values.tensors[owner.name])
    shape, owner_shape = (", ".join(str(values.shapes[v]) for v in n.inputs) for n in (node, owner))
    raise CnnError(
        f"cannot export to {framework}: '{node.name}' shares the weights of '{owner.name}', but on its input "
        f"{shape} it needs another {what} than '{owner.name}' on {owner_shape}: {here} here, {there} there; "
        f"allowed: share between layers whose inputs make the same {what}",
        node.layer.where.layer,
        node.layer.label,
    )


def code_of(record: Call) -> str:
    """A constructor call as one line of code (for messages)."""
    return expression(replace(from_record(record), wraps=False), Place(0, 0))


@dataclass
class Item:
    """A layer and what it is in PyTorch; `shares`: the layer whose module it calls."""

    node: Node
    op: TorchOp
    shares: str | None = None

    @property
    def outputs(self) -> list[str]:
        return outputs_of(self.node)


@dataclass(eq=False)
class Scope:
    """The network or one block instance: its own layers, and the instances inside it."""

    name: str  # "" for the network
    prefix: str
    block: str | None = None
    params: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)  # Items and child Scopes, in order
    inputs: list[str] = field(default_factory=list)  # values from outside, in order of use
    outputs: list[str] = field(default_factory=list)  # values used outside (the first: its result)
    modules: list[str] = field(default_factory=list)  # layers outside whose modules its layers call (share:)
    construct: Call | None = None  # how the parent builds it, once its class is known
    parent: "Scope | None" = None

    def items(self):
        for step in self.steps:
            if isinstance(step, Scope):
                yield from step.items()
            else:
                yield step


def arrange(network: Network, items: list[Item]) -> Scope:
    """Scopes from the block instances (innermost wins), with their inputs and outputs.
    Linear in the layers times the nesting depth, so 100,000 layers take a moment."""
    root = Scope("", "")
    scopes = {"": root}
    for group in network.groups:
        if group.block:
            scopes[group.name] = Scope(group.name, group.name + ".", group.block, dict(group.params))
    layers = {item.node.name for item in items}

    def chain(name: str | None) -> list[str]:
        """The instances around a layer or an instance, innermost first (none for an input)."""
        if name is None:
            return []
        parts = name.split(".")
        return [key for key in (".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)) if key in scopes]

    placed: set[str] = set()
    for item in items:
        around = chain(item.node.name)
        for key in reversed(around):  # open the instances around this layer, outermost first
            if key not in placed:
                placed.add(key)
                parent = chain(key)
                scopes[key].parent = scopes[parent[0] if parent else ""]
                scopes[key].parent.steps.append(scopes[key])
        scopes[around[0] if around else ""].steps.append(item)
    seen: set[tuple[str, str, str]] = set()

    def add(key: str, kind: str, value: str) -> None:
        """The value (or, for kind "modules", the layer) in the instance's list, once."""
        if (key, kind, value) not in seen:
            seen.add((key, kind, value))
            getattr(scopes[key], kind).append(value)

    for item in items:
        consumer = set(chain(item.node.name))
        for source in item.node.inputs:
            made = set(chain(producer(source, layers)))
            for key in consumer - made:  # the value comes in from outside these instances
                add(key, "inputs", source)
            for key in made - consumer:  # and leaves these
                add(key, "outputs", source)
        if item.shares is not None:  # the module it calls is its owner's, out of these instances
            for key in consumer - set(chain(item.shares)):
                add(key, "modules", item.shares)
    for value in network.outputs:  # the network's outputs leave every instance they are made in
        for key in chain(producer(value, layers)):
            add(key, "outputs", value)
    for key in placed:
        scope = scopes[key]
        result = next(reversed_items(scope)).outputs
        scope.outputs = result + [name for name in scope.outputs if name not in result]
    root.inputs, root.outputs = list(network.inputs), list(network.outputs)
    return root


def reversed_items(scope: Scope):
    for step in reversed(scope.steps):
        if isinstance(step, Scope):
            yield from reversed_items(step)
        else:
            yield step
