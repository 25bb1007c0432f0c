"""Keras code for a network (`cnncalc export --to keras`, CONTRACT.md §7).

A functional-API model with one Keras layer per cnncalc layer (plus explicit padding or
cropping layers where Keras has no argument for them), each named after its layer
(`keras_name`); the layers say what they are in Keras (`Layer.keras`, a KerasOp).

Several inputs are one keras.Input each, named as written; with several inputs or outputs
the model is keras.Model(inputs=[...], outputs=[...]) (CONTRACT.md §8). A layer that shares
another's weights (share:) calls the other's layer object, held in a variable. Split and
chunk are the SplitLayer helper, whose list of parts is unpacked (s_0, s_1 = ...). Layers on
no path to an output are built too; the Model leaves them out, as Keras does.

Names from the file are strings in the generated code (`name="conv1"`, written by repr) and
must be Keras names that stay apart: two layers whose names meet once dots become
underscores, or meet the name of another layer's extra Keras layer (`conv1_pad`), are refused
with their location, as is a name Keras refuses ('/'). Variables are fresh Python names.
"""

from __future__ import annotations

from ..errors import CnnError
from ..graph import Network, Node
from ..layers.code import HELPERS, KerasOp
from ..layers.code import Call as Record
from .code import (
    FRAMEWORK_NAMES,
    Assign,
    Attribute,
    Call,
    Docstring,
    Expression,
    Function,
    Import,
    ListDisplay,
    Literal,
    MainGuard,
    Module,
    Name,
    Namespace,
    Return,
    Verbatim,
    dotted,
    from_record,
    render,
)
from .scopes import calls_owner, outputs_of, part_name, values_of
from .variables import Variables

# The names build_model() reads besides its variables.
KERAS_NAMES = FRAMEWORK_NAMES | {"build_model"}


def keras_name(name: str) -> str:
    """Keras names cannot hold dots with every backend (PyTorch's parameter names): layer1.0.conv1 -> layer1_0_conv1."""
    return name.replace(".", "_")


def clash(node: Node, other: Node | str, name: str, why: str) -> CnnError:
    """Two layers (or a layer and an input, `other` as its name) with one Keras name."""
    them = f"'{other.name}'" if isinstance(other, Node) else f"the input '{other}'"
    return CnnError(
        f"cannot export to Keras: '{node.name}' and {them} both become the Keras name '{name}' ({why}); "
        "allowed: names that stay apart",
        node.layer.where.layer,
        node.layer.label,
    )


def check_names(network: Network) -> dict[str, Node | str]:
    """Every layer's and input's Keras name is one Keras accepts and no other's; returns
    the owner of each (an input by its name)."""
    if network.name and "/" in network.name:
        raise CnnError(
            f"cannot export to Keras: the network's name '{network.name}' holds '/', which Keras refuses in a "
            "model's name; allowed: a name without '/'",
            None,
        )
    names: dict[str, Node | str] = {}
    for name in network.inputs:
        if "/" in name:
            reader = next((node for node in network.nodes if name in node.inputs), None)
            raise CnnError(
                f"cannot export to Keras: the input '{name}'{', read here,' if reader else ''} holds '/', which Keras "
                "refuses in an input's name; allowed: names without '/'",
                reader.layer.where.layer if reader else None,
            )
        names[name] = name
    for node in network.nodes:
        if "/" in node.name:
            raise CnnError(
                f"cannot export to Keras: the name '{node.name}' holds '/', which Keras refuses in a layer's name; "
                "allowed: names without '/'",
                node.layer.where.layer,
                node.layer.label,
            )
        other = names.setdefault(keras_name(node.name), node)
        if other is not node:
            raise clash(node, other, keras_name(node.name), "dots turn into underscores")
    return names


class KerasWriter:
    """One network's build_model(): every layer's Keras layers called in the file's order;
    a layer that shares another's weights (share:) calls that layer's object."""

    def __init__(self, network: Network):
        self.network = network
        self.values = values_of(network)
        owners = check_names(network)  # each Keras name's layer
        shapes = self.values.shapes
        self.ops: dict[str, KerasOp] = {}
        for node in network.nodes:
            op = node.layer.keras(tuple(shapes[name] for name in node.inputs), shapes[node.name], network.layout)
            for suffix, _ in op.layers:
                name = keras_name(node.name) + suffix
                owner = owners.setdefault(name, node)
                if owner is not node and suffix:  # an extra layer's name (conv1_pad) is another's
                    why = f"'{node.name}' needs an extra Keras layer, named with the suffix '{suffix}'"
                    if isinstance(owner, str):  # an input's
                        raise clash(node, owner, name, why)
                    later, earlier = (node, owner) if network.nodes.index(owner) < network.nodes.index(node) else (owner, node)
                    raise clash(later, earlier, name, why)
            self.ops[node.name] = op
        self.calls: dict[str, str] = {}  # a sharer -> the layer whose Keras layer it calls
        nodes = {node.name: node for node in network.nodes}
        for node in network.nodes:
            if node.share is None:
                continue
            owner = nodes[node.share]
            mine, theirs = dict(self.ops[node.name].layers).get(""), dict(self.ops[owner.name].layers).get("")
            if mine is not None and theirs is not None and calls_owner("Keras", "layer", node, owner, mine, theirs, self.values):
                self.calls[node.name] = owner.name

    def write(self) -> str:
        network = self.network
        uses: dict[str, int] = {}
        for node in network.nodes:
            for source in node.inputs:
                uses[source] = uses.get(source, 0) + 1
        for value in network.outputs:
            uses[value] = uses.get(value, 0) + 1
        namespace = Namespace(KERAS_NAMES)
        if len(network.inputs) == 1:
            inputs = {name: "inputs" for name in network.inputs}
        else:
            inputs = {name: namespace.fresh(name) for name in network.inputs}
        variables = Variables(inputs, uses, namespace, kept=("inputs", *inputs.values()))
        statements: list = [
            Assign(
                (Name(var),),
                Call(dotted("keras.Input"), (), (("shape", Literal(tuple(network.inputs[name]))), ("name", Literal(name)))),
            )
            for name, var in inputs.items()
        ]
        layers = {node.name for node in network.nodes}
        shared = set(self.calls.values())
        objects: dict[str, str] = {}  # a shared layer -> the variable holding its Keras layer
        for node in network.nodes:
            op = self.ops[node.name]
            sources = [variables.of(s) for s in node.inputs]
            current = Name(sources[0]) if len(sources) == 1 else ListDisplay(tuple(Name(s) for s in sources))
            values = outputs_of(node)
            if len(values) > 1:  # s_0, s_1 = SplitLayer(...)(x)
                variables.read(node.inputs)
                targets = [variables.part(value, part_name(value, layers)) for value in values]
            else:
                targets = [variables.take(node.inputs, node.name)]
            for index, (suffix, layer) in enumerate(op.layers):
                into = tuple(Name(t) for t in (targets if index == len(op.layers) - 1 else targets[:1]))
                if not suffix and node.name in self.calls:
                    statements.append(Assign(into, Call(Name(objects[self.calls[node.name]]), (current,))))
                else:
                    options = [("name", keras_name(node.name) + suffix)]
                    if not node.trainable and not suffix:
                        options.append(("trainable", False))
                    named = from_record(Record(layer.callee, layer.args, (*layer.kwargs, *options)))
                    if not suffix and node.name in shared:  # one layer object, called again by its sharers
                        objects[node.name] = variables.keep(namespace.fresh(node.name))
                        statements.append(Assign((Name(objects[node.name]),), named, aligned=True))
                        statements.append(Assign(into, Call(Name(objects[node.name]), (current,))))
                    else:
                        statements.append(Assign(into, Call(named, (current,)), aligned=True))
                current = Name(targets[0])
        given = [Name(var) for var in inputs.values()]
        returned = [Name(variables.of(value)) for value in network.outputs]
        name = ("name", Literal(network.name or "network"))
        if len(given) == 1 and len(returned) == 1:
            model = Call(dotted("keras.Model"), (given[0], returned[0]), (name,))
        else:
            lists = (("inputs", ListDisplay(tuple(given))), ("outputs", ListDisplay(tuple(returned))), name)
            model = Call(dotted("keras.Model"), (), lists, wraps=True)
        statements.append(Return((model,)))
        title = network.name or "network"
        about = ["Layer names are cnncalc's, with dots as underscores; build_model().summary() lists them."]
        takes = f"takes the inputs {', '.join(network.inputs)}" if len(given) > 1 else ""
        gives = f"gives the outputs {', '.join(network.outputs)}" if len(returned) > 1 else ""
        if takes or gives:
            about.append(f"The model {' and '.join(part for part in (takes, gives) if part)}.")
        needed = {helper.name for op in self.ops.values() for helper in op.helpers}
        module = Module(
            Docstring((f"{title}, written by cnncalc export: a Keras 3 functional model of the network.", "", *about, "")),
            (Import("keras"), Import("keras", name="layers")),
            (
                *(Verbatim(helper.source) for name, helper in HELPERS.items() if name in needed),
                Function("build_model", (), tuple(statements)),
                MainGuard((Expression(Call(Attribute(Call(Name("build_model")), "summary"))),)),
            ),
        )
        return render(module)


def to_keras(network: Network) -> str:
    return KerasWriter(network).write()
