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

from ..layers.attrs import LayerName, show
from ..errors import CnnError, CnnWarning, Location, WarningKind, did_you_mean
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


def expand(spec: NetworkSpec, input_shape=None) -> NetworkSpec:
    """Block instances and repeats unrolled into plain layers named INSTANCE.LAYER, `$`
    values substituted, layers left out by `if:` removed (references to them resolved to
    what they stand for). `input_shape` is --input, for `$in_channels`."""
    expander = _Expander(spec, input_shape)
    several = spec.inputs is not None and len(spec.inputs.fields or {}) != 1
    first = None if several else (INPUT if spec.inputs is None else next(iter(spec.inputs.fields)))
    layers, _ = expander.scope(spec.layers, {}, "", first, (), 0, None)
    expander.check_namespaces(layers)
    warnings = spec.warnings + tuple(expander.reference_warnings())
    return replace(spec, layers=layers, blocks={}, groups=tuple(expander.groups), warnings=warnings,
                   outputs=expander.instance_outputs(spec.outputs))


class Environment(dict):
    """A block instance's parameter values; `in_channels` is computed only when asked for
    (it needs the shapes of every layer before the instance)."""

    def __init__(self, values: dict, channels):
        super().__init__(values)
        self.channels = channels

    def __contains__(self, key) -> bool:
        return super().__contains__(key) or (key == IN_CHANNELS and self.channels is not None)

    def __getitem__(self, key):
        if key == IN_CHANNELS and not super().__contains__(key) and self.channels is not None:
            self[key] = self.channels()
        return super().__getitem__(key)

    def keys(self):
        return [*super().keys(), *([IN_CHANNELS] if self.channels is not None and not super().__contains__(IN_CHANNELS) else [])]

    def __iter__(self):
        return iter(self.keys())


IN_CHANNELS = "in_channels"


class _Expander:
    def __init__(self, spec: NetworkSpec, input_shape=None):
        self.spec, self.input_shape = spec, input_shape
        self.done: list[LayerSpec] = []  # every plain layer produced so far, in order
        self.frozen: list[Location] = []  # instances with trainable: false being expanded
        self.left_out: set[str] = set()  # full names of layers if: left out
        self.references: dict[tuple, list] = {}  # (block, reading layer, name read) -> [times]
        self.reading: tuple = (None, "")  # the block and the layer whose inputs are being resolved
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
                if prefix + name in self.left_out:
                    self.note_reference(ref)
                return replace(ref, value=outputs[name])
            if prefix + name in self.instances:  # layer1.0: an instance of a repeated block
                return replace(ref, value=self.instances[prefix + name])
            head, layer = name.split(".")[0], name.rpartition(".")[0]  # NAME.i: output i of NAME (which may hold dots)
            if name in local or ("." in name and (head in local or layer in local)):
                return replace(ref, value=prefix + name)  # a later name: build reports it
            if outer is not None:
                try:
                    return outer(ref)
                except CnnError:
                    pass
            if not prefix and self.spec.inputs is not None and name in (self.spec.inputs.fields or {}):
                return ref  # a network input, by its name
            hint = did_you_mean(name, [*outputs, INPUT])
            where = "this block" if prefix else "the network"
            raise CnnError(
                f"unknown layer '{name}' in the inputs{hint}; allowed: 'input' or a layer of {where} above this one",
                ref.location,
            )

        kept = [self.kept(entry, env) for entry in entries]
        defined = {name for name, keep in zip(names, kept) if keep}  # a kept layer's name wins
        inputs = set(self.spec.inputs.fields or {}) if self.spec.inputs is not None and not prefix else set()
        for entry, name, keep in zip(entries, names, kept):
            full = prefix + name
            self.step(entry.location)
            if name in inputs and entry.name is not None:
                raise CnnError(f"'{name}' is the name of a network input; allowed: any other name", entry.name.location)
            self.reading = (stack[-1] if stack else None, name)
            if not keep:  # the identity: it stands for its input, also for the next layer
                stands_for = self.stand_in(entry, env, resolve, previous, full)
                if name not in defined:
                    outputs[name] = stands_for
                    self.left_out.add(full)
                previous = stands_for
                continue
            if entry.otherwise is not None and entry.condition is None:
                raise CnnError("'else' goes with 'if' (what the layer stands for when it is left out)", entry.otherwise.location)
            refs = [resolve(r) for r in self.refs(entry, env)] or ([Written(previous, entry.location)] if previous else [])
            repeat = self.repeat(entry, env)
            if entry.share is not None and not self.is_block(entry):
                entry = replace(entry, share=resolve(self.written(entry.share, env, "'share'")))
            if not self.is_block(entry):
                entry = self.with_references(entry, env, resolve)
            if self.is_block(entry):
                layers, output = self.block(entry, env, full, refs, repeat, stack, level, resolve)
                flat.extend(layers)
            else:
                output = self.layer(entry, env, full, refs, repeat, flat, level)
            outputs[name] = output
            previous = output
        return flat, previous

    def instance_outputs(self, written: Written | None) -> Written | None:
        """`outputs:` with each block instance named by its output (as from: reads it)."""
        if written is None:
            return None
        refs = written.items if written.items is not None else [written]
        resolved = [replace(ref, value=self.instances.get(ref.value, ref.value)) for ref in refs]
        if written.items is None:
            return resolved[0]
        return replace(written, value=[ref.value for ref in resolved], items=resolved)

    def with_references(self, entry: LayerSpec, env, resolve) -> LayerSpec:
        """The entry with the layer names its attributes hold (an upsampling's like:) resolved
        in this scope, as its from: names are."""
        cls = REGISTRY.get(entry.type.value) if isinstance(entry.type.value, str) else None
        if cls is None:
            return entry
        spellings = {s for a in cls.attributes if isinstance(a.kind, LayerName) for s in a.spellings}
        if not spellings & set(entry.attrs):
            return entry
        attrs = {key: resolve(self.written(value, env, f"'{key}'")) if key in spellings else value for key, value in entry.attrs.items()}
        return replace(entry, attrs=attrs)

    def kept(self, entry: LayerSpec, env) -> bool:
        if entry.condition is None:
            return True
        keep = self.value(entry.condition, env, "'if'")
        if not isinstance(keep, bool):
            raise CnnError(f"'if' must be true or false; received {show(keep)}", entry.condition.location)
        return keep

    def stand_in(self, entry: LayerSpec, env, resolve, previous: str | None, full: str) -> str:
        """What a layer left out by `if:` stands for: `else:` when written, else its only
        input. With several inputs (an add, a concat) none is the obvious one: an error."""
        refs = self.refs(entry, env)
        if entry.otherwise is not None:
            return resolve(self.written(entry.otherwise, env, "'else'")).value
        if len(refs) > 1:
            names = ", ".join(str(r.value) for r in refs)
            raise CnnError(
                f"'{full}' is left out by if:, but it has {len(refs)} inputs ({names}), so what it stands for is not "
                f"clear; allowed: else: NAME beside the if:, e.g. else: {refs[0].value}",
                entry.condition.location,
            )
        if refs:
            return resolve(refs[0]).value
        if previous is None:
            raise CnnError("a layer left out by if: needs an input to stand for; allowed: from: or else:", entry.condition.location)
        return previous

    def note_reference(self, ref: Written) -> None:
        """A layer read by name although if: left it out: said once per place it is read."""
        record = self.references.setdefault((*self.reading, ref.value), [0])
        record[0] += 1

    def reference_warnings(self) -> list[str]:
        warnings = []
        for (block, reader, name), (count,) in self.references.items():
            where = f"in block '{block}', " if block else ""
            times = "once" if count == 1 else f"in {count} instances"
            warnings.append(CnnWarning(
                WarningKind.LEFT_OUT,
                f"{where}'{reader}' reads '{name}', which if: leaves out ({times}); there it reads what "
                f"'{name}' stands for instead",
            ))
        return warnings

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
            for which in ("first", "last"):
                if getattr(entry, which) is not None:
                    raise CnnError(f"'{which}' goes with 'repeat'; allowed: repeat: N with {which}: {{...}}", getattr(entry, which).location)
            return None
        count = self.value(entry.repeat, env, "'repeat'")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise CnnError(f"repeat must be a positive integer; received {show(count)}", entry.repeat.location)
        if self.steps + count > MAX_STEPS:  # each repetition is at least one step: refused before any
            self.steps = MAX_STEPS
            self.step(entry.repeat.location)
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
        previous = refs or None
        trainable = self.trainable(entry, env, full)
        for index in range(repeat or 1):
            name = full if repeat is None else f"{full}.{index}"
            self.count_layer(entry.location)
            self.owners[name] = owners
            overrides = {**(self.first(entry, env) if index == 0 else {}),
                         **(self.ends(entry, env, "last") if repeat is not None and index == repeat - 1 else {})}
            layer = replace(
                entry,
                name=Written(name, entry.name.location if entry.name else entry.location),
                inputs=previous,
                attrs={**attrs, **overrides},
                primary=primary,
                repeat=None,
                first=None,
                last=None,
                condition=None,
                otherwise=None,
                trainable=trainable,
            )
            flat.append(layer)
            self.done.append(layer)
            previous = [Written(name, entry.location)]
        return previous[0].value

    def trainable(self, entry: LayerSpec, env, full: str) -> Written | None:
        """The layer's own trainable: (with $ values), false inside a frozen instance."""
        own = self.written(entry.trainable, env, "'trainable'")
        if own is not None and not isinstance(own.value, bool):
            raise CnnError(f"trainable must be true or false; received {show(own.value)}", own.location,
                           f"layer '{full}' ({self.type_name(entry)})")
        if self.frozen and (own is None or own.value):
            return Written(False, self.frozen[-1])
        return own

    def channels(self, value: str, location: Location):
        """A function giving the channel count of `value` (for $in_channels), from the shapes
        of every layer produced so far."""
        from ..graph import build

        def count() -> int:
            from ..graph import parse_inputs

            inputs = parse_inputs(self.spec, self.input_shape)
            if value in inputs:  # the instance reads a network input: no layer to build
                shape, channels_last = inputs[value], self.spec.layout is not None and self.spec.layout.value == "channels_last"
                return shape[-1] if channels_last and len(shape) > 1 else shape[0]
            for _ in self.done:
                self.step(location)
            network = build(replace(self.spec, layers=list(self.done) or [], outputs=None, warnings=()), self.input_shape)
            shapes = dict(network.inputs)
            for node in network.nodes:
                facts = node.layer.infer(tuple(shapes[name] for name in node.inputs), network.layout)
                shapes.update({f"{node.name}.{i}": s for i, s in enumerate(facts.outputs)} if facts.outputs else {node.name: facts.output_shape})
            if value not in shapes:  # a name no layer above makes (left out by if:, or misspelt)
                raise CnnError(f"$in_channels: the instance reads '{value}', which no layer above it makes; "
                               "allowed: the name of a layer above the instance, or an input", location)
            shape = shapes[value]
            return network.layout.split(shape)[0] if len(shape) > 1 else shape[0]

        return count

    def first(self, entry, env) -> dict[str, Written]:
        return self.ends(entry, env, "first")

    def ends(self, entry, env, which: str) -> dict[str, Written]:
        """`first:` or `last:`: attributes of a repeat's first or last instance."""
        written = getattr(entry, which)
        if written is None:
            return {}
        if written.fields is None:
            raise CnnError(f"'{which}' must be a mapping of attributes; received {show(written.value)}", written.location)
        return {key: self.written(w, env, f"'{which}: {key}'") for key, w in written.fields.items()}

    def block(self, entry, env, full, refs, repeat, stack, level, resolve) -> tuple[list[LayerSpec], str]:
        block = self.blocks[entry.type.value]
        chain = [*stack, block.name]
        if block.name in stack:
            raise CnnError(f"block '{block.name}' uses itself: {' -> '.join(chain)}; allowed: blocks that do not recurse", entry.type.location)
        if len(chain) > MAX_NESTING:
            raise CnnError(f"blocks are nested more than {MAX_NESTING} deep", entry.type.location)
        if len(refs) != 1:
            raise CnnError(f"block '{block.name}' takes exactly 1 input; received {len(refs)}; allowed: from: NAME",
                           refs[0].location if refs else entry.location)
        if entry.primary is not None:
            raise CnnError(
                f"block '{block.name}' takes its parameters in a mapping, e.g. {block.name}: {{{next(iter(block.params), 'param')}: ...}}",
                entry.primary.location,
            )
        given = {key: self.written(value, env, f"'{key}'") for key, value in entry.attrs.items()}
        first, last = self.first(entry, env), self.ends(entry, env, "last")
        if entry.share is not None:
            raise CnnError("share: applies one layer's weights; a block instance cannot share (share its layers)", entry.share.location)
        for key, written in {**given, **first, **last}.items():
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
        frozen = self.trainable(entry, env, full)  # trainable: false on an instance freezes what it holds
        if frozen is not None and frozen.value is False:
            self.frozen.append(frozen.location)
        for index in range(repeat or 1):
            self.step(entry.location)
            name = full if repeat is None else f"{full}.{index}"
            args = {key: default.value for key, default in block.params.items()}
            args.update({key: w.value for key, w in given.items()})
            if index == 0:
                args.update({key: w.value for key, w in first.items()})
            if index == (repeat or 1) - 1:
                args.update({key: w.value for key, w in last.items()})
            args = Environment(args, None if IN_CHANNELS in block.params else self.channels(current, entry.location))
            missing = [key for key in block.params if args[key] is None]
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
        if frozen is not None and frozen.value is False:
            self.frozen.pop()
        return flat, current
