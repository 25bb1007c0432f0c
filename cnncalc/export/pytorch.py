"""PyTorch code for a network (`cnncalc export --to pytorch`, CONTRACT.md §7).

Each layer says what it is in PyTorch (`Layer.torch`, a TorchOp from layers/code.py); this
module arranges those into a module a person would write, as a tree of code (export/code.py).

Block instances become `nn.Module` classes (one class per block and wiring; the values that
differ between instances become constructor parameters), chains of numbered layers become
`nn.Sequential`, and every module sits where its cnncalc name says, so the `state_dict` keys
are cnncalc's weight names and weights move both ways. A file in channels_last layout keeps
its layout at the input and output; inside, tensors are moved to PyTorch's (N, C, ...) order
where a layer needs it, and back where the order matters (flatten, linear, an explicit axis).

Several inputs are forward's parameters in the order written, several outputs its tuple
(CONTRACT.md §8). A split's or chunk's outputs are variables of their own (s_0, s_1 = ...),
which may leave or enter block instances like any value. A layer that shares another's
weights (share:) has no module: it calls its owner's, reached through the instances that
hold it, or handed to its own instance's forward as an argument when the owner is outside.

Names from the file: a layer's name is its module's attribute (`self.conv1`, or
`add_module("0_conv", ...)` / `getattr(self, "0_conv")` where it is no plain Python name) and
is refused, with its location, where PyTorch could not hold it; block names, block parameters
and variables become fresh Python names (export/code.py's Namespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable

from ..errors import CnnError
from ..graph import Network
from ..layers.code import ANY, CHANNELS_FIRST, FILE, HELPERS
from ..layers.code import Call as Record
from .code import (
    FRAMEWORK_NAMES,
    Assign,
    Attribute,
    Call,
    Class,
    DictDisplay,
    Docstring,
    Expr,
    Expression,
    Function,
    Import,
    Joined,
    ListComp,
    ListDisplay,
    Literal,
    MainGuard,
    Module,
    Name,
    Namespace,
    Return,
    Starred,
    Statement,
    Subscript,
    Template,
    Verbatim,
    dotted,
    from_record,
    is_identifier,
    literal,
    names_read,
    nodes,
    render,
)
from .scopes import Item, Scope, arrange, calls_owner, is_part, part_name, values_of
from .variables import Variables

# The names the generated module defines or imports at its top level (besides its classes).
MODULE_NAMES = FRAMEWORK_NAMES | {"INPUT_SHAPE", "Net"}

# The attributes of an nn.Module instance (dir(nn.Module()) in torch 2.x, but Python's own
# __names__, refused by python_own): a submodule named after one would replace it, or PyTorch
# refuses it. tests/test_export.py checks that the installed PyTorch has no others.
MODULE_ATTRIBUTES = frozenset(
    """T_destination _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
    _get_backward_hooks _get_backward_pre_hooks _get_name _is_full_backward_hook _load_from_state_dict
    _load_state_dict_post_hooks _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook _register_state_dict_hook
    _replicate_for_data_parallel _save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks _version
    _wrapped_call_impl add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
    eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict
    modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu zero_grad""".split()
)
# ... and those nn.ModuleDict adds: a key named after one is refused by PyTorch.
MODULE_DICT_ATTRIBUTES = MODULE_ATTRIBUTES | {"clear", "items", "keys", "pop", "update", "values"}


def python_own(name: str) -> bool:
    """__name__: Python's own names (__class__, __dict__, ...), which no module may hold."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def plain_attribute(name: str) -> bool:
    """A member written self.name: a name Python reads back as written, and not __private
    (which Python would rename inside the class)."""
    return is_identifier(name) and not name.startswith("__")


# -- constructor calls inside __init__, before a block's class decides its parameters ------------


@dataclass(frozen=True)
class Construct(Expr):
    """A place in __init__ where a module is built: from a layer's Call, or a block
    instance (a Scope). Compared by its shape only (the callee and which arguments), so
    that instances of one block with other values still share a class."""

    shape: tuple
    what: Any = field(compare=False)


def rebuild(node: Any, change: Callable[[Construct], Expr]) -> Any:
    """The tree with each Construct replaced by change(construct), in a fixed order."""
    if isinstance(node, Construct):
        return change(node)
    if isinstance(node, tuple):
        return tuple(rebuild(item, change) for item in node)
    if is_dataclass(node) and isinstance(node, (Expr, Statement)):
        return replace(node, **{f.name: rebuild(getattr(node, f.name), change) for f in fields(node)})
    return node


def constructs(tree: Any) -> list[Construct]:
    """The tree's Constructs, in the order rebuild() meets them."""
    return [node for node in nodes(tree) if isinstance(node, Construct)]


# -- the module tree of a scope ------------------------------------------------------------------


@dataclass(eq=False)
class Member:
    """A submodule: a layer's module, a block instance, or a container of members."""

    call: Record | None = None
    scope: Scope | None = None
    item: Item | None = None
    children: dict = field(default_factory=dict)
    kind: str = ""  # for containers: Sequential, ModuleList, ModuleDict

    def local(self, prefix: str) -> str:
        return (self.scope.name if self.scope else self.item.node.name)[len(prefix) :]


@dataclass(eq=False)
class SequentialStep:
    """A numbered chain of modules, called as one nn.Sequential."""

    path: list[str]
    member: Member


@dataclass(eq=False)
class Instance:
    """A block instance as its class would write it, its constructor calls still Constructs."""

    scope: Scope
    init: tuple[Statement, ...]
    params: tuple[str, ...]
    body: tuple[Statement, ...]

    def __post_init__(self):
        self.constructs = constructs(self.init)

    @property
    def calls(self) -> list[Record]:
        """The records of its constructor calls, in order (a block instance's once its class is written)."""
        return [c.what if isinstance(c.what, Record) else c.what.construct for c in self.constructs]


@dataclass(eq=False)
class ClassEntry:
    name: str
    instances: list[Instance] = field(default_factory=list)
    code: Class | None = None


def camel(name: str) -> str:
    """A class name from a block's name: its letters and digits, each word capitalised."""
    text = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part) or "Block"
    return text if not text[0].isdigit() else f"Block{text}"


class TorchWriter:
    """One network's PyTorch module: collect() groups the block instances into classes,
    write_class() gives each class its parameters, write() puts the module together."""

    def __init__(self, network: Network):
        self.network = network
        self.channels_last = network.layout.channels_last
        values = values_of(network)
        self.shapes = values.shapes
        self.items = []
        by_name: dict[str, Item] = {}
        for node in network.nodes:
            in_shapes = tuple(self.shapes[name] for name in node.inputs)
            item = Item(node, node.layer.torch(in_shapes, self.shapes[node.name], network.layout))
            owner = by_name.get(node.share)
            if owner is not None and item.op.module is not None and owner.op.module is not None:
                if calls_owner("PyTorch", "module", node, owner.node, item.op.module, owner.op.module, values):
                    item.shares = owner.node.name  # one module, called by both
            by_name[node.name] = item
            self.items.append(item)
        self.layers = set(by_name)
        self.root = arrange(network, self.items)
        self.consumers: dict[str, set[str]] = {}
        for item in self.items:
            for source in item.node.inputs:
                self.consumers.setdefault(source, set()).add(item.node.name)
        for value in network.outputs:  # read by the network's caller
            self.consumers.setdefault(value, set()).add("")
        self.scope_of: dict[str, Scope] = {}  # each layer's innermost scope
        self.trees: dict[str, dict] = {}  # each scope's module tree, by its name
        self.entries: dict[tuple, ClassEntry] = {}
        self.class_of: dict[str, ClassEntry] = {}  # instance name -> its class
        self.classes = Namespace(MODULE_NAMES - {"Net"}, {"Net"})
        self.first_members: dict[str, list[str]] = {}

    # -- the module tree of one scope ---------------------------------------------------------
    def members(self, scope: Scope) -> dict:
        tree: dict = {}
        for step in scope.steps:
            if isinstance(step, Scope):
                leaf = Member(scope=step)
            elif step.op.module is not None and step.shares is None:
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
            if name in MODULE_ATTRIBUTES:
                raise self.bad_name(self.first_leaf(member), f"starts with '{name}', an attribute of nn.Module")
            if python_own(name):
                raise self.bad_name(self.first_leaf(member), f"starts with '{name}', a name Python keeps for itself")
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
                for key, child in member.children.items():
                    if member.kind == "ModuleDict" and (key in MODULE_DICT_ATTRIBUTES or python_own(key)):
                        raise self.bad_name(self.first_leaf(child), f"has the part '{key}', an attribute of nn.ModuleDict")

    def chain(self, member: Member) -> bool:
        """One input in, each child feeding only the next, only the last child's value used
        after; every child a plain module call, all in one layout."""
        children = list(member.children.values())
        if any(c.kind for c in children):
            return False
        outputs, inputs, wants = [], [], set()
        for child in children:
            if child.scope is not None:
                if len(child.scope.inputs) != 1 or len(child.scope.outputs) != 1 or child.scope.modules:
                    return False
                inputs.append(child.scope.inputs[0])
                outputs.append(child.scope.outputs[0])
                wants.add(CHANNELS_FIRST)
            else:
                item = child.item
                if (
                    item.op.expression != "{m}({x})"
                    or len(item.node.inputs) != 1
                    or len(item.outputs) != 1
                    or not item.node.trainable
                ):
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

    def access(self, tree: dict, path: list[str], base: Expr = Name("self")) -> Expr:
        """self.layer1[0].conv1 for a member path in this scope's tree (`base`: the scope's module)."""
        name = path[0]
        code: Expr = Attribute(base, name) if plain_attribute(name) else Call(Name("getattr"), (base, Literal(name)))
        member = tree[name]
        for part in path[1:]:
            code = Subscript(code, Literal(part if member.kind == "ModuleDict" else int(part)))
            member = member.children[part]
        return code

    def construct(self, member: Member) -> Expr:
        """A member's value in __init__: a Construct, or a container of them."""
        if member.call is not None:
            record = member.call
            return Construct((record.callee, len(record.args), tuple(k for k, _ in record.kwargs)), record)
        if member.scope is not None:
            return Construct((self.class_of[member.scope.name].name,), member.scope)
        children = member.children
        if member.kind == "ModuleDict":
            return Call(dotted("nn.ModuleDict"), (DictDisplay(tuple((k, self.construct(v)) for k, v in children.items())),))
        if member.kind == "ModuleList":
            return Call(dotted("nn.ModuleList"), (ListDisplay(tuple(self.construct(v) for v in children.values()), exploded=True),))
        return Call(dotted("nn.Sequential"), tuple(self.construct(v) for v in children.values()), exploded=True)

    def init(self, tree: dict, scope: Scope) -> tuple[Statement, ...]:
        """__init__'s statements after super().__init__(), with Constructs for the modules."""
        statements: list[Statement] = []
        for name, member in tree.items():
            value = self.construct(member)
            if plain_attribute(name):
                statements.append(Assign((Attribute(Name("self"), name),), value))
            else:
                statements.append(Expression(Call(Attribute(Name("self"), "add_module"), (Literal(name), value))))
        for item in scope.steps:  # layers kept out of training (trainable: false)
            if isinstance(item, Item) and not item.node.trainable and item.op.module is not None and item.shares is None:
                path = item.node.name[len(scope.prefix) :].split(".")
                statements.append(Expression(Call(Attribute(self.access(tree, path), "requires_grad_"), (Literal(False),))))
        return tuple(statements)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, scope: Scope, tree: dict) -> tuple[tuple[str, ...], tuple[Statement, ...]]:
        """(parameter names, body) of the scope's forward."""
        names = Namespace(MODULE_NAMES)  # forward reads no class, so the classes need no reserving
        several = not scope.name and len(scope.inputs) > 1  # the network's inputs, each by its name
        params = [
            names.take("x") if index == 0 and not several else names.fresh(source) for index, source in enumerate(scope.inputs)
        ]
        modules = {owner: names.fresh(owner) for owner in scope.modules}  # the shared modules it is given
        states = {source: FILE if not scope.name else CHANNELS_FIRST for source in scope.inputs}
        steps = self.collapse(scope, tree)
        uses: dict[str, int] = {}
        for source in [s for step in steps for s in step_inputs(step)] + scope.outputs:
            uses[source] = uses.get(source, 0) + 1
        variables = Variables(dict(zip(scope.inputs, params)), uses, names, named=params if several else ())
        body: list[Statement] = []
        for step in steps:
            sources = step_inputs(step)
            wants = self.step_wants(step)
            target = wants if wants != ANY else states[sources[0]]
            values = [self.convert(variables.of(s), states[s], target, self.shapes[s]) for s in sources]
            value = self.step_expression(step, tree, scope, values, modules)
            outputs = step_outputs(step)
            if is_part(outputs[0], self.layers):  # s_0, s_1 = torch.split(...)
                variables.read(sources)
                targets = [self.variable(variables, o) for o in outputs]
            else:
                targets = [variables.take(sources, outputs[0]), *(self.variable(variables, o) for o in outputs[1:])]
            body.append(Assign(tuple(Name(t) for t in targets), value))
            states.update({output: target for output in outputs})
        target = CHANNELS_FIRST if scope.name else FILE
        body.append(Return(tuple(self.convert(variables.of(n), states[n], target, self.shapes[n]) for n in scope.outputs)))
        return (*params, *modules.values()), tuple(body)

    def variable(self, variables: Variables, value: str) -> str:
        """A new variable of its own for a value: s_1 for output 1 of a layer s with several."""
        if is_part(value, self.layers):
            return variables.part(value, part_name(value, self.layers))
        return variables.fresh(value)

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

    def convert(self, var: str, state: str, target: str, shape) -> Expr:
        """The value in the wanted layout (only channels_last files ever move anything)."""
        if not self.channels_last or state == target or len(shape) < 2:
            return Name(var)
        turn = (Literal(-1), Literal(1)) if target == CHANNELS_FIRST else (Literal(1), Literal(-1))
        return Call(Attribute(Name(var), "movedim"), turn)

    def step_expression(self, step, tree: dict, scope: Scope, values: list[Expr], modules: dict[str, str]) -> Expr:
        if isinstance(step, Scope):
            shared = tuple(self.module_of(owner, scope, modules) for owner in step.modules)
            # one given shared modules wraps when long; one given only values stays on one line, as ever
            return Call(self.access(tree, step.name[len(scope.prefix) :].split(".")), (*values, *shared), wraps=bool(shared))
        if isinstance(step, SequentialStep):
            return Call(self.access(tree, step.path), (values[0],))
        holes: list[tuple[str, Expr]] = [("x", values[0]), ("xs", Joined(tuple(values)))]
        holes += [(f"x{i}", value) for i, value in enumerate(values)]
        if step.shares is not None:
            holes.append(("m", self.module_of(step.shares, scope, modules)))
        elif step.op.module is not None:
            holes.append(("m", self.access(tree, step.node.name[len(scope.prefix) :].split("."))))
        return Template(step.op.expression, tuple(holes))

    def module_of(self, owner: str, scope: Scope, given: dict[str, str]) -> Expr:
        """The module of layer `owner` seen from `scope`'s forward: a parameter when it is
        given from outside, else self.path.to.it down through the instances that hold it."""
        if owner in given:
            return Name(given[owner])
        down = []
        holder = self.scope_of[owner]
        while holder is not scope:
            down.append(holder)
            holder = holder.parent
        code: Expr = Name("self")
        for inner in reversed(down):
            code = self.access(self.trees[holder.name], inner.name[len(holder.prefix) :].split("."), code)
            holder = inner
        return self.access(self.trees[holder.name], owner[len(holder.prefix) :].split("."), code)

    # -- classes -------------------------------------------------------------------------------
    def collect(self, scope: Scope) -> None:
        """The instances of every block, innermost first, grouped into classes: one class
        per block and wiring (same members, calls and forward)."""
        for step in scope.steps:
            if isinstance(step, Scope):
                self.collect(step)
        for step in scope.steps:
            if isinstance(step, Item):
                self.scope_of[step.node.name] = scope
        if not scope.name:
            return
        tree = self.trees[scope.name] = self.members(scope)
        init = self.init(tree, scope)
        params, body = self.forward(scope, tree)
        key = (scope.block, init, params, body)
        entry = self.entries.get(key)
        if entry is None:
            entry = ClassEntry(self.fresh_class_name(scope.block, list(tree)))
            self.entries[key] = entry
        entry.instances.append(Instance(scope, init, params, body))
        self.class_of[scope.name] = entry

    def fresh_class_name(self, block: str, members: list[str]) -> str:
        """The block's name; a second wiring of it is named after a member the first lacks."""
        base = camel(block)
        first = self.first_members.setdefault(block, members)
        extra = [m for m in members if m not in first]
        if extra and base in self.classes.taken:
            base += camel(extra[0])
        name, counter = base, 2
        while not self.classes.allows(name):
            name, counter = f"{base}{counter}", counter + 1
        return self.classes.take(name)

    def write_class(self, entry: ClassEntry) -> None:
        """The class, with the values that differ between instances as parameters."""
        instances = entry.instances
        scopes = [i.scope for i in instances]
        names = Namespace(MODULE_NAMES | self.classes.taken)
        arguments: list[str] = []
        seen: dict[str, list] = {}  # argument -> its values, one per instance
        parameters_per_call: list[dict[int, str]] = []
        values_per_instance: list[dict] = [{} for _ in instances]
        calls_per_instance = [instance.calls for instance in instances]
        for position in range(len(calls_per_instance[0])):
            calls = [calls[position] for calls in calls_per_instance]
            parameters: dict[int, str] = {}
            for index, (key, _) in enumerate(calls[0].arguments()):
                values = [c.arguments()[index][1] for c in calls]
                if all(v == values[0] for v in values[1:]):
                    continue
                name = next((n for n, v in seen.items() if v == values), None)
                name = name or parameter_name(scopes, values, key, index, calls[0], names, len(arguments))
                seen[name] = values
                parameters[index] = name
                if name not in arguments:
                    arguments.append(name)
                for per_instance, value in zip(values_per_instance, values):
                    per_instance[name] = value
            parameters_per_call.append(parameters)
        first, first_calls = instances[0], calls_per_instance[0]
        positions = iter(range(len(first_calls)))

        def built(construct: Construct) -> Expr:
            position = next(positions)
            return from_record(first_calls[position], parameters_per_call[position])

        init = rebuild(first.init, built)
        count = len(instances)
        entry.code = Class(
            entry.name,
            (dotted("nn.Module"),),
            Docstring((f"Block '{first.scope.block}' ({count} instance{'s' if count != 1 else ''} in this network).",)),
            (
                Function("__init__", ("self", *arguments), (super_init(), *init)),
                Function("forward", ("self", *first.params), first.body),
            ),
        )
        for scope, values in zip(scopes, values_per_instance):
            scope.construct = Record(entry.name, (), tuple((name, values[name]) for name in arguments))

    def write(self) -> str:
        self.collect(self.root)
        order: list[ClassEntry] = []

        def visit(entry: ClassEntry):
            if entry in order:
                return
            for instance in entry.instances:
                for construct in instance.constructs:
                    if isinstance(construct.what, Scope):
                        visit(self.class_of[construct.what.name])
            order.append(entry)

        for entry in self.entries.values():
            visit(entry)
        for entry in order:
            self.write_class(entry)
        tree = self.trees[""] = self.members(self.root)
        init = rebuild(self.init(tree, self.root), lambda c: from_record(c.what if isinstance(c.what, Record) else c.what.construct))
        params, body = self.forward(self.root, tree)
        title = self.network.name or "network"
        layout = " in channels_last layout" if self.channels_last else ""
        built, input_shape, about, main = self.demo()
        net = Class(
            "Net",
            (dotted("nn.Module"),),
            Docstring((f"{title}, built for {built}{layout}:", "explicit pads and crops are computed for that size.")),
            (Function("__init__", ("self",), (super_init(), *init)), Function("forward", ("self", *params), body)),
        )
        classes = [entry.code for entry in order]
        imports = [Import("torch"), Import("torch.nn", alias="nn")]
        read = {name for item in self.items for name in names_read(item.op.expression)}
        if "F" in read:
            imports.append(Import("torch.nn.functional", alias="F"))
        needed = {helper.name for item in self.items for helper in item.op.helpers}
        helpers = [Verbatim(helper.source) for name, helper in HELPERS.items() if name in needed]
        module = Module(
            Docstring((f"{title}: PyTorch code written by `cnncalc export`.", "", *about, "")),
            tuple(imports),
            (Assign((Name("INPUT_SHAPE"),), input_shape), *helpers, *classes, net, main),
        )
        return render(module)

    def demo(self) -> tuple[str, Expr, tuple[str, ...], MainGuard]:
        """What the module says about its inputs and outputs: Net's docstring's words for
        the inputs, INPUT_SHAPE's value (a shape, or each input's by name), the module
        docstring's lines on running Net, and the __main__ demo that does (printing the
        output's shape, or each output's)."""
        inputs = {name: (1, *shape) for name, shape in self.network.inputs.items()}
        if len(inputs) == 1:
            shape = next(iter(inputs.values()))
            built, input_shape, sample = f"input {literal(shape)}", Literal(shape), Call(dotted("torch.randn"), (Name("INPUT_SHAPE"),))
            about = ["Net's state_dict keys are cnncalc's layer names; Net()(torch.randn(INPUT_SHAPE)) runs it."]
        else:
            built = "inputs " + ", ".join(f"{name} {literal(shape)}" for name, shape in inputs.items())
            input_shape = DictDisplay(tuple((name, Literal(shape)) for name, shape in inputs.items()))
            sample = Starred(Call(Name("map"), (dotted("torch.randn"), Call(Attribute(Name("INPUT_SHAPE"), "values")))))
            about = [
                "Net's state_dict keys are cnncalc's layer names; Net()(*map(torch.randn, INPUT_SHAPE.values()))",
                "runs it, INPUT_SHAPE giving each input's shape in forward's order.",
            ]
        result = Call(Name("net"), (sample,))
        shown: Expr = Attribute(result, "shape")
        if len(self.network.outputs) > 1:
            shown = ListComp(Attribute(Name("output"), "shape"), "output", result)
            about.append(f"forward returns a tuple of the outputs {', '.join(self.network.outputs)}.")
        main = MainGuard(
            (
                Assign((Name("net"),), Call(Attribute(Call(Name("Net")), "eval"))),
                Expression(Call(Name("print"), (shown,))),
            )
        )
        return built, input_shape, tuple(about), main


def super_init() -> Statement:
    return Expression(Call(Attribute(Call(Name("super")), "__init__")))


def parameter_name(scopes: list[Scope], values: list, key, index: int, template: Record, names: Namespace, count: int) -> str:
    """A block parameter that has exactly these values in every instance, else the
    argument's own name (conv1_stride when that is taken); either made a safe name of its
    own where it is not (a keyword, a builtin, a name the module uses, or taken)."""
    for param in scopes[0].params:
        if all(s.params.get(param) == v and type(s.params.get(param)) is type(v) for s, v in zip(scopes, values)):
            return names.claim(param)
    own = key or template.positional_name(index) or f"arg{index}"
    return names.claim(own, [f"{own}_{count}"])


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
    return step.outputs


def to_pytorch(network: Network) -> str:
    return TorchWriter(network).write()
