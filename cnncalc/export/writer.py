"""Code that builds the network in PyTorch or Keras (`cnncalc export`, CONTRACT.md §7).

Each layer says what it is in the framework (`Layer.torch` / `Layer.keras`, records from
layers/code.py); this module arranges those into a module a person would write.

PyTorch: block instances become `nn.Module` classes (one class per block and wiring; the
values that differ between instances become constructor parameters), chains of numbered
layers become `nn.Sequential`, and every module sits where its cnncalc name says, so the
`state_dict` keys are cnncalc's weight names and weights move both ways. A file in
channels_last layout keeps its layout at the input and output; inside, tensors are moved
to PyTorch's (N, C, ...) order where a layer needs it, and back where the order matters
(flatten, linear, an explicit axis).

Keras: a functional-API model with one Keras layer per cnncalc layer (plus explicit
padding or cropping layers where Keras has no argument for them), named after it.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field

from ..analysis.summary import analyse
from ..errors import CnnError
from ..layers.code import ANY, CHANNELS_FIRST, FILE, Call, KerasOp, Raw, TorchOp
from ..graph import INPUT, Network, Node

LINE = 99  # longest line before a call's arguments go one per line

# Attributes of torch.nn.Module a submodule cannot be named after.
RESERVED = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
    ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_module register_parameter register_state_dict_pre_hook requires_grad_ set_extra_state
    share_memory state_dict to to_empty train training type xpu zero_grad""".split()
)

TORCH_HELPERS = {
    "SeparableConv": '''class SeparableConv(nn.Module):
    """Keras's SeparableConv: a depthwise convolution (no bias), then a 1x1 pointwise one."""

    def __init__(self, conv, in_channels, out_channels, kernel_size, multiplier=1, bias=True, **options):
        super().__init__()
        middle = in_channels * multiplier
        self.depthwise = conv(in_channels, middle, kernel_size, groups=in_channels, bias=False, **options)
        self.pointwise = conv(middle, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))''',
}

KERAS_HELPERS = {
    "MaxPoolPadding": '''class MaxPoolPadding(keras.layers.Layer):
    """Pads with -inf before a max pooling, as PyTorch's padded max pooling does."""

    def __init__(self, padding, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(pair) for pair in padding)
        self.data_format = data_format

    def call(self, x):
        spatial = list(self.padding)
        pads = [(0, 0), (0, 0), *spatial] if self.data_format == "channels_first" else [(0, 0), *spatial, (0, 0)]
        return keras.ops.pad(x, pads, constant_values=float("-inf"))

    def compute_output_shape(self, shape):
        sizes = [n + a + b if n is not None else None for n, (a, b) in zip(self._spatial(shape), self.padding)]
        if self.data_format == "channels_first":
            return (shape[0], shape[1], *sizes)
        return (shape[0], *sizes, shape[-1])

    def _spatial(self, shape):
        return shape[2:] if self.data_format == "channels_first" else shape[1:-1]

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}''',
    "gelu_exact": '''def gelu_exact(x):
    """GELU with erf, as PyTorch computes it (Keras's "gelu" is the tanh approximation)."""
    return keras.activations.gelu(x, approximate=False)''',
}


# -- rendering values and calls -------------------------------------------------------------


def literal(value) -> str:
    if isinstance(value, Raw):
        return value.code
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def render_call(callee: str, arguments: list[tuple[str | None, str]], indent: int) -> str:
    """callee(a, b, key=c) on one line, or one argument per line when too long."""
    parts = [text if key is None else f"{key}={text}" for key, text in arguments]
    line = f"{callee}({', '.join(parts)})"
    if indent + len(line) <= LINE:
        return line
    pad = " " * (indent + 4)
    return f"{callee}(\n" + "".join(f"{pad}{part},\n" for part in parts) + " " * indent + ")"


def rendered(c: Call, indent: int, names: dict[int, str] | None = None) -> str:
    """A Call with literal arguments, or with parameter names where `names` says."""
    names = names or {}
    args = [(key, names[i] if i in names else literal(value)) for i, (key, value) in enumerate(c.arguments())]
    return render_call(c.callee, args, indent)


def identifier(name: str, taken: set[str]) -> str:
    """A fresh Python variable named after a layer: 'layer1.0.conv1' -> 'conv1'."""
    base = re.sub(r"\W+", "_", name.split(".")[-1]).strip("_") or "x"
    if base[0].isdigit():
        base = re.sub(r"\W+", "_", name).strip("_")
        base = base if not base[0].isdigit() else f"x_{base}"
    if keyword.iskeyword(base) or base in ("self", "torch", "nn", "F", "keras", "layers"):
        base += "_"
    candidate, counter = base, 2
    while candidate in taken:
        candidate, counter = f"{base}_{counter}", counter + 1
    taken.add(candidate)
    return candidate


def camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part) or "Block"


# -- the graph, arranged in scopes (the network and its block instances) ----------------------


@dataclass
class Item:
    """A layer and what it is in PyTorch."""

    node: Node
    op: TorchOp


@dataclass
class Scope:
    """The network or one block instance: its own layers, and the instances inside it."""

    name: str  # "" for the network
    prefix: str
    block: str | None = None
    params: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)  # Items and child Scopes, in order
    inputs: list[str] = field(default_factory=list)  # values from outside, in order of use
    outputs: list[str] = field(default_factory=list)  # values used outside (the first: its result)
    construct: Call | None = None  # how the parent builds it

    def items(self):
        for step in self.steps:
            if isinstance(step, Scope):
                yield from step.items()
            else:
                yield step


def shapes_of(network: Network):
    summary = analyse(network)
    shapes = {INPUT: network.input_shape}
    for row in summary.layers:
        shapes[row.name] = row.output_shape
    return shapes


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


# -- PyTorch ---------------------------------------------------------------------------------


@dataclass
class Member:
    """A submodule: a layer's module, a block instance, or a container of members."""

    call: Call | None = None
    scope: Scope | None = None
    item: Item | None = None
    children: dict = field(default_factory=dict)
    kind: str = ""  # for containers: Sequential, ModuleList, ModuleDict

    def local(self, prefix: str) -> str:
        return (self.scope.name if self.scope else self.item.node.name)[len(prefix) :]


@dataclass
class SequentialStep:
    """A numbered chain of modules, called as one nn.Sequential."""

    path: list[str]
    member: Member


@dataclass
class Template:
    """One instance's class, with its constructor calls still as values."""

    key: tuple
    scope: Scope
    init: list[str]  # with <<i>> where the i-th call goes
    calls: list  # Call for a layer's module, Scope for a block instance inside
    params: list[str]
    body: list[str]


@dataclass
class ClassEntry:
    name: str
    templates: list[Template] = field(default_factory=list)
    text: str = ""


class TorchWriter:
    def __init__(self, network: Network):
        self.network = network
        self.channels_last = network.layout.channels_last
        self.shapes = shapes_of(network)
        self.items = []
        for node in network.nodes:
            in_shapes = tuple(self.shapes[name] for name in node.inputs)
            op = node.layer.torch(in_shapes, self.shapes[node.name], network.layout)
            self.items.append(Item(node, op))
        self.root = arrange(network, self.items)
        self.consumers: dict[str, set[str]] = {}
        for item in self.items:
            for source in item.node.inputs:
                self.consumers.setdefault(source, set()).add(item.node.name)
        self.entries: dict[tuple, ClassEntry] = {}
        self.class_of: dict[str, ClassEntry] = {}  # instance name -> its class
        self.class_names: set[str] = {"Net", *TORCH_HELPERS}
        self.first_members: dict[str, list[str]] = {}

    # -- the module tree of one scope ---------------------------------------------------------
    def members(self, scope: Scope) -> dict:
        tree: dict = {}
        for step in scope.steps:
            if isinstance(step, Scope):
                leaf = Member(scope=step)
            elif step.op.module is not None:
                leaf = Member(call=step.op.module, item=step)
            else:
                continue
            local = leaf.local(scope.prefix)
            parts = local.split(".")
            if any(not part for part in parts):
                raise self.bad_name(step, "has an empty part between dots")
            node = tree
            for depth, part in enumerate(parts[:-1]):
                entry = node.setdefault(part, Member())
                if entry.call is not None or entry.scope is not None:
                    raise self.bad_name(step, f"puts a module inside '{'.'.join(parts[: depth + 1])}', which is a layer")
                node = entry.children
            if parts[-1] in node:
                raise self.bad_name(step, f"is also the start of other layers' names ('{local}.…')")
            node[parts[-1]] = leaf
        for name, member in tree.items():
            if name in RESERVED:
                raise self.bad_name(self.first_leaf(member), f"starts with '{name}', an attribute of nn.Module")
        self.settle(tree)
        return tree

    def first_leaf(self, member: Member):
        while member.children:
            member = next(iter(member.children.values()))
        return member.scope or member.item

    def bad_name(self, step, why: str) -> CnnError:
        item = next(step.items()) if isinstance(step, Scope) else step
        layer = item.node.layer
        return CnnError(
            f"cannot export to PyTorch: the name '{item.node.name}' {why}; PyTorch's state_dict keys are module "
            "attributes, so allowed: dotted names whose parts are not empty, not a layer's whole name, and not "
            "nn.Module's own attributes",
            layer.where.layer,
            layer.label,
        )

    def settle(self, tree: dict) -> None:
        """Each container's kind: Sequential for a numbered chain, else ModuleList or ModuleDict."""
        for member in tree.values():
            if member.call is None and member.scope is None:
                self.settle(member.children)
                keys = list(member.children)
                numbered = keys == [str(i) for i in range(len(keys))]
                member.kind = "Sequential" if numbered and self.chain(member) else "ModuleList" if numbered else "ModuleDict"

    def chain(self, member: Member) -> bool:
        """One input in, each child feeding only the next, only the last child's value used
        after; every child a plain module call, all in one layout."""
        children = list(member.children.values())
        if any(c.kind for c in children):
            return False
        outputs, inputs, wants = [], [], set()
        for child in children:
            if child.scope is not None:
                if len(child.scope.inputs) != 1 or len(child.scope.outputs) != 1:
                    return False
                inputs.append(child.scope.inputs[0])
                outputs.append(child.scope.outputs[0])
                wants.add(CHANNELS_FIRST)
            else:
                item = child.item
                if item.op.expression != "{m}({x})" or len(item.node.inputs) != 1 or not item.node.trainable:
                    return False
                inputs.append(item.node.inputs[0])
                outputs.append(item.node.name)
                wants.add(item.op.wants)
        if any(inputs[i + 1] != outputs[i] for i in range(len(children) - 1)):
            return False
        if self.channels_last and {CHANNELS_FIRST, FILE} <= wants:
            return False
        for index, output in enumerate(outputs[:-1]):  # read only by the next child
            if not self.consumers.get(output, set()) <= self.names_in(children[index + 1]):
                return False
        return True

    @staticmethod
    def names_in(member: Member) -> set[str]:
        return {item.node.name for item in member.scope.items()} if member.scope else {member.item.node.name}

    def access(self, tree: dict, path: list[str]) -> str:
        """self.layer1[0].conv1 for a member path in this scope's tree."""
        name = path[0]
        code = f"self.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(self, {json.dumps(name)})"
        member = tree[name]
        for part in path[1:]:
            code += f"[{json.dumps(part)}]" if member.kind == "ModuleDict" else f"[{part}]"
            member = member.children[part]
        return code

    def init_lines(self, tree: dict, scope: Scope, calls: list) -> list[str]:
        """__init__'s lines, each constructor call as <<i>> (its index in calls)."""

        def code(member: Member, indent: int) -> str:
            if member.call is not None or member.scope is not None:
                calls.append(member.call if member.call is not None else member.scope)
                return f"<<{len(calls) - 1}>>"
            pad, inner = " " * (indent + 4), " " * (indent + 8)
            if member.kind == "ModuleDict":
                body = "".join(f"{inner}{json.dumps(k)}: {code(v, indent + 8)},\n" for k, v in member.children.items())
                return f"nn.ModuleDict(\n{pad}{{\n{body}{pad}}}\n{' ' * indent})"
            if member.kind == "ModuleList":
                body = "".join(f"{inner}{code(v, indent + 8)},\n" for v in member.children.values())
                return f"nn.ModuleList(\n{pad}[\n{body}{pad}]\n{' ' * indent})"
            body = "".join(f"{pad}{code(v, indent + 4)},\n" for v in member.children.values())
            return f"nn.Sequential(\n{body}{' ' * indent})"

        lines = []
        for name, member in tree.items():
            if name.isidentifier() and not keyword.iskeyword(name):
                lines.append(f"        self.{name} = {code(member, 8)}")
            else:
                lines.append(f"        self.add_module({json.dumps(name)}, {code(member, 8)})")
        for item in scope.steps:  # layers kept out of training (trainable: false)
            if isinstance(item, Item) and not item.node.trainable and item.op.module is not None:
                path = item.node.name[len(scope.prefix) :].split(".")
                lines.append(f"        {self.access(tree, path)}.requires_grad_(False)")
        return lines

    # -- forward ------------------------------------------------------------------------------
    def forward(self, scope: Scope, tree: dict) -> tuple[list[str], list[str]]:
        """(parameter names, body lines) of the scope's forward."""
        taken: set[str] = set()
        params = ["x" if index == 0 else identifier(source, taken) for index, source in enumerate(scope.inputs)]
        states = {source: FILE if not scope.name else CHANNELS_FIRST for source in scope.inputs}
        steps = self.collapse(scope, tree)
        uses: dict[str, int] = {}
        for source in [s for step in steps for s in step_inputs(step)] + scope.outputs:
            uses[source] = uses.get(source, 0) + 1
        variables = Variables(dict(zip(scope.inputs, params)), uses)
        lines = []
        for step in steps:
            sources = step_inputs(step)
            wants = self.step_wants(step)
            target = wants if wants != ANY else states[sources[0]]
            texts = [self.convert(variables.of(s), states[s], target, self.shapes[s]) for s in sources]
            expression = self.step_expression(step, tree, scope, texts)
            outputs = step_outputs(step)
            names = [variables.take(sources, outputs[0]), *(variables.fresh(o) for o in outputs[1:])]
            lines.append(f"{', '.join(names)} = {expression}")
            states.update({output: target for output in outputs})
        target = CHANNELS_FIRST if scope.name else FILE
        results = [self.convert(variables.of(n), states[n], target, self.shapes[n]) for n in scope.outputs]
        lines.append("return " + ", ".join(results))
        return params, lines

    def collapse(self, scope: Scope, tree: dict) -> list:
        """The scope's steps, with each Sequential container called as one step."""
        containers: dict[str, SequentialStep] = {}

        def walk(members: dict, path: list[str]):
            for name, member in members.items():
                if member.kind == "Sequential":
                    step = SequentialStep(path + [name], member)
                    for child in member.children.values():
                        containers[child.local(scope.prefix)] = step
                elif member.kind:
                    walk(member.children, path + [name])

        walk(tree, [])
        steps: list = []
        for step in scope.steps:
            local = (step.name if isinstance(step, Scope) else step.node.name)[len(scope.prefix) :]
            container = containers.get(local)
            if container is None:
                steps.append(step)
            elif container not in steps:
                steps.append(container)
        return steps

    def step_wants(self, step) -> str:
        if isinstance(step, Scope):
            return CHANNELS_FIRST
        if isinstance(step, SequentialStep):
            wants = {CHANNELS_FIRST if c.scope else c.item.op.wants for c in step.member.children.values()}
            wants.discard(ANY)
            return wants.pop() if wants else ANY
        return step.op.wants

    def convert(self, var: str, state: str, target: str, shape) -> str:
        """The value in the wanted layout (only channels_last files ever move anything)."""
        if not self.channels_last or state == target or len(shape) < 2:
            return var
        return f"{var}.movedim(-1, 1)" if target == CHANNELS_FIRST else f"{var}.movedim(1, -1)"

    def step_expression(self, step, tree: dict, scope: Scope, texts: list[str]) -> str:
        if isinstance(step, Scope):
            return f"{self.access(tree, step.name[len(scope.prefix) :].split('.'))}({', '.join(texts)})"
        if isinstance(step, SequentialStep):
            return f"{self.access(tree, step.path)}({texts[0]})"
        module = self.access(tree, step.node.name[len(scope.prefix) :].split(".")) if step.op.module else ""
        values = {"m": module, "xs": ", ".join(texts), "x": texts[0]}
        values.update({f"x{i}": text for i, text in enumerate(texts)})
        return step.op.expression.format(**values)

    # -- classes -------------------------------------------------------------------------------
    def collect(self, scope: Scope) -> None:
        """Templates of every instance, innermost first, grouped into classes."""
        for step in scope.steps:
            if isinstance(step, Scope):
                self.collect(step)
        if not scope.name:
            return
        tree = self.members(scope)
        calls: list = []
        init = self.init_lines(tree, scope, calls)
        params, body = self.forward(scope, tree)
        shape = tuple(
            (self.class_of[c.name].name,) if isinstance(c, Scope) else (c.callee, len(c.args), tuple(k for k, _ in c.kwargs))
            for c in calls
        )
        key = (scope.block, tuple(init), tuple(params), tuple(body), shape)
        entry = self.entries.get(key)
        if entry is None:
            entry = ClassEntry(self.fresh_class_name(scope.block, list(tree)))
            self.entries[key] = entry
        entry.templates.append(Template(key, scope, init, calls, params, body))
        self.class_of[scope.name] = entry

    def fresh_class_name(self, block: str, members: list[str]) -> str:
        """The block's name; a second wiring of it is named after a member the first lacks."""
        base = camel(block)
        first = self.first_members.setdefault(block, members)
        extra = [m for m in members if m not in first]
        if extra and base in self.class_names:
            base += camel(extra[0])
        name, counter = base, 2
        while name in self.class_names:
            name, counter = f"{base}{counter}", counter + 1
        self.class_names.add(name)
        return name

    def construct(self, value) -> Call:
        return value if isinstance(value, Call) else value.construct

    def render(self, entry: ClassEntry) -> None:
        """The class text, with the values that differ between instances as parameters."""
        templates = entry.templates
        scopes = [t.scope for t in templates]
        arguments: list[str] = []
        seen: dict[str, list] = {}  # argument -> its values, one per instance
        names_per_call: list[dict[int, str]] = []
        values_per_instance: list[dict] = [{} for _ in templates]
        for position in range(len(templates[0].calls)):
            calls = [self.construct(t.calls[position]) for t in templates]
            names: dict[int, str] = {}
            for index, (key, _) in enumerate(calls[0].arguments()):
                values = [c.arguments()[index][1] for c in calls]
                if all(v == values[0] for v in values[1:]):
                    continue
                name = next((n for n, v in seen.items() if v == values), None)
                name = name or parameter_name(scopes, values, key, index, calls[0], arguments)
                seen[name] = values
                names[index] = name
                if name not in arguments:
                    arguments.append(name)
                for per_instance, value in zip(values_per_instance, values):
                    per_instance[name] = value
            names_per_call.append(names)
        first = templates[0]
        init = [fill(line, lambda i, indent: rendered(self.construct(first.calls[i]), indent, names_per_call[i])) for line in first.init]
        count = len(templates)
        entry.text = "\n".join(
            [
                f"class {entry.name}(nn.Module):",
                f'    """Block \'{first.scope.block}\' ({count} instance{"s" if count != 1 else ""} in this network)."""',
                "",
                f"    def __init__({', '.join(['self', *arguments])}):",
                "        super().__init__()",
                *init,
                "",
                f"    def forward(self, {', '.join(first.params)}):",
                *("        " + line for line in first.body),
            ]
        )
        for scope, values in zip(scopes, values_per_instance):
            scope.construct = Call(entry.name, (), tuple((name, values[name]) for name in arguments))

    def write(self) -> str:
        self.collect(self.root)
        order: list[ClassEntry] = []

        def visit(entry: ClassEntry):
            if entry in order:
                return
            for template in entry.templates:
                for c in template.calls:
                    if isinstance(c, Scope):
                        visit(self.class_of[c.name])
            order.append(entry)

        for entry in self.entries.values():
            visit(entry)
        for entry in order:
            self.render(entry)
        tree = self.members(self.root)
        calls: list = []
        init = self.init_lines(tree, self.root, calls)
        init = [fill(line, lambda i, indent: rendered(self.construct(calls[i]), indent)) for line in init]
        params, body = self.forward(self.root, tree)
        shape = (1, *self.network.input_shape)
        title = self.network.name or "network"
        layout = " in channels_last layout" if self.channels_last else ""
        net = "\n".join(
            [
                "class Net(nn.Module):",
                f'    """{title}, built for input {literal(shape)}{layout}:',
                '    explicit pads and crops are computed for that size."""',
                "",
                "    def __init__(self):",
                "        super().__init__()",
                *init,
                "",
                f"    def forward(self, {', '.join(params)}):",
                *("        " + line for line in body),
            ]
        )
        classes = [entry.text for entry in order]
        code = "\n".join([*classes, net])
        helpers = [text for name, text in TORCH_HELPERS.items() if re.search(rf"\b{name}\(", code)]
        header = [
            f'"""{title}: PyTorch code written by `cnncalc export`.',
            "",
            "Net's state_dict keys are cnncalc's layer names; Net()(torch.randn(INPUT_SHAPE)) runs it.",
            '"""',
            "",
            "import torch",
            "import torch.nn as nn",
        ]
        if re.search(r"\bF\.", code):
            header.append("import torch.nn.functional as F")
        main = 'if __name__ == "__main__":\n    net = Net().eval()\n    print(net(torch.randn(INPUT_SHAPE)).shape)'
        parts = ["\n".join(header), f"INPUT_SHAPE = {literal(shape)}", *helpers, *classes, net, main]
        return "\n\n\n".join(parts) + "\n"


def fill(line: str, render) -> str:
    """Replace each <<i>> in an __init__ line with the i-th call, indented to fit."""
    match = re.search(r"<<(\d+)>>", line)
    while match:
        indent = len(line) - len(line.lstrip())
        line = line[: match.start()] + render(int(match.group(1)), indent) + line[match.end() :]
        match = re.search(r"<<(\d+)>>", line)
    return line


POSITIONAL = {
    # Names of the positional arguments cnncalc writes, for naming constructor parameters.
    "Conv": ("in_channels", "out_channels"),
    "ConvTranspose": ("in_channels", "out_channels"),
    "SeparableConv": ("conv", "in_channels", "out_channels"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm": ("num_features",),
    "InstanceNorm": ("num_features",),
    "GroupNorm": ("num_groups", "num_channels"),
    "LayerNorm": ("normalized_shape",),
    "PReLU": ("num_parameters",),
    "MaxPool": ("kernel_size",),
    "AvgPool": ("kernel_size",),
    "AdaptiveAvgPool": ("output_size",),
    "AdaptiveMaxPool": ("output_size",),
    "Dropout": ("p",),
    "PixelShuffle": ("upscale_factor",),
    "Flatten": ("start_dim", "end_dim"),
}


def parameter_name(scopes: list[Scope], values: list, key, index: int, template: Call, taken: list[str]) -> str:
    """A block parameter that has exactly these values in every instance, else the
    argument's own name (conv1_stride when that is taken)."""
    for param in scopes[0].params:
        if all(s.params.get(param) == v and type(s.params.get(param)) is type(v) for s, v in zip(scopes, values)):
            return param
    stem = re.sub(r"\d+d$", "", template.callee.split(".")[-1])
    own = key or POSITIONAL.get(stem, ())[index:index + 1] or (f"arg{index}",)
    own = own if isinstance(own, str) else own[0]
    return own if own not in taken else f"{own}_{len(taken)}"


def step_inputs(step) -> list[str]:
    if isinstance(step, Scope):
        return list(step.inputs)
    if isinstance(step, SequentialStep):
        first = next(iter(step.member.children.values()))
        return list(first.scope.inputs) if first.scope else [first.item.node.inputs[0]]
    return list(step.node.inputs)


def step_outputs(step) -> list[str]:
    if isinstance(step, Scope):
        return list(step.outputs)
    if isinstance(step, SequentialStep):
        last = list(step.member.children.values())[-1]
        return [last.scope.outputs[0]] if last.scope else [last.item.node.name]
    return [step.node.name]


def to_pytorch(network: Network) -> str:
    return TorchWriter(network).write()


class Variables:
    """Python variables holding the graph's values: a value's variable is handed on to the
    layer that reads it last (x = conv(x)); new ones are named x where free, else after
    the layer."""

    def __init__(self, initial: dict[str, str], uses: dict[str, int]):
        self.names = dict(initial)
        self.uses = dict(uses)
        self.taken = set(initial.values())

    def of(self, value: str) -> str:
        return self.names[value]

    def take(self, sources, value: str) -> str:
        """The variable for `value`, computed from `sources` (each read once more)."""
        for source in sources:
            self.uses[source] -= 1
        first = sources[0] if sources else None
        if first is not None and self.uses[first] == 0 and list(sources).count(first) == 1 and self.names[first] != "inputs":
            name = self.names[first]
        else:
            live = {self.names[v] for v, n in self.uses.items() if n > 0 and v in self.names}
            name = next((n for n in ("x", "out") if n not in live), None) or identifier(value, self.taken)
        self.names[value] = name
        self.taken.add(name)
        return name

    def fresh(self, value: str) -> str:
        """A new variable of its own for `value` (a second result of a block)."""
        self.names[value] = identifier(value, self.taken)
        return self.names[value]


# -- Keras -----------------------------------------------------------------------------------


def keras_name(name: str) -> str:
    """Keras names cannot hold dots with every backend (PyTorch's parameter names): layer1.0.conv1 -> layer1_0_conv1."""
    return name.replace(".", "_")


def to_keras(network: Network) -> str:
    shapes = shapes_of(network)
    layout = network.layout
    names: dict[str, Node] = {}
    for node in network.nodes:
        clash = names.setdefault(keras_name(node.name), node)
        if clash is not node:
            raise CnnError(
                f"cannot export to Keras: '{node.name}' and '{clash.name}' both become the Keras name "
                f"'{keras_name(node.name)}' (dots turn into underscores); allowed: names that stay apart",
                node.layer.where.layer,
                node.layer.label,
            )
    uses: dict[str, int] = {}
    for node in network.nodes:
        for source in node.inputs:
            uses[source] = uses.get(source, 0) + 1
    last = network.nodes[-1].name
    uses[last] = uses.get(last, 0) + 1
    variables = Variables({INPUT: "inputs"}, uses)
    lines = [f"inputs = keras.Input(shape={literal(tuple(network.input_shape))}, name=\"input\")"]
    for node in network.nodes:
        in_shapes = tuple(shapes[name] for name in node.inputs)
        op: KerasOp = node.layer.keras(in_shapes, shapes[node.name], layout)
        sources = [variables.of(s) for s in node.inputs]
        current = sources[0] if len(sources) == 1 else "[" + ", ".join(sources) + "]"
        var = variables.take(node.inputs, node.name)
        for suffix, layer in op.layers:
            options = [("name", keras_name(node.name) + suffix)]
            if not node.trainable and not suffix:
                options.append(("trainable", False))
            named = Call(layer.callee, layer.args, (*layer.kwargs, *options))
            lines.append(f"{var} = {rendered(named, 4 + len(var) + 3)}({current})")
            current = var
    lines.append(f"return keras.Model(inputs, {variables.of(last)}, name={json.dumps(network.name or 'network')})")
    code = "\n".join(lines)
    helpers = [text for name, text in KERAS_HELPERS.items() if re.search(rf"\b{name}\b", code)]
    title = network.name or "network"
    header = [
        f'"""{title}, written by cnncalc export: a Keras 3 functional model of the network.',
        "",
        "Layer names are cnncalc's, with dots as underscores; build_model().summary() lists them.",
        '"""',
        "",
        "import keras",
        "from keras import layers",
    ]
    build = ["def build_model():", *("    " + line for line in code.splitlines())]
    main = ['if __name__ == "__main__":', "    build_model().summary()"]
    return "\n\n\n".join(["\n".join(header), *helpers, "\n".join(build), "\n".join(main)]) + "\n"
