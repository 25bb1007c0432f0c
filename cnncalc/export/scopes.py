"""The graph arranged for PyTorch code: the network and its block instances as nested
scopes, each with its own layers, the values it takes from outside and those it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.summary import analyse
from ..graph import INPUT, Network, Node
from ..layers.code import Call, TorchOp


def shapes_of(network: Network) -> dict:
    """Every value's shape (per sample, in the file's layout), by the name of its layer."""
    summary = analyse(network)
    shapes = {INPUT: network.input_shape}
    for row in summary.layers:
        shapes[row.name] = row.output_shape
    return shapes


@dataclass
class Item:
    """A layer and what it is in PyTorch."""

    node: Node
    op: TorchOp


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
    construct: Call | None = None  # how the parent builds it, once its class is known

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

    def chain(name: str) -> list[str]:
        """The instances around a layer or an instance, innermost first."""
        parts = name.split(".")
        return [key for key in (".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)) if key in scopes]

    placed: set[str] = set()
    for item in items:
        around = chain(item.node.name)
        for key in reversed(around):  # open the instances around this layer, outermost first
            if key not in placed:
                placed.add(key)
                parent = chain(key)
                scopes[parent[0] if parent else ""].steps.append(scopes[key])
        scopes[around[0] if around else ""].steps.append(item)
    seen_inputs: dict[str, set] = {key: set() for key in placed}
    seen_outputs: dict[str, set] = {key: set() for key in placed}
    for item in items:
        consumer = set(chain(item.node.name))
        for source in item.node.inputs:
            producer = set(chain(source)) if source != INPUT else set()
            for key in consumer - producer:  # the value comes in from outside these instances
                if source not in seen_inputs[key]:
                    seen_inputs[key].add(source)
                    scopes[key].inputs.append(source)
            for key in producer - consumer:  # and leaves these
                if source not in seen_outputs[key]:
                    seen_outputs[key].add(source)
                    scopes[key].outputs.append(source)
    for key in placed:
        scope = scopes[key]
        result = next(reversed_items(scope)).node.name
        scope.outputs = [result] + [name for name in scope.outputs if name != result]
    root.inputs, root.outputs = [INPUT], [items[-1].node.name]
    return root


def reversed_items(scope: Scope):
    for step in reversed(scope.steps):
        if isinstance(step, Scope):
            yield from reversed_items(step)
        else:
            yield step
