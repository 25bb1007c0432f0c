"""From a parsed description (YAML or DSL) to a checked graph of configured layers.

The readers produce a `NetworkSpec`: layers as written, each value with its location.
`build` resolves type and attribute names (aliases, typos), converts values, names the
layers, resolves `from:` references and returns a `Network` whose nodes are in an order
where every input comes before its use. Nothing here knows shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .layers.attrs import AttrError, LayerName, show
from .errors import CnnError, CnnErrors, CnnWarning, Location, WarningKind, did_you_mean
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
    share: Written | None = None  # the layer whose weights this one applies
    otherwise: Written | None = None  # `else:` what a layer left out by `if:` stands for
    last: Written | None = None  # attributes of a repeat's last instance


@dataclass
class NetworkSpec:
    path: str
    input: Written | None  # `input:` (one input, named 'input'); None with `inputs:`
    layers: list[LayerSpec]
    name: str | None = None
    layout: Written | None = None
    data: Written | None = None  # inline input values
    blocks: dict = field(default_factory=dict)  # name -> blocks.BlockSpec, until expanded
    groups: tuple = ()  # blocks.Group records, once expanded
    inputs: Written | None = None  # `inputs:` a mapping of input names to shapes
    outputs: Written | None = None  # `outputs:` a name or a list of them
    warnings: tuple[str, ...] = ()  # found while expanding (references to left-out layers)

    @property
    def where(self) -> Location:
        """Where the network's inputs are written (for errors about the whole network)."""
        return (self.input or self.inputs).location


@dataclass(frozen=True)
class Node:
    name: str
    layer: Layer
    inputs: tuple[str, ...]  # values read: input names, layer names, NAME.i of multi-output layers
    trainable: bool
    tensors: dict = field(default_factory=dict)  # inline weights, by PyTorch name
    share: str | None = None  # the layer whose weights it applies (its own are not counted)


@dataclass(frozen=True)
class Network:
    name: str | None
    path: str
    inputs: dict[str, Shape]  # the inputs in the order written (one named 'input' for `input:`)
    layout: Layout
    nodes: tuple[Node, ...]
    groups: tuple = ()  # block instances (blocks.Group), for folding rows by depth
    data: Written | None = None
    outputs: tuple[str, ...] = ()  # the values the network returns, in order
    warnings: tuple[str, ...] = ()

    @property
    def input_shape(self) -> Shape:
        """The shape of the only input (commands and exports written for one input ask this)."""
        if len(self.inputs) != 1:
            raise CnnError(
                f"this needs a network with one input; received {len(self.inputs)} ({', '.join(self.inputs)})",
                Location(self.path, 1, 1),
            )
        return next(iter(self.inputs.values()))

    @property
    def single_input(self) -> bool:
        return len(self.inputs) == 1 and INPUT in self.inputs


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


def parse_inputs(spec: NetworkSpec, override: Shape | None) -> dict[str, Shape]:
    """The inputs by name: `input:` is one input named 'input'; `inputs:` names them."""
    if spec.inputs is None:
        return {INPUT: override or parse_shape(spec.input.value, spec.input.location)}
    if override is not None:
        raise CnnError(
            f"--input sets the shape of a network with one input; this one has {len(spec.inputs.fields or {})}; "
            "allowed: change the shapes under 'inputs'",
            Location("--input", 1, 1),
        )
    written = spec.inputs
    if not written.fields:
        raise CnnError(
            f"'inputs' must map input names to shapes, e.g. inputs: {{image: [3, 224, 224], meta: [10]}}; "
            f"received {show(written.value)}",
            written.location,
        )
    inputs = {}
    for name, shape in written.fields.items():
        if not isinstance(name, str) or not name or name.startswith("$") or "." in name:
            raise CnnError(f"an input name must be a word without dots; received {show(name)}", shape.key_location or shape.location)
        inputs[name] = parse_shape(shape.value, shape.location, f"input '{name}'")
    return inputs


def build(spec: NetworkSpec, input_override: Shape | None = None) -> Network:
    layout = parse_layout(spec.layout)
    inputs = parse_inputs(spec, input_override)
    if not spec.layers:
        raise CnnError("the network has no layers; allowed: a list under 'layers'", spec.where)
    # Independent mistakes are reported together: every unknown type, then, after the first
    # layer that fails, what each later layer says of its own attributes (its wiring is not
    # judged any more: it may depend on the layer that failed).
    classes, errors = [], []
    for layer in spec.layers:
        try:
            classes.append(resolve_type(layer))
        except CnnError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else CnnErrors(errors)
    names = assign_names(spec.layers, classes, inputs)
    positions = {name: i for i, name in enumerate(names)}
    graph = Graph(names, positions, spec.layers, classes, inputs)
    nodes: list[Node] = []
    for index, (layer_spec, cls, name) in enumerate(zip(spec.layers, classes, names)):
        label = f"layer '{name}' ({cls.type_name})"
        if errors:
            if len(errors) < MAX_ERRORS:
                try:
                    cls(name, *resolve_attrs(layer_spec, cls, label), ())
                except CnnError as error:
                    errors.append(error)
            continue
        try:
            nodes.append(build_node(graph, index, layer_spec, cls, name, label, nodes))
        except CnnError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else CnnErrors(errors)
    outputs = graph.outputs(spec.outputs)
    return Network(spec.name, spec.path, inputs, layout, tuple(nodes), spec.groups, spec.data, outputs,
                   spec.warnings + graph.unused(nodes, outputs))


MAX_ERRORS = 20


def build_node(graph: "Graph", index: int, layer_spec: LayerSpec, cls: type[Layer], name: str, label: str,
               nodes: list[Node]) -> Node:
    """One layer of the network, its inputs wired and its weights' owner found."""
    values, where = resolve_attrs(layer_spec, cls, label)
    sources = graph.inputs_of(index, label)
    trainable = True
    if layer_spec.trainable is not None:
        if not isinstance(layer_spec.trainable.value, bool):
            raise CnnError(
                f"trainable must be true or false; received {show(layer_spec.trainable.value)}",
                layer_spec.trainable.location,
                label,
            )
        trainable = layer_spec.trainable.value
    for attr in cls.attributes:  # a layer named in an attribute (like:) is read as one more input
        if isinstance(attr.kind, LayerName) and values.get(attr.name) is not None:
            written = Written(values[attr.name], where.attrs.get(attr.name, layer_spec.location))
            values[attr.name] = graph.reference(written, index, label)
            sources = (*sources, values[attr.name])
    layer = cls(name, values, where, sources)
    share = graph.shared(index, layer, nodes, label, trainable if layer_spec.trainable is not None else None)
    if share is not None and layer_spec.trainable is None:  # one set of weights: the owner's say
        trainable = nodes[graph.positions[share]].trainable
    graph.layers.append(layer)
    return Node(name, layer, sources, trainable, layer_spec.tensors, share)


class Graph:
    """Names, references and outputs of the layers being built (values are layer names,
    input names, and NAME.i for output i of a layer with several)."""

    def __init__(self, names, positions, specs, classes, inputs):
        self.names, self.positions, self.specs, self.classes, self.inputs = names, positions, specs, classes, inputs
        self.layers: list[Layer] = []

    def inputs_of(self, index: int, label: str) -> tuple[str, ...]:
        layer, cls = self.specs[index], self.classes[index]
        refs = layer.inputs
        if cls.primary == "from" and layer.primary is not None:
            if refs is not None:
                raise CnnError(
                    "the inputs are given twice, after the type and in 'from'; allowed: one of them", layer.primary.location, label
                )
            refs = layer.primary.items if layer.primary.items is not None else [layer.primary]
        if refs is None:
            if index == 0 and len(self.inputs) > 1:
                raise CnnError(
                    f"the network has {len(self.inputs)} inputs ({', '.join(self.inputs)}); say which this layer reads "
                    f"with from:, e.g. from: {next(iter(self.inputs))}",
                    layer.location,
                    label,
                )
            sources = (self.value_of(self.names[index - 1], layer.location, label) if index else next(iter(self.inputs)),)
        else:
            sources = tuple(self.reference(r, index, label) for r in refs)
        low, high = cls.arity
        if len(sources) < low or (high is not None and len(sources) > high):
            allowed = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            example = f"e.g. {cls.type_name}: [{self.names[index - 1] if index else 'a'}, {INPUT}]" if low > 1 else ""
            raise CnnError(
                f"{cls.type_name} takes {allowed} input{'s' if (high or 2) > 1 else ''}; received {len(sources)} "
                f"({', '.join(sources)}){'; allowed: a list of layer names, ' + example if example else ''}",
                (refs[0].location if refs else layer.location),
                label,
            )
        return sources

    def outputs_of(self, name: str) -> int:
        index = self.positions[name]
        return self.layers[index].output_count() if index < len(self.layers) else 1

    def value_of(self, name: str, location: Location, label: str | None) -> str:
        """A layer's value by its name: refused for a layer with several outputs."""
        count = self.outputs_of(name)
        if count > 1:
            raise CnnError(
                f"'{name}' has {count} outputs; read one of them as {name}.0 ... {name}.{count - 1}",
                location,
                label,
            )
        return name

    def reference(self, ref: Written, index: int, label: str | None) -> str:
        name = ref.value
        if not isinstance(name, str):
            raise CnnError(f"an input must be a layer name; received {show(name)}", ref.location, label)
        if name in self.inputs:
            return name
        if name not in self.positions:
            head, _, tail = name.rpartition(".")
            if head in self.positions and tail.isdigit() and (self.positions[head] < index):
                count = self.outputs_of(head)
                if count == 1:
                    raise CnnError(
                        f"'{head}' has one output, so '{name}' names nothing; allowed: '{head}'", ref.location, label
                    )
                if int(tail) >= count:
                    raise CnnError(
                        f"'{head}' has {count} outputs, {head}.0 to {head}.{count - 1}; received '{name}'",
                        ref.location,
                        label,
                    )
                return name
            hint = did_you_mean(name, [*self.names[:index], *self.inputs])
            allowed = " or ".join(f"'{i}'" for i in self.inputs)
            raise CnnError(f"unknown layer '{name}' in the inputs{hint}; allowed: {allowed} or a layer above this one", ref.location, label)
        target = self.positions[name]
        if target == index:
            raise CnnError("it takes its own output as input, a cycle; allowed: a layer above this one", ref.location, label)
        if target > index:
            cycle = find_cycle(target, index, self.names, self.positions, self.specs)
            what = f"a cycle: {' -> '.join(cycle)}" if cycle else "a forward reference"
            raise CnnError(
                f"'{name}' is defined below this layer (line {self.specs[target].location.line}), {what}; "
                "allowed: 'input' or a layer above this one",
                ref.location,
                label,
            )
        return self.value_of(name, ref.location, label)

    def shared(self, index: int, layer: Layer, nodes: list[Node], label: str, trainable: bool | None = None) -> str | None:
        """The layer whose weights this one applies (`share:`): written above it, of the same
        type and attributes, itself not a sharer. `trainable` is the sharer's own trainable:
        when written; unwritten, it follows the owner (one set of weights)."""
        written = self.specs[index].share
        if written is None:
            return None
        name = written.value
        if not isinstance(name, str) or name not in self.positions or self.positions[name] >= index:
            hint = did_you_mean(str(name), self.names[:index])
            raise CnnError(f"share: '{name}' is not a layer above this one{hint}; allowed: the name of a layer above", written.location, label)
        owner = nodes[self.positions[name]]
        if owner.share is not None:
            owner = nodes[self.positions[owner.share]]
        if type(owner.layer) is not type(layer) or owner.layer.values != layer.values:
            theirs = {k: v for k, v in owner.layer.values.items() if layer.values.get(k) != v}
            mine = {k: layer.values.get(k) for k in theirs}
            difference = (f"type {owner.layer.type_name}" if type(owner.layer) is not type(layer)
                          else ", ".join(f"{k}={show(v)}" for k, v in theirs.items()) + " there, " +
                          ", ".join(f"{k}={show(v)}" for k, v in mine.items()) + " here")
            raise CnnError(
                f"share: '{owner.name}' must be the same layer to share its weights; differs in {difference}; "
                "allowed: the same type and attributes (the input may differ)",
                written.location,
                label,
            )
        if self.specs[index].tensors:
            raise CnnError(f"a layer that shares '{owner.name}' takes its weights; received weights of its own", written.location, label)
        if trainable is not None and owner.trainable != trainable:
            state = "frozen" if not owner.trainable else "trainable"
            raise CnnError(
                f"shares the weights of '{owner.name}', which are {state}, but is itself "
                f"{'frozen' if not trainable else 'trainable'}; one set of weights is either; allowed: the same "
                "trainable: for both (or freeze the owner)",
                (self.specs[index].trainable or written).location,
                label,
            )
        return owner.name

    def outputs(self, written: Written | None) -> tuple[str, ...]:
        """`outputs:` as values; by default the last layer (all its outputs if several)."""
        if written is None:
            last = self.names[-1]
            count = self.outputs_of(last)
            return (last,) if count == 1 else tuple(f"{last}.{i}" for i in range(count))
        refs = written.items if written.items is not None else [written]
        if not refs:
            raise CnnError("'outputs' is an empty list; allowed: a layer name or a list of them", written.location)
        values = []
        for ref in refs:
            if ref.value in self.inputs:
                raise CnnError(f"an output must be a layer; received the input '{ref.value}'", ref.location)
            value = self.reference(ref, len(self.names), None)
            if value in values:
                raise CnnError(f"'{value}' is listed twice in 'outputs'; allowed: each once", ref.location)
            values.append(value)
        return tuple(values)

    def unused(self, nodes: list[Node], outputs: tuple[str, ...]) -> tuple[str, ...]:
        """Warnings for layers on no path to an output and inputs no layer reads."""
        needed = {value.rpartition(".")[0] if value not in self.positions else value for value in outputs}
        for node in reversed(nodes):
            if node.name in needed:
                for source in node.inputs:
                    needed.add(source if source in self.positions or source in self.inputs else source.rpartition(".")[0])
        warnings = []
        dead = [node for node in nodes if node.name not in needed]
        if dead:
            shown = ", ".join(f"'{n.name}' (line {n.layer.where.layer.line})" for n in dead[:5])
            more = f" and {len(dead) - 5} more" if len(dead) > 5 else ""
            warnings.append(CnnWarning(
                WarningKind.UNUSED,
                f"{len(dead)} layer{'s are' if len(dead) > 1 else ' is'} on no path to an output: {shown}{more}; "
                "their results are never used (PyTorch still counts their parameters; a Keras Model leaves them "
                "out unless another layer shares their weights)",
            ))
        for name in self.inputs:
            if name not in needed and len(self.inputs) > 1:
                warnings.append(CnnWarning(WarningKind.UNUSED, f"the input '{name}' is read by no layer on a path to an output"))
        return tuple(warnings)


def read_layer(spec: LayerSpec, sources: list[str], shapes: dict, layout: Layout):
    """A layer just read from another format (ONNX, Keras), built by cnncalc's own rules,
    and its facts; its output shapes go into `shapes` (NAME, or NAME.0, NAME.1, ... for
    several), where the reader's later layers find theirs."""
    cls = resolve_type(spec)
    values, where = resolve_attrs(spec, cls, f"layer '{spec.name.value}' ({cls.type_name})")
    layer = cls(spec.name.value, values, where, tuple(sources))
    facts = layer.infer(tuple(shapes[s] for s in sources), layout)
    outputs = facts.outputs or (facts.output_shape,)
    name = spec.name.value
    if layer.output_count() == 1:
        shapes[name] = tuple(outputs[0])
    else:
        for i, shape in enumerate(outputs):
            shapes[f"{name}.{i}"] = tuple(shape)
    return layer, facts


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


def assign_names(layers: list[LayerSpec], classes: list[type[Layer]], inputs=(INPUT,)) -> list[str]:
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
        if name in inputs:
            raise CnnError(f"'{name}' is the name of a network input; allowed: any other name", location)
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
