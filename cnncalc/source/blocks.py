"""Blocks, repeats and conditions expanded into one flat list of layers (CONTRACT.md §2).

The readers give a NetworkSpec whose entries may use blocks, `repeat`, `first` and `if`,
and `$name` / `$(expression)` parameters. `expand` returns the same network as a flat
NetworkSpec in which every layer has its full dotted name (`layer1.0.conv1`, PyTorch's
state_dict key) and explicit inputs, ready for `network.build`, plus the block instances
(`Group`s) for folding rows by depth.

Scoping: inside a block instance, names refer to the instance's own layers and `input`
to the instance's input; a name the block does not define is looked up where the
instance is used (so a U-Net block can take its skip connection as a parameter). A layer whose `if` is false is left out and acts as the
identity: a reference to it means its own input. A reference to an instance means its
output (its last layer); to a repeated one, the last instance's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..layers.attrs import show
from ..errors import CnnError, Location, did_you_mean
from .expr import ExprError, substitute
from ..layers import REGISTRY
from ..graph import INPUT, LayerSpec, NetworkSpec, Written, auto_name

MAX_LAYERS = 100_000  # about 10 s of analysis on a 2-core machine (README: Limits)
MAX_STEPS = 300_000  # layer entries visited and block instances opened, kept or left out by if:
MAX_NESTING = 32


@dataclass(frozen=True)
class BlockSpec:
    name: str
    location: Location
    params: dict[str, Written]  # defaults; a value of None means required
    layers: list[LayerSpec]


@dataclass(frozen=True)
class Group:
    """A block instance (or a repeated layer group) and how deeply it is nested (1 = top)."""

    name: str
    kind: str
    level: int
    block: str | None = None  # the block this is an instance of (None: a repeat of layers or blocks)
    params: tuple[tuple[str, Any], ...] = ()  # the instance's parameter values


def expand(spec: NetworkSpec) -> NetworkSpec:
    expander = _Expander(spec)
    layers, _ = expander.scope(spec.layers, {}, "", INPUT, (), 0, None)
    expander.check_namespaces(layers)
    return replace(spec, layers=layers, blocks={}, groups=tuple(expander.groups))


class _Expander:
    def __init__(self, spec: NetworkSpec):
        self.blocks: dict[str, BlockSpec] = spec.blocks
        self.groups: list[Group] = []
        self.instances: dict[str, str] = {}  # full instance name -> full name of its output
        self.count = 0
        self.steps = 0
        self.enclosing: list[str] = []  # the groups (instances, repeats) being expanded, outermost first
        self.owners: dict[str, frozenset[str]] = {}  # each layer's enclosing groups
        for name, block in self.blocks.items():
            if REGISTRY.get(name) is not None:
                raise CnnError(
                    f"block name '{name}' is already a layer type; allowed: a name that is not a layer type",
                    block.location,
                )

    # -- helpers ---------------------------------------------------------------------------
    def value(self, written: Written, env: dict[str, Any], what: str) -> Any:
        try:
            return substitute(written.value, env)
        except ExprError as exc:
            raise CnnError(f"in {what} = {show(written.value)}: {exc}", written.location) from None

    def written(self, written: Written | None, env: dict[str, Any], what: str) -> Written | None:
        if written is None:
            return None
        value = self.value(written, env, what)
        items = None
        if isinstance(value, list) and written.items is not None and len(written.items) == len(value):
            items = [Written(v, w.location, w.key_location) for v, w in zip(value, written.items)]
        return Written(value, written.location, written.key_location, items)

    def is_block(self, entry: LayerSpec) -> bool:
        return isinstance(entry.type.value, str) and entry.type.value in self.blocks

    def type_name(self, entry: LayerSpec) -> str:
        if self.is_block(entry):
            return entry.type.value
        cls = REGISTRY.get(entry.type.value) if isinstance(entry.type.value, str) else None
        return cls.type_name if cls else str(entry.type.value)

    def names(self, entries: list[LayerSpec]) -> list[str]:
        """Local names: given ones, then TYPE_N for the others (N counts that type from 1)."""
        taken = {e.name.value for e in entries if e.name is not None and isinstance(e.name.value, str)}
        counters: dict[str, int] = {}
        names = []
        for entry in entries:
            if entry.name is not None:
                if not isinstance(entry.name.value, str) or not entry.name.value:
                    raise CnnError(f"a layer name must be a non-empty word; received {show(entry.name.value)}", entry.name.location)
                names.append(entry.name.value)
                continue
            candidate = auto_name(self.type_name(entry), counters, taken)
            taken.add(candidate)
            names.append(candidate)
        return names

    # -- one scope: the top level or a block instance's layers --------------------------------
    def scope(self, entries, env, prefix, scope_input, stack, level, outer) -> tuple[list[LayerSpec], str]:
        """Expand one scope. `outer` resolves names this scope does not define, in the scope
        where the block instance is used (a U-Net skip connection passed as a parameter)."""
        names = self.names(entries)
        local = set(names)
        outputs: dict[str, str] = {}  # local name -> full name its output is known by
        previous = scope_input
        flat: list[LayerSpec] = []

        def resolve(ref: Written) -> Written:
            name = ref.value
            if not isinstance(name, str):
                raise CnnError(f"an input must be a layer name; received {show(name)}", ref.location)
            if name == INPUT:
                return replace(ref, value=scope_input)
            if name in outputs:
                return replace(ref, value=outputs[name])
            if prefix + name in self.instances:  # layer1.0: an instance of a repeated block
                return replace(ref, value=self.instances[prefix + name])
            head = name.split(".")[0]
            if name in local or (head in local and "." in name):
                return replace(ref, value=prefix + name)  # a later name: build reports it
            if outer is not None:
                try:
                    return outer(ref)
                except CnnError:
                    pass
            hint = did_you_mean(name, [*outputs, INPUT])
            where = "this block" if prefix else "the network"
            raise CnnError(
                f"unknown layer '{name}' in the inputs{hint}; allowed: 'input' or a layer of {where} above this one",
                ref.location,
            )

        for entry, name in zip(entries, names):
            full = prefix + name
            self.step(entry.location)
            if entry.condition is not None:
                keep = self.value(entry.condition, env, "'if'")
                if not isinstance(keep, bool):
                    raise CnnError(f"'if' must be true or false; received {show(keep)}", entry.condition.location)
                if not keep:  # the identity: its output is its input, also for the next layer
                    refs = self.refs(entry, env)
                    outputs[name] = resolve(refs[0]).value if refs else previous
                    previous = outputs[name]
                    continue
            refs = [resolve(r) for r in self.refs(entry, env)] or [Written(previous, entry.location)]
            repeat = self.repeat(entry, env)
            if self.is_block(entry):
                layers, output = self.block(entry, env, full, refs, repeat, stack, level, resolve)
                flat.extend(layers)
            else:
                output = self.layer(entry, env, full, refs, repeat, flat, level)
            outputs[name] = output
            previous = output
        return flat, previous

    def refs(self, entry: LayerSpec, env) -> list[Written]:
        """The entry's input references: `from`, or a merge layer's main value."""
        cls = None if self.is_block(entry) else REGISTRY.get(entry.type.value) if isinstance(entry.type.value, str) else None
        if cls is not None and cls.primary == "from" and entry.primary is not None:
            if entry.inputs is not None:
                raise CnnError("the inputs are given twice, after the type and in 'from'; allowed: one of them", entry.primary.location)
            primary = self.written(entry.primary, env, "the inputs")
            return primary.items if primary.items is not None else [primary]
        return [self.written(r, env, "'from'") for r in entry.inputs] if entry.inputs is not None else []

    def repeat(self, entry: LayerSpec, env) -> int | None:
        if entry.repeat is None:
            if entry.first is not None:
                raise CnnError("'first' goes with 'repeat'; allowed: repeat: N with first: {...}", entry.first.location)
            return None
        count = self.value(entry.repeat, env, "'repeat'")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise CnnError(f"repeat must be a positive integer; received {show(count)}", entry.repeat.location)
        return count

    def step(self, location: Location) -> None:
        """One unit of expansion work: a bound on time even for layers that are left out
        or blocks that hold none."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise CnnError(
                f"expanding the blocks takes more than {MAX_STEPS:,} steps (layers and instances, also those "
                "left out by 'if'); refusing to analyse it",
                location,
            )

    def check_namespaces(self, layers: list[LayerSpec]) -> None:
        """A layer's name may not lie inside a block instance or repeat it is not part of
        (layer1.5.conv1 written by hand beside the instances layer1.0 ... layer1.2), nor be
        an instance's own name: references and folding by name would be ambiguous."""
        groups = {group.name for group in self.groups}
        for layer in layers:
            name = layer.name.value
            parts = name.split(".")
            owners = self.owners.get(name, frozenset())
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in groups and prefix not in owners:
                    what = "is the name of" if depth == len(parts) else "lies inside"
                    raise CnnError(
                        f"the layer name '{name}' {what} the block instance or repeat '{prefix}', which it is not "
                        f"part of; allowed: a name that is not '{prefix}' and does not start with '{prefix}.'",
                        layer.name.location,
                    )

    def count_layer(self, location: Location) -> None:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise CnnError(f"the network expands to more than {MAX_LAYERS:,} layers; refusing to analyse it", location)

    def layer(self, entry, env, full, refs, repeat, flat, level) -> str:
        """A plain layer, possibly repeated as full.0, full.1, ... chained one after another."""
        attrs = {key: self.written(value, env, f"'{key}'") for key, value in entry.attrs.items()}
        cls = REGISTRY.get(entry.type.value) if isinstance(entry.type.value, str) else None
        primary = None if cls is not None and cls.primary == "from" else self.written(entry.primary, env, "the value")
        if repeat is not None:
            self.groups.append(Group(full, f"{self.type_name(entry)} x{repeat}", level + 1))
        owners = frozenset(self.enclosing + ([full] if repeat is not None else []))
        previous = refs
        for index in range(repeat or 1):
            name = full if repeat is None else f"{full}.{index}"
            self.count_layer(entry.location)
            self.owners[name] = owners
            overrides = self.first(entry, env) if index == 0 else {}
            flat.append(
                replace(
                    entry,
                    name=Written(name, entry.name.location if entry.name else entry.location),
                    inputs=previous,
                    attrs={**attrs, **overrides},
                    primary=primary,
                    repeat=None,
                    first=None,
                    condition=None,
                )
            )
            previous = [Written(name, entry.location)]
        return previous[0].value

    def first(self, entry, env) -> dict[str, Written]:
        if entry.first is None:
            return {}
        if entry.first.fields is None:
            raise CnnError(f"'first' must be a mapping of attributes; received {show(entry.first.value)}", entry.first.location)
        return {key: self.written(w, env, f"'first: {key}'") for key, w in entry.first.fields.items()}

    def block(self, entry, env, full, refs, repeat, stack, level, resolve) -> tuple[list[LayerSpec], str]:
        block = self.blocks[entry.type.value]
        chain = [*stack, block.name]
        if block.name in stack:
            raise CnnError(f"block '{block.name}' uses itself: {' -> '.join(chain)}; allowed: blocks that do not recurse", entry.type.location)
        if len(chain) > MAX_NESTING:
            raise CnnError(f"blocks are nested more than {MAX_NESTING} deep", entry.type.location)
        if len(refs) != 1:
            raise CnnError(f"block '{block.name}' takes exactly 1 input; received {len(refs)}", refs[0].location)
        if entry.primary is not None:
            raise CnnError(
                f"block '{block.name}' takes its parameters in a mapping, e.g. {block.name}: {{{next(iter(block.params), 'param')}: ...}}",
                entry.primary.location,
            )
        given = {key: self.written(value, env, f"'{key}'") for key, value in entry.attrs.items()}
        first = self.first(entry, env)
        for key, written in {**given, **first}.items():
            if key not in block.params:
                names = list(block.params)
                raise CnnError(
                    f"unknown parameter '{key}' for block '{block.name}'{did_you_mean(key, names)}; allowed: "
                    + (", ".join(names) or "none"),
                    written.key_location or written.location,
                )
        if repeat is not None:
            self.groups.append(Group(full, f"{block.name} x{repeat}", level + 1))
        flat: list[LayerSpec] = []
        current = refs[0].value
        if repeat is not None:
            self.enclosing.append(full)
        for index in range(repeat or 1):
            self.step(entry.location)
            name = full if repeat is None else f"{full}.{index}"
            args = {key: default.value for key, default in block.params.items()}
            args.update({key: w.value for key, w in given.items()})
            if index == 0:
                args.update({key: w.value for key, w in first.items()})
            missing = [key for key, value in args.items() if value is None]
            if missing:
                raise CnnError(
                    f"block '{block.name}' needs the parameter '{missing[0]}' (it has no default)", entry.type.location
                )
            self.groups.append(Group(name, block.name, level + 1 + (repeat is not None), block.name, tuple(args.items())))
            self.enclosing.append(name)
            layers, current = self.scope(
                block.layers, args, name + ".", current, tuple(chain), level + 1 + (repeat is not None), resolve
            )
            self.enclosing.pop()
            flat.extend(layers)
            self.instances[name] = current
        if repeat is not None:
            self.enclosing.pop()
        return flat, current
