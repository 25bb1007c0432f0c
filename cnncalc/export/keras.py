"""Keras code for a network (`cnncalc export --to keras`, CONTRACT.md §7).

A functional-API model with one Keras layer per cnncalc layer (plus explicit padding or
cropping layers where Keras has no argument for them), each named after its layer
(`keras_name`); the layers say what they are in Keras (`Layer.keras`, a KerasOp).

Names from the file are strings in the generated code (`name="conv1"`, written by repr) and
must be Keras names that stay apart: two layers whose names meet once dots become
underscores, or meet the name of another layer's extra Keras layer (`conv1_pad`), are refused
with their location, as is a name Keras refuses ('/'). Variables are fresh Python names.
"""

from __future__ import annotations

from ..errors import CnnError
from ..graph import INPUT, Network, Node
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
from .scopes import shapes_of
from .variables import Variables

# The names build_model() reads besides its variables.
KERAS_NAMES = FRAMEWORK_NAMES | {"build_model"}


def keras_name(name: str) -> str:
    """Keras names cannot hold dots with every backend (PyTorch's parameter names): layer1.0.conv1 -> layer1_0_conv1."""
    return name.replace(".", "_")


def clash(node: Node, other: Node, name: str, why: str) -> CnnError:
    return CnnError(
        f"cannot export to Keras: '{node.name}' and '{other.name}' both become the Keras name '{name}' ({why}); "
        "allowed: names that stay apart",
        node.layer.where.layer,
        node.layer.label,
    )


def check_names(network: Network) -> None:
    """Every layer's Keras name is one Keras accepts and no other layer's."""
    if network.name and "/" in network.name:
        raise CnnError(
            f"cannot export to Keras: the network's name '{network.name}' holds '/', which Keras refuses in a "
            "model's name; allowed: a name without '/'",
            None,
        )
    names: dict[str, Node] = {}
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


def to_keras(network: Network) -> str:
    shapes = shapes_of(network)
    check_names(network)
    layout = network.layout
    uses: dict[str, int] = {}
    for node in network.nodes:
        for source in node.inputs:
            uses[source] = uses.get(source, 0) + 1
    last = network.nodes[-1].name
    uses[last] = uses.get(last, 0) + 1
    variables = Variables({INPUT: "inputs"}, uses, Namespace(KERAS_NAMES))
    statements = [
        Assign(
            (Name("inputs"),),
            Call(dotted("keras.Input"), (), (("shape", Literal(tuple(network.input_shape))), ("name", Literal("input")))),
        )
    ]
    owners = {keras_name(node.name): node for node in network.nodes}  # each Keras name's layer
    needed: set[str] = set()
    for node in network.nodes:
        in_shapes = tuple(shapes[name] for name in node.inputs)
        op: KerasOp = node.layer.keras(in_shapes, shapes[node.name], layout)
        needed |= {helper.name for helper in op.helpers}
        sources = [variables.of(s) for s in node.inputs]
        current = Name(sources[0]) if len(sources) == 1 else ListDisplay(tuple(Name(s) for s in sources))
        var = variables.take(node.inputs, node.name)
        for suffix, layer in op.layers:
            name = keras_name(node.name) + suffix
            owner = owners.setdefault(name, node)
            if owner is not node:  # an extra layer's name (conv1_pad) is another layer's
                later, earlier = (node, owner) if network.nodes.index(owner) < network.nodes.index(node) else (owner, node)
                raise clash(later, earlier, name, f"'{node.name}' needs an extra Keras layer, named with the suffix '{suffix}'")
            options = [("name", name)]
            if not node.trainable and not suffix:
                options.append(("trainable", False))
            named = Record(layer.callee, layer.args, (*layer.kwargs, *options))
            statements.append(Assign((Name(var),), Call(from_record(named), (current,)), aligned=True))
            current = Name(var)
    model = Call(dotted("keras.Model"), (Name("inputs"), Name(variables.of(last))), (("name", Literal(network.name or "network")),))
    statements.append(Return((model,)))
    title = network.name or "network"
    module = Module(
        Docstring(
            (
                f"{title}, written by cnncalc export: a Keras 3 functional model of the network.",
                "",
                "Layer names are cnncalc's, with dots as underscores; build_model().summary() lists them.",
                "",
            )
        ),
        (Import("keras"), Import("keras", name="layers")),
        (
            *(Verbatim(helper.source) for name, helper in HELPERS.items() if name in needed),
            Function("build_model", (), tuple(statements)),
            MainGuard((Expression(Call(Attribute(Call(Name("build_model")), "summary"))),)),
        ),
    )
    return render(module)
