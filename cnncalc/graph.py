"""From a parsed description (YAML or DSL) to a checked graph of configured layers.

The readers produce a `NetworkSpec`: layers as written, each value with its location.
`build` resolves type and attribute names (aliases, typos), converts values, names the
layers, resolves `from:` references and returns a `Network` whose nodes are in an order
where every input comes before its use. Nothing here knows shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .layers.attrs import AttrError, show
from .errors import CnnError, Location, did_you_mean
from .numbers import dims
from .layers import REGISTRY, Layer, Layout, Shape, Where

INPUT = "input"


@dataclass
class Written:
    """A value as the user wrote it, with where."""

    value: Any
    location: Location
    key_location: Location | None = None
    items: list["Written"] | None = None  # a list's elements, each with its own location
    fields: dict[str, "Written"] | None = None  # a mapping's values, each with its own location


@dataclass
class LayerSpec:
    type: Written
    location: Location
    attrs: dict[str, Written] = field(default_factory=dict)  # keys as written
    primary: Written | None = None
    name: Written | None = None
    inputs: list[Written] | None = None
    trainable: Written | None = None
    repeat: Written | None = None
    first: Written | None = None
    condition: Written | None = None  # `if:`
    tensors: dict[str, Written] = field(default_factory=dict)  # inline weights: weight, bias, ...


@dataclass
class NetworkSpec:
    path: str
    input: Written
    layers: list[LayerSpec]
    name: str | None = None
    layout: Written | None = None
    data: Written | None = None  # inline input values
    blocks: dict = field(default_factory=dict)  # name -> blocks.BlockSpec, until expanded
    groups: tuple = ()  # blocks.Group records, once expanded


@dataclass(frozen=True)
class Node:
    name: str
    layer: Layer
    inputs: tuple[str, ...]
    trainable: bool
    tensors: dict = field(default_factory=dict)  # inline weights, by PyTorch name


@dataclass(frozen=True)
class Network:
    name: str | None
    path: str
    input_shape: Shape
    layout: Layout
    nodes: tuple[Node, ...]
    groups: tuple = ()  # block instances (blocks.Group), for folding rows by depth
    data: Written | None = None


def parse_shape(value: Any, location: Location, what: str = "input") -> Shape:
    """A sample shape: a list of 1 to 4 positive integers, or '1x28x28'."""
    if isinstance(value, str) and dims(value) is not None:  # '3x224x224'; not '3x' nor '3²'
        value = dims(value)
    allowed = "a list of 1 to 4 positive integers without the batch, e.g. [3, 224, 224] or 3x224x224"
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise CnnError(f"{what} shape must be {allowed}; received {show(value)}", location)
    return tuple(value)


def parse_layout(written: Written | None) -> Layout:
    if written is None:
        return Layout()
    if written.value not in ("channels_first", "channels_last"):
        raise CnnError(
            f"unknown layout {show(written.value)}; allowed: 'channels_first' (PyTorch) or 'channels_last' (Keras)",
            written.location,
        )
    return Layout(written.value == "channels_last")


def build(spec: NetworkSpec, input_override: Shape | None = None) -> Network:
    layout = parse_layout(spec.layout)
    shape = input_override or parse_shape(spec.input.value, spec.input.location)
    if not spec.layers:
        raise CnnError("the network has no layers; allowed: a list under 'layers'", spec.input.location)
    classes = [resolve_type(layer) for layer in spec.layers]
    names = assign_names(spec.layers, classes)
    positions = {name: i for i, name in enumerate(names)}
    nodes = []
    for index, (layer_spec, cls, name) in enumerate(zip(spec.layers, classes, names)):
        label = f"layer '{name}' ({cls.type_name})"
        values, where = resolve_attrs(layer_spec, cls, label)
        inputs = resolve_inputs(layer_spec, cls, index, names, positions, spec.layers, label)
        trainable = True
        if layer_spec.trainable is not None:
            if not isinstance(layer_spec.trainable.value, bool):
                raise CnnError(
                    f"trainable must be true or false; received {show(layer_spec.trainable.value)}",
                    layer_spec.trainable.location,
                    label,
                )
            trainable = layer_spec.trainable.value
        nodes.append(Node(name, cls(name, values, where, inputs), inputs, trainable, layer_spec.tensors))
    return Network(spec.name, spec.path, shape, layout, tuple(nodes), spec.groups, spec.data)


def resolve_type(layer: LayerSpec) -> type[Layer]:
    written = layer.type
    if not isinstance(written.value, str):
        raise CnnError(f"a layer type must be a name such as conv2d; received {show(written.value)}", written.location)
    cls = REGISTRY.get(written.value)
    if cls is None:
        raise CnnError(
            f"unknown layer type '{written.value}'{REGISTRY.suggest(written.value)}; "
            "'cnncalc layers' lists every type",
            written.location,
        )
    return cls


def assign_names(layers: list[LayerSpec], classes: list[type[Layer]]) -> list[str]:
    """Given names as written; automatic ones are TYPE_N (N counting that type from 1)."""
    taken: dict[str, Location] = {}
    for layer in layers:
        if layer.name is None:
            continue
        name, location = layer.name.value, layer.name.location
        if not isinstance(name, str) or not name:
            raise CnnError(f"a layer name must be a non-empty word; received {show(name)}", location)
        if name == INPUT:
            raise CnnError("'input' is reserved for the network's input; allowed: any other name", location)
        if name in taken:
            raise CnnError(
                f"duplicate layer name '{name}' (first used at line {taken[name].line}); allowed: each name once",
                location,
            )
        taken[name] = location
    counters: dict[str, int] = {}
    names = []
    for layer, cls in zip(layers, classes):
        if layer.name is not None:
            names.append(layer.name.value)
            continue
        candidate = auto_name(cls.type_name, counters, taken)
        taken[candidate] = layer.location
        names.append(candidate)
    return names


def auto_name(kind: str, counters: dict[str, int], taken) -> str:
    """The next free TYPE_N for an unnamed layer: N counts that type from 1, skipping names
    already in use."""
    while True:
        counters[kind] = counters.get(kind, 0) + 1
        candidate = f"{kind}_{counters[kind]}"
        if candidate not in taken:
            return candidate


def resolve_attrs(layer: LayerSpec, cls: type[Layer], label: str) -> tuple[dict[str, Any], Where]:
    by_spelling = {spelling: attr for attr in cls.attributes for spelling in attr.spellings}
    written: dict[str, Written] = {}
    source: dict[str, str] = {}
    for key, value in layer.attrs.items():
        attr = by_spelling.get(key) or by_spelling.get(str(key).lower())
        if attr is None:
            allowed = ", ".join(a.name for a in cls.attributes) or "none"
            hint = did_you_mean(str(key), by_spelling)
            raise CnnError(
                f"unknown attribute '{key}'{hint}; allowed for {cls.type_name}: {allowed}",
                value.key_location or value.location,
                label,
            )
        if attr.name in written:
            raise CnnError(
                f"attribute '{attr.name}' is given twice, as '{source[attr.name]}' and as '{key}'; allowed: once",
                value.key_location or value.location,
                label,
            )
        written[attr.name], source[attr.name] = value, key
    if layer.primary is not None and cls.primary != "from":
        if cls.primary is None:
            raise CnnError(
                f"{cls.type_name} takes no value after its name; received {show(layer.primary.value)}; "
                "allowed: attributes in a mapping",
                layer.primary.location,
                label,
            )
        if cls.primary in written:
            raise CnnError(
                f"'{cls.primary}' is given twice, as the value after the type and as an attribute",
                written[cls.primary].key_location or written[cls.primary].location,
                label,
            )
        written[cls.primary] = layer.primary
    values: dict[str, Any] = {}
    for attr in cls.attributes:
        if attr.name not in written:
            if attr.required:
                raise CnnError(
                    f"missing the required attribute '{attr.name}' ({attr.doc}); allowed: {attr.kind.describe}",
                    layer.location,
                    label,
                )
            values[attr.name] = attr.default
            continue
        raw = written[attr.name]
        try:
            values[attr.name] = attr.kind.convert(raw.value)
        except AttrError as exc:
            raise CnnError(f"{attr.name} must be {exc.args[0].removeprefix('expected ')}; received {show(raw.value)}", raw.location, label) from None
    where = Where(layer.location, {name: w.location for name, w in written.items()})
    return values, where


def resolve_inputs(
    layer: LayerSpec,
    cls: type[Layer],
    index: int,
    names: list[str],
    positions: dict[str, int],
    layers: list[LayerSpec],
    label: str,
) -> tuple[str, ...]:
    refs = layer.inputs
    if cls.primary == "from" and layer.primary is not None:
        if refs is not None:
            raise CnnError(
                "the inputs are given twice, after the type and in 'from'; allowed: one of them", layer.primary.location, label
            )
        refs = layer.primary.items if layer.primary.items is not None else [layer.primary]
    if refs is None:
        inputs = (names[index - 1] if index else INPUT,)
    else:
        inputs = tuple(check_reference(r, index, names, positions, layers, label) for r in refs)
    low, high = cls.arity
    if len(inputs) < low or (high is not None and len(inputs) > high):
        allowed = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        example = f"e.g. {cls.type_name}: [{names[index - 1] if index else 'a'}, {INPUT}]" if low > 1 else ""
        raise CnnError(
            f"{cls.type_name} takes {allowed} input{'s' if (high or 2) > 1 else ''}; received {len(inputs)} "
            f"({', '.join(inputs)}){'; allowed: a list of layer names, ' + example if example else ''}",
            (refs[0].location if refs else layer.location),
            label,
        )
    return inputs


def check_reference(ref: Written, index: int, names: list[str], positions: dict[str, int], layers, label: str) -> str:
    name = ref.value
    if not isinstance(name, str):
        raise CnnError(f"an input must be a layer name; received {show(name)}", ref.location, label)
    if name == INPUT:
        return name
    if name not in positions:
        hint = did_you_mean(name, [*names[:index], INPUT])
        raise CnnError(f"unknown layer '{name}' in the inputs{hint}; allowed: 'input' or a layer above this one", ref.location, label)
    target = positions[name]
    if target == index:
        raise CnnError("it takes its own output as input, a cycle; allowed: a layer above this one", ref.location, label)
    if target > index:
        cycle = find_cycle(target, index, names, positions, layers)
        what = f"a cycle: {' -> '.join(cycle)}" if cycle else "a forward reference"
        raise CnnError(
            f"'{name}' is defined below this layer (line {layers[target].location.line}), {what}; "
            "allowed: 'input' or a layer above this one",
            ref.location,
            label,
        )
    return name


def find_cycle(start: int, goal: int, names: list[str], positions: dict[str, int], layers) -> list[str] | None:
    """Names along a path of references from layer `start` back to layer `goal`, if any."""
    stack, seen = [(start, [names[goal], names[start]])], set()
    while stack:
        index, path = stack.pop()
        if index in seen:
            continue
        seen.add(index)
        refs = layers[index].inputs
        targets = [r.value for r in refs] if refs is not None else ([names[index - 1]] if index else [])
        for name in targets:
            target = positions.get(name)
            if target == goal:
                return [*path, names[goal]]
            if target is not None and target > goal:
                stack.append((target, [*path, name]))
    return None
