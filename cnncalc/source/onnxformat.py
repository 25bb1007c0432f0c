"""An ONNX model (.onnx) read as a network: its graph mapped onto cnncalc's layers, its
initializers as the layers' weights.

The file is read with the `onnx` package (the optional extra cnncalc[onnx]). Constant
subgraphs (Shape -> Gather -> Concat -> Reshape, as PyTorch writes `x.view(x.size(0), -1)`)
are evaluated here with the shapes ONNX infers; what remains must be an operator with a
cnncalc layer, or a pattern of nodes that is one (GELU written out with Erf, x * sigmoid(x),
ShuffleNet's Reshape -> Transpose -> Reshape), or it is an error naming the node, its
operator and what is supported.
Layer names come from the PyTorch module path the exporter leaves in weight names
(`layer1.0.conv1.weight`) and node names (`/layer1/layer1.0/relu/Relu`), so the module
structure folds with `--depth`. Errors point at `FILE:N:1`, N being the node's position in
the graph; the listing of nodes stands in for the source text so the error can quote it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CnnError, Location
from ..files import open_input, read_limited
from .naming import prefix_groups, unused_name
from ..graph import INPUT, LayerSpec, NetworkSpec, Written, read_layer
from ..layers import Layout

EXTRA = "cnncalc[onnx]"
MAX_MODEL_BYTES = 2**31 - 1  # protobuf's own limit on one message; larger models keep their weights outside
PIECE = re.compile(r"[^\w.\-]")


def onnx_module():
    """The onnx package, or an error naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise CnnError(f"reading ONNX files needs the onnx package; install it with: pip install '{EXTRA}'") from None
    return onnx


def is_onnx(path: str | None) -> bool:
    return path is not None and path.lower().endswith(".onnx")


class Unsupported(Exception):
    """A node cnncalc cannot express; the reader adds where and what is supported."""


@dataclass
class Mapped:
    """What one ONNX node becomes: a layer type with attributes and weights (or nothing
    when it only passes its input on)."""

    type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] | None = None  # data inputs, when not the node's first
    name: str | None = None  # from the weights' names
    outputs: list[str] | None = None  # the ONNX values it gives, when not the node's (a fused pattern's last)
    take: int | None = None  # the node's one output is this output of a layer with several


def load_model(path: str, onnx):
    """The ModelProto of a file, its external data loaded, or a clear error."""
    stream, size = open_input(path, "file", "an ONNX model (.onnx)")
    try:
        with stream:
            data = read_limited(stream, size, MAX_MODEL_BYTES, path, "an ONNX model")
    except OSError as exc:
        raise CnnError(f"cannot read {path}: {exc.strerror or exc}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and its relatives
        raise CnnError(
            f"{path} is not a readable ONNX model (truncated or corrupt: {type(exc).__name__}: {exc}); "
            "allowed: a complete .onnx file as torch.onnx.export or onnx.save writes it",
            Location(path, 1, 1),
        ) from None
    if not model.graph.node:
        raise CnnError(f"{path} holds no ONNX graph nodes (empty, truncated or not an ONNX model)", Location(path, 1, 1))
    external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        from onnx.external_data_helper import load_external_data_for_model

        base = os.path.dirname(os.path.abspath(path))
        try:
            load_external_data_for_model(model, base)
        except Exception as exc:  # OSError, or onnx's ValidationError for a path that is no regular file
            names = ", ".join(
                sorted({e.value for t in external for e in t.external_data if e.key == "location"})
            )
            raise CnnError(
                f"the weights of {path} are kept in external data ({names}), which is missing or unreadable next to "
                f"it ({type(exc).__name__}); allowed: the model with its data files in the same directory",
                Location(path, 1, 1),
            ) from None
    return model


def listing(graph) -> str:
    """One line per node: what an error quotes as the node's 'source line'."""
    return "\n".join(
        f"{node.op_type} {node.name or '(unnamed)'}: {', '.join(node.input)} -> {', '.join(node.output)}"
        for node in graph.node
    ) + "\n"


def read(path: str, input_shape: tuple[int, ...] | None = None) -> tuple[NetworkSpec, dict]:
    """The network of an ONNX file as a spec (no blocks; groups from module paths), and
    the file's weights keyed LAYER.TENSOR (as --weights takes them)."""
    onnx = onnx_module()
    from .reading import remember

    model = load_model(path, onnx)
    remember(listing(model.graph), path)
    return Reader(path, model, onnx, input_shape).spec()


class Reader:
    def __init__(self, path: str, model, onnx, input_shape):
        from onnx import numpy_helper

        self.path, self.model, self.onnx, self.graph = path, model, onnx, model.graph
        self.to_array = numpy_helper.to_array
        self.override = input_shape
        self.constants: dict[str, Any] = {t.name: self.to_array(t) for t in self.graph.initializer}
        # constant -> the initializer it holds the values of (itself, or reshaped: PyTorch writes
        # nn.PReLU's weight unsqueezed); the Constant nodes' numbers are no weights
        self.initializers: dict[str, str] = {name: name for name in self.constants}
        self.values: dict[str, str] = {}  # ONNX value name -> cnncalc value (layer name, NAME.i or input)
        self.taken: set[str] = set()
        self.layers: list[LayerSpec] = []
        self.weights: dict[str, Any] = {}
        self.owners: dict[tuple, str] = {}  # a layer's initializer names -> the layer (for shared weights)
        self.products: set[str] = set()  # layers read from a MatMul: a constant added next is their bias
        self.scales: set[str] = set()  # layers read from a Mul by a weight: a weight added next is their shift
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.consumed: set[int] = set()  # nodes read as part of a pattern begun earlier
        self.readers: dict[str, list[int]] = {}  # ONNX value -> the nodes reading it
        self.producer: dict[str, int] = {}  # ONNX value -> the node writing it
        for index, node in enumerate(self.graph.node):
            for name in node.input:
                self.readers.setdefault(name, []).append(index)
            for name in node.output:
                self.producer[name] = index
        self.results = {o.name for o in self.graph.output}
        self.computed: set[str] = set()  # values found to depend on the data (not constants)
        self.bases: list[str] = []  # each layer's name before it was made unique
        self.parts: dict[tuple, str] = {}  # a split read from a Slice -> its layer (the other parts' Slices read it too)

    # -- the whole graph ---------------------------------------------------------------
    def spec(self) -> tuple[NetworkSpec, dict]:
        if self.opset and self.opset < 7:
            raise CnnError(f"the model uses ONNX opset {self.opset}; allowed: opset 7 or later", Location(self.path, 1, 1))
        inputs = self.read_inputs()
        self.shapes = {name: shape for name, shape in inputs.items()}  # cnncalc value -> sample shape
        first = Location(self.path, 1, 1)
        for index, node in enumerate(self.graph.node):
            self.node(index, node)
        if not self.layers:
            raise CnnError("the model has no layers once its constants are evaluated (it computes nothing from its input)", first)
        self.name_mixed_modules()
        outputs = [self.value(o.name, first) for o in self.graph.output]
        several = len(inputs) > 1
        if several:
            fields = {name: Written(list(shape), first) for name, shape in inputs.items()}
            input_written, inputs_written = None, Written(dict(fields), first, fields=fields)
        else:
            input_written, inputs_written = Written(list(next(iter(inputs.values()))), first), None
        last = self.layers[-1].name.value
        written_outputs = None
        if outputs != [last]:
            items = [Written(o, first) for o in outputs]
            written_outputs = Written(outputs, first, items=items)
        name = self.graph.name
        if name in ("", "main_graph", "torch_jit", "torch-jit-export"):  # exporters' defaults
            name = os.path.splitext(os.path.basename(self.path))[0]
        spec = NetworkSpec(self.path, input_written, self.layers, name=name, inputs=inputs_written,
                           outputs=written_outputs, groups=self.groups())
        return spec, self.weights

    def name_mixed_modules(self) -> None:
        """A module whose forward writes layers of several types (ConvNeXt's LayerNorm2d:
        permute, layer_norm, permute) becomes a group of them, each named after its type
        (features.0.1.permute, features.0.1.layernorm, features.0.1.permute_1), so the
        group's output is the module's. A module applied twice (ResNet's one ReLU) keeps
        its name with a count: relu, relu_1."""
        scopes: dict[str, list[LayerSpec]] = {}
        for spec, base in zip(self.layers, self.bases):
            scopes.setdefault(base, []).append(spec)
        renamed = {}
        for base, specs in scopes.items():
            if len(specs) > 1 and len({spec.type.value for spec in specs}) > 1:
                for spec in specs:
                    renamed[spec.name.value] = self.fresh(f"{base}.{spec.type.value}")
        if not renamed:
            return

        def new(value: str) -> str:
            head, _, tail = value.rpartition(".")
            if value not in renamed and head in renamed and tail.isdigit():
                return f"{renamed[head]}.{tail}"
            return renamed.get(value, value)

        for spec in self.layers:
            spec.name = Written(new(spec.name.value), spec.name.location)
            if spec.inputs:
                spec.inputs = [Written(new(i.value), i.location) for i in spec.inputs]
            if spec.share is not None:
                spec.share = Written(new(spec.share.value), spec.share.location)
        self.weights = {f"{new(key.rsplit('.', 1)[0])}.{key.rsplit('.', 1)[1]}": array for key, array in self.weights.items()}
        self.values = {key: new(value) for key, value in self.values.items()}

    def read_inputs(self) -> dict[str, tuple[int, ...]]:
        """The graph's inputs (initializers listed as inputs are weights, not inputs) by
        cnncalc name, per sample: the first axis is the batch."""
        where = Location(self.path, 1, 1)
        real = [i for i in self.graph.input if i.name not in self.constants]
        if not real:
            raise CnnError("the model has no input besides its weights", where)
        if self.override is not None and len(real) != 1:
            raise CnnError(f"--input sets the shape of a model with one input; this one has {len(real)}", Location("--input", 1, 1))
        inputs = {}
        for value in real:
            dims = []
            kind = value.type.WhichOneof("value")
            if kind != "tensor_type" or not value.type.tensor_type.HasField("shape"):
                raise CnnError(f"the input '{value.name}' has no tensor shape; give it with --input, e.g. --input 3x224x224", where)
            for dim in value.type.tensor_type.shape.dim:
                dims.append(dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None)
            if len(dims) < 2:
                raise CnnError(f"the input '{value.name}' has {len(dims)} ax{'is' if len(dims) == 1 else 'es'}; allowed: a batch axis and 1 to 4 more", where)
            name = INPUT if len(real) == 1 else self.fresh(PIECE.sub("_", value.name) or "input")
            self.values[value.name] = name
            if self.override is not None:
                if len(self.override) != len(dims) - 1:
                    raise CnnError(
                        f"--input has {len(self.override)} axes but the model's input '{value.name}' has {len(dims) - 1} "
                        f"besides the batch; allowed: {len(dims) - 1} sizes",
                        Location("--input", 1, 1),
                    )
                for given, fixed in zip(self.override, dims[1:]):
                    if fixed is not None and fixed != given:
                        raise CnnError(
                            f"--input {'x'.join(map(str, self.override))} differs from the model's fixed input shape "
                            f"{show_dims(dims[1:])}; allowed: a size only where the model leaves one free",
                            Location("--input", 1, 1),
                        )
                inputs[name] = tuple(self.override)
            elif any(d is None for d in dims[1:]):
                raise CnnError(
                    f"the input '{value.name}' has dynamic dimensions {show_dims(dims)}; cnncalc needs fixed sizes: "
                    "give them with --input (without the batch), e.g. --input 3x224x224",
                    where,
                )
            else:
                inputs[name] = tuple(dims[1:])
        return inputs

    # -- one node ------------------------------------------------------------------------
    def node(self, index: int, node) -> None:
        where = Location(self.path, index + 1, 1)
        label = f"node '{node.name or '(unnamed)'}' ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise CnnError(f"operator domain '{node.domain}' is not ONNX's; supported: {supported()}", where, label)
        if index in self.consumed:  # part of a pattern read as one layer at its first node
            return
        try:
            if self.fold(node):
                return
            mapped = self.fuse(index, node)
            handler = HANDLERS.get(node.op_type)
            if mapped is None and handler is None:
                control = " (control flow: cnncalc computes one fixed graph)" if node.op_type in ("Loop", "If", "Scan") else ""
                within = f" ({WITHIN[node.op_type]})" if node.op_type in WITHIN else ""
                raise Unsupported(f"operator {node.op_type} has no cnncalc layer{control}{within}; supported: {supported()}")
            if mapped is None:
                mapped = handler(self, node, attributes(node, self.onnx))
        except Unsupported as exc:
            raise CnnError(str(exc), where, label) from None
        if mapped is None and node.output[0] in self.values:  # an output of a layer already read
            return
        if mapped is None:  # passes its input on
            data = next(i for i in node.input if i and i not in self.constants)
            self.values[node.output[0]] = self.value(data, where)
            return
        refs = mapped.inputs if mapped.inputs is not None else [node.input[0]]
        sources = [self.value(r, where) for r in refs]
        # the initializers read (through an Unsqueeze of them: each use of nn.PReLU unsqueezes its weight again)
        weights = tuple(self.initializers.get(i, i) for i in node.input if i in self.constants) if mapped.tensors else ()
        shared = weights in self.owners  # the same initializers as an earlier layer: its weights, applied again
        base = self.name_of(node) if shared or not mapped.name else mapped.name
        name = self.fresh(base)
        self.bases.append(base)
        spec = LayerSpec(Written(mapped.type, where), where, name=Written(name, where))
        spec.attrs = {k: Written(v, where) for k, v in mapped.attrs.items()}
        previous = self.layers[-1].name.value if self.layers else INPUT  # what a layer reads by default
        if sources != [previous]:
            spec.inputs = [Written(s, where) for s in sources]
        if weights and shared:
            spec.share = Written(self.owners[weights], where)
        else:
            if weights:
                self.owners[weights] = name
            spec.tensors = {k: Written(v, where) for k, v in mapped.tensors.items()}
            for key, array in mapped.tensors.items():
                self.weights[f"{name}.{key}"] = array
        read_layer(spec, sources, self.shapes, Layout())  # what later nodes' shapes and folded Shape nodes read
        self.layers.append(spec)
        outputs = mapped.outputs or [o for o in node.output if o]
        if mapped.take is not None:
            self.values[outputs[0]] = f"{name}.{mapped.take}"
            self.parts[part_key(sources[0], mapped)] = name
        elif len(outputs) == 1 or f"{name}.0" not in self.shapes:  # one output, or a layer with several
            self.values[outputs[0]] = name
        else:
            for i, output in enumerate(outputs):
                self.values[output] = f"{name}.{i}"

    def linear_bias(self, value: str, bias) -> bool:
        """Whether a constant added to `value` is the bias of the bias-less linear layer that
        produced it (PyTorch writes nn.Linear on more than 2 axes as MatMul then Add), now
        moved into that layer."""
        name = self.values.get(value)
        layer = next((spec for spec in reversed(self.layers) if spec.name.value == name), None)
        readers = len(set(self.readers.get(value, ())))
        if layer is None or name not in self.products or "bias" in layer.tensors or readers != 1:
            return False
        out = layer.tensors["weight"].value.shape[0]
        if bias.shape not in ((out,), (1, out)):
            return False
        layer.attrs.pop("bias", None)
        layer.tensors["bias"] = Written(bias.reshape(-1), layer.location)
        self.weights[f"{name}.bias"] = bias.reshape(-1)
        return True

    def scale_shift(self, value: str, shift) -> bool:
        """Whether a learnt per-channel shift added to `value` is the shift of the scale layer
        that produced it (nn.GroupNorm as PyTorch exports it: x * weight + bias after the
        normalisation), now moved into that layer as its beta."""
        name = self.values.get(value)
        layer = next((spec for spec in reversed(self.layers) if spec.name.value == name), None)
        if layer is None or name not in self.scales or "beta" in layer.tensors or len(set(self.readers.get(value, ()))) != 1:
            return False
        if layer.tensors["gamma"].value.shape != shift.shape:
            return False
        layer.attrs["bias"] = Written(True, layer.location)
        layer.tensors["beta"] = Written(shift, layer.location)
        self.weights[f"{name}.beta"] = shift
        return True

    def value(self, onnx_name: str, where: Location) -> str:
        if onnx_name in self.values:
            return self.values[onnx_name]
        if onnx_name in self.constants:
            raise CnnError(
                f"the constant '{onnx_name}' is used as a layer's data input; cnncalc's layers read the network's "
                "values (a constant is a weight or an attribute)",
                where,
            )
        raise CnnError(f"the value '{onnx_name}' is produced by no node before it (the graph is not in order)", where)

    def fresh_preview(self, name: str) -> str:
        """The name fresh(name) will give (without taking it)."""
        return unused_name(name, self.taken, "node")

    def fresh(self, name: str) -> str:
        candidate = unused_name(name, self.taken, "node")
        self.taken.add(candidate)
        return candidate

    def name_of(self, node, kind: str | None = None) -> str:
        """The module path of a node from its name: '/layer1/layer1.0/relu/Relu' is
        'layer1.0.relu'. An operator in a module that holds others (a block's forward's `+`,
        '/layer1/layer1.0/Add') is named after it: 'layer1.0.add', or after the layer `kind`
        a pattern of nodes begun here is read as."""
        op = kind or node.op_type.lower()
        parts = [p for p in node.name.split("/") if p]
        if len(parts) < 2:
            base = re.sub(r"_\d+$", "", parts[0]) if parts and "::" not in parts[0] else ""
            if not base or base.lower() == node.op_type.lower():
                return op
            return PIECE.sub("_", parts[0])
        path = ""
        for part in parts[:-1]:
            path = join_scope(path, PIECE.sub("_", part))
        if tuple(parts[:-1]) in self.outer_scopes():
            return f"{path}.{op}"
        return path

    def outer_scopes(self) -> set:
        """Module scopes that hold other modules' nodes (not leaves)."""
        if not hasattr(self, "_outer"):
            scopes = {tuple(p for p in node.name.split("/") if p)[:-1] for node in self.graph.node if node.name.startswith("/")}
            self._outer = {scope[:i] for scope in scopes for i in range(1, len(scope))}
        return self._outer

    def groups(self) -> tuple:
        """The module paths of the layer names as nested groups for --depth."""
        return prefix_groups([layer.name.value for layer in self.layers], "module")

    # -- constants -----------------------------------------------------------------------
    def fold(self, node) -> bool:
        """Evaluate a node whose inputs are all known (a Shape of a statically shaped value
        is known): its outputs become constants."""
        import numpy as np

        op = node.op_type
        if op == "Constant":
            self.constants[node.output[0]] = constant_value(node, self.onnx, self.to_array)
            return True
        if op in MOVES and node.input and node.input[0] in self.initializers:  # a weight's values, reshaped or aliased
            alias = op == "Identity" and parameter_like(node.output[0])  # the exporter's name for an equal weight
            self.initializers[node.output[0]] = node.output[0] if alias else self.initializers[node.input[0]]
        if op == "Shape" and node.input[0] not in self.constants:
            if node.input[0] not in self.values:
                return False
            shape = self.shape(node.input[0])
            attrs = attributes(node, self.onnx)
            start, end = attrs.get("start", 0), attrs.get("end", len(shape))
            self.constants[node.output[0]] = np.array(shape[start:end], dtype=np.int64)
            return True
        inputs = [i for i in node.input if i]
        if not inputs or not all(i in self.constants for i in inputs) or op not in FOLDERS:
            return False
        args = [self.constants[i] if i else None for i in node.input]
        result = FOLDERS[op](args, attributes(node, self.onnx))
        for output, value in zip(node.output, result if isinstance(result, list) else [result]):
            self.constants[output] = np.asarray(value)
        return True

    def resolve(self, name: str):
        """The constant value of an ONNX value, folding the nodes that compute it if they
        come later in the file than the node asking (a pattern read at its first node meets
        the Constant nodes of its later steps), or None when it is computed from data."""
        if name in self.constants:
            return self.constants[name]
        index = self.producer.get(name)
        if index is None or name in self.values or name in self.computed:
            return None
        node = self.graph.node[index]
        foldable = node.op_type in ("Constant", "Shape") or (
            node.op_type in FOLDERS and all(not i or self.resolve(i) is not None for i in node.input)
        )
        try:
            if foldable and self.fold(node):
                return self.constants.get(name)
        except Unsupported:
            pass
        self.computed.add(name)
        return None

    # -- patterns: several nodes that are one layer ---------------------------------------------
    def fuse(self, index: int, node) -> Mapped | None:
        """A pattern of nodes beginning here that is one cnncalc layer (GELU written out with
        Erf or Tanh, SiLU as x * sigmoid(x), a channel shuffle as Reshape, Transpose,
        Reshape): the layer, its later nodes marked as read."""
        for pattern in PATTERNS.get(node.op_type, ()):
            found = pattern(self, node)
            if found is not None:
                mapped, steps = found
                self.consumed.update(steps)
                return mapped
        return None

    def next_step(self, value: str, op: str, other=None, near: float | None = None):
        """The one node reading `value` (which nothing else reads, nor the graph's outputs),
        when it is `op` and its other input is `other` or a constant scalar near `near`:
        (its index, its node); else None."""
        readers = self.readers.get(value, [])
        if len(readers) != 1 or value in self.results:
            return None
        index = readers[0]
        node = self.graph.node[index]
        if node.op_type != op or index in self.consumed:
            return None
        if other is None and near is None:
            return (index, node) if len(node.input) == 1 else None
        rest = [i for i in node.input if i != value] or [value]  # x * x reads x twice
        if len(node.input) != 2 or len(rest) != 1:
            return None
        if other is not None:
            return (index, node) if rest[0] == other else None
        return (index, node) if self.scalar_near(rest[0], near) else None

    def scalar_near(self, name: str, target: float) -> bool:
        value = self.resolve(name)
        return value is not None and value.size == 1 and math.isclose(float(value.reshape(-1)[0]), target, rel_tol=1e-6)

    def const(self, node, index: int, what: str, required: bool = True):
        """Input `index` of a node as a constant array (a weight, a shape), or an error."""
        if index >= len(node.input) or not node.input[index]:
            if required:
                raise Unsupported(f"needs its {what} (input {index + 1})")
            return None
        name = node.input[index]
        if self.resolve(name) is None:
            raise Unsupported(
                f"its {what} ('{name}') is computed in the graph, not a constant; cnncalc needs it fixed "
                "(weights as initializers, shapes known once the input shape is; give --input if it is dynamic)"
            )
        return self.constants[name]

    def shape(self, value: str) -> tuple:
        """The shape of an ONNX value with a batch of 1, as cnncalc computes it."""
        if value in self.constants:
            return tuple(self.constants[value].shape)
        return (1, *self.shapes[self.values[value]])

    def weight_name(self, node, index: int) -> str | None:
        """The module path of a weight named like PyTorch's state_dict ('layer1.0.conv1.weight')."""
        if index >= len(node.input):
            return None
        name = node.input[index]
        head, _, tail = name.rpartition(".")
        if head and tail in ("weight", "bias", "running_mean", "running_var") and "::" not in name:
            return PIECE.sub("_", head)
        return None


def join_scope(path: str, part: str) -> str:
    """A module path with the next scope of a node's name. The exporter names a scope after
    its module as its parent knows it, prefixed with the parent's own scope: in
    '/features/features.1/features.1.0/block/block.3/MatMul', 'block.3' is child 3 of
    'block', so the path is features.1.0.block.3."""
    pieces = path.split(".") if path else []
    for start in range(len(pieces)):
        if part.startswith(".".join(pieces[start:]) + "."):
            return ".".join(pieces[:start] + [part])
    return f"{path}.{part}" if path else part


def show_dims(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def attributes(node, onnx) -> dict[str, Any]:
    from onnx import helper

    values = {}
    for attribute in node.attribute:
        if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise Unsupported(f"attribute '{attribute.name}' holds a subgraph (control flow); cnncalc computes one fixed graph")
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list):
            value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        values[attribute.name] = value
    return values


def constant_value(node, onnx, to_array):
    import numpy as np

    attrs = {a.name: a for a in node.attribute}
    if "value" in attrs:
        return to_array(attrs["value"].t)
    simple = attributes(node, onnx)
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in simple:
            return np.array(simple[key], dtype=dtype)
    raise Unsupported(f"a Constant with {', '.join(attrs)}; supported: value, value_float(s), value_int(s)")


# -- constant folding: numpy forms of the operators shape arithmetic uses ---------------------
def _gather(args, attrs):
    import numpy as np

    return np.take(args[0], args[1], axis=attrs.get("axis", 0))


def _unsqueeze(args, attrs):
    import numpy as np

    axes = list(args[1]) if len(args) > 1 and args[1] is not None else attrs["axes"]
    out = args[0]
    rank = out.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        out = np.expand_dims(out, axis)
    return out


def _squeeze(args, attrs):
    import numpy as np

    axes = list(args[1]) if len(args) > 1 and args[1] is not None else attrs.get("axes")
    return np.squeeze(args[0], axis=None if axes is None else tuple(int(a) for a in axes))


def _slice(args, attrs):
    data = args[0]
    if len(args) > 1:
        starts, ends = args[1], args[2]
        axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
    else:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", range(len(starts))), [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _cast(args, attrs):
    from onnx import helper

    return args[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _constant_of_shape(args, attrs):
    import numpy as np
    from onnx import numpy_helper

    value = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
    return np.full(tuple(int(d) for d in args[0]), value.reshape(-1)[0], dtype=value.dtype)


def _reshape(args, attrs):
    import numpy as np

    shape = [int(d) for d in args[1]]
    shape = [args[0].shape[i] if d == 0 and not attrs.get("allowzero") else d for i, d in enumerate(shape)]
    return np.reshape(args[0], shape)


def _binary(function: Callable) -> Callable:
    def fold(args, attrs):
        import numpy as np

        a, b = np.asarray(args[0]), np.asarray(args[1])
        result = function(a, b)
        return result.astype(a.dtype) if a.dtype == b.dtype else result

    return fold


def _div(a, b):
    import numpy as np

    return a // b if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer) else a / b


MOVES = {"Identity", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Cast"}  # values kept, only arranged

FOLDERS: dict[str, Callable] = {
    "Identity": lambda args, attrs: args[0],
    "Shape": lambda args, attrs: __import__("numpy").array(args[0].shape[attrs.get("start", 0):attrs.get("end")], dtype="int64"),
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda args, attrs: __import__("numpy").concatenate([a.reshape(-1) if a.ndim == 0 else a for a in args], axis=attrs["axis"]),
    "Slice": _slice,
    "Cast": _cast,
    "ConstantOfShape": _constant_of_shape,
    "Reshape": _reshape,
    "Transpose": lambda args, attrs: args[0].transpose(attrs.get("perm")),
    "Add": _binary(lambda a, b: a + b),
    "Sub": _binary(lambda a, b: a - b),
    "Mul": _binary(lambda a, b: a * b),
    "Div": _binary(_div),
    "Sqrt": lambda args, attrs: __import__("numpy").sqrt(args[0]),
    "Floor": lambda args, attrs: __import__("numpy").floor(args[0]),
    "Neg": lambda args, attrs: -args[0],
    "Range": lambda args, attrs: __import__("numpy").arange(args[0], args[1], args[2]),
}


# -- operators onto layers ---------------------------------------------------------------------
HANDLERS: dict[str, Callable] = {}


def handles(*ops: str):
    def register(function):
        for op in ops:
            HANDLERS[op] = function
        return function

    return register


def supported() -> str:
    return (", ".join(sorted(HANDLERS)) + "; read as one layer: x * Sigmoid(x) (SiLU), GELU written out with Erf or "
            "Tanh, Reshape -> Transpose -> Reshape (channel shuffle)")


def spatial_pads(attrs, rank: int, what: str):
    """ONNX's pads [x1_begin, x2_begin, ..., x1_end, ...] as cnncalc padding: one value per
    dimension when symmetric, else [before, after] pairs."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad={auto} on the {what}; supported: explicit pads (NOTSET) or VALID")
    pads = attrs.get("pads", [0] * (2 * rank)) if auto == "NOTSET" else [0] * (2 * rank)
    begin, end = pads[:rank], pads[rank:]
    if list(begin) == list(end):
        return begin[0] if len(set(begin)) == 1 else list(begin)
    return [[b, e] for b, e in zip(begin, end)]


def one_or_list(values):
    values = list(values)
    return values[0] if len(set(values)) == 1 else values


@handles("Conv")
def conv(reader: Reader, node, attrs):
    weight = reader.const(node, 1, "weight")
    rank = weight.ndim - 2
    if rank not in (1, 2, 3):
        raise Unsupported(f"a {rank}-dimensional convolution; supported: 1, 2 or 3 spatial dimensions")
    bias = reader.const(node, 2, "bias", required=False)
    groups = attrs.get("group", 1)
    kernel = attrs.get("kernel_shape", list(weight.shape[2:]))
    values = {"out": int(weight.shape[0]), "kernel": one_or_list(kernel)}
    for key, onnx_key in (("stride", "strides"), ("dilation", "dilations")):
        if any(v != 1 for v in attrs.get(onnx_key, [1])):
            values[key] = one_or_list(attrs[onnx_key])
    padding = spatial_pads(attrs, rank, "convolution")
    if padding != 0:
        values["padding"] = padding
    if groups != 1:
        values["groups"] = groups
    if bias is None:
        values["bias"] = False
    tensors = {"weight": weight} | ({} if bias is None else {"bias": bias})
    return Mapped(f"conv{rank}d", values, tensors, name=reader.weight_name(node, 1))


@handles("ConvTranspose")
def conv_transpose(reader: Reader, node, attrs):
    weight = reader.const(node, 1, "weight")
    rank = weight.ndim - 2
    if rank not in (1, 2, 3):
        raise Unsupported(f"a {rank}-dimensional transposed convolution; supported: 1, 2 or 3 spatial dimensions")
    if "output_shape" in attrs:
        raise Unsupported("output_shape is given; supported: pads and output_padding (as PyTorch exports)")
    bias = reader.const(node, 2, "bias", required=False)
    groups = attrs.get("group", 1)
    values = {"out": int(weight.shape[1]) * groups, "kernel": one_or_list(attrs.get("kernel_shape", weight.shape[2:]))}
    for key, onnx_key in (("stride", "strides"), ("dilation", "dilations")):
        if any(v != 1 for v in attrs.get(onnx_key, [1])):
            values[key] = one_or_list(attrs[onnx_key])
    padding = spatial_pads(attrs, rank, "transposed convolution")
    if isinstance(padding, list) and padding and isinstance(padding[0], list):
        raise Unsupported(f"asymmetric pads {attrs['pads']}; supported: the same padding before and after")
    if padding != 0:
        values["padding"] = padding
    if any(attrs.get("output_padding", [0])):
        values["output_padding"] = one_or_list(attrs["output_padding"])
    if groups != 1:
        values["groups"] = groups
    if bias is None:
        values["bias"] = False
    tensors = {"weight": weight} | ({} if bias is None else {"bias": bias})
    return Mapped(f"conv_transpose{rank}d", values, tensors, name=reader.weight_name(node, 1))


@handles("BatchNormalization")
def batchnorm(reader: Reader, node, attrs):
    if attrs.get("training_mode", 0):
        raise Unsupported("training_mode=1 (batch statistics); supported: inference (running statistics)")
    if len([o for o in node.output if o]) > 1:
        raise Unsupported("outputs running statistics (training); supported: inference, one output")
    names = ("weight", "bias", "running_mean", "running_var")
    tensors = {key: reader.const(node, i + 1, key.replace("_", " ")) for i, key in enumerate(names)}
    eps = float(f"{attrs.get('epsilon', 1e-5):.6g}")  # float32 in the file: 1e-05 reads 9.99999974e-06
    values = {} if eps == 1e-5 else {"eps": eps}
    momentum = float(f"{1 - attrs.get('momentum', 0.9):.6g}")  # ONNX keeps the old statistics' share
    if momentum != 0.1:
        values["momentum"] = momentum
    return Mapped("batchnorm", values, tensors, name=reader.weight_name(node, 1))


@handles("Gemm")
def gemm(reader: Reader, node, attrs):
    import numpy as np

    if attrs.get("transA", 0):
        raise Unsupported("transA=1; supported: the data as the first input, untransposed (transA=0)")
    weight = reader.const(node, 1, "weight")
    if weight.ndim != 2:
        raise Unsupported(f"a weight of {weight.ndim} axes; supported: a matrix")
    weight = weight if attrs.get("transB", 0) else weight.T
    weight = weight * np.float32(attrs.get("alpha", 1.0)) if attrs.get("alpha", 1.0) != 1.0 else weight
    bias = reader.const(node, 2, "bias", required=False)
    if bias is not None:
        bias = np.broadcast_to(bias, (1, weight.shape[0])).reshape(-1).astype(weight.dtype) * np.float32(attrs.get("beta", 1.0))
    values = {"out": int(weight.shape[0])} | ({"bias": False} if bias is None else {})
    tensors = {"weight": np.ascontiguousarray(weight)} | ({} if bias is None else {"bias": bias})
    return Mapped("linear", values, tensors, name=reader.weight_name(node, 1))


@handles("MatMul")
def matmul(reader: Reader, node, attrs):
    import numpy as np

    weight = reader.const(node, 1, "weight (the second input)")
    if weight.ndim != 2:
        raise Unsupported("a product of two computed values or with a weight of other than 2 axes; supported: data x a weight matrix")
    name = reader.weight_name(node, 1)
    reader.products.add(reader.fresh_preview(name or reader.name_of(node)))
    return Mapped("linear", {"out": int(weight.shape[1]), "bias": False}, {"weight": np.ascontiguousarray(weight.T)}, name=name)


def pool(kind: str):
    def handler(reader: Reader, node, attrs):
        kernel = attrs["kernel_shape"]
        rank = len(kernel)
        if rank not in (1, 2, 3):
            raise Unsupported(f"{rank}-dimensional pooling; supported: 1, 2 or 3 spatial dimensions")
        values = {"kernel": one_or_list(kernel)}
        strides = attrs.get("strides", [1] * rank)
        if list(strides) != list(kernel):
            values["stride"] = one_or_list(strides)
        padding = spatial_pads(attrs, rank, "pooling")
        if isinstance(padding, list) and padding and isinstance(padding[0], list):
            raise Unsupported(f"asymmetric pads {attrs['pads']}; supported: the same padding before and after")
        if padding != 0:
            values["padding"] = padding
        if attrs.get("ceil_mode", 0):
            values["ceil_mode"] = True
        if kind == "max":
            if any(d != 1 for d in attrs.get("dilations", [1])):
                values["dilation"] = one_or_list(attrs["dilations"])
            if len([o for o in node.output if o]) > 1:
                raise Unsupported("outputs indices; supported: the pooled values only")
        else:
            values["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        return Mapped(f"{kind}pool{rank}d", values)

    return handler


HANDLERS["MaxPool"] = pool("max")
HANDLERS["AveragePool"] = pool("avg")


@handles("GlobalAveragePool", "GlobalMaxPool")
def global_pool(reader: Reader, node, attrs):
    kind = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    return Mapped(kind, {"keepdims": True})


@handles("ReduceMean", "ReduceMax")
def reduce_spatial(reader: Reader, node, attrs):
    """The mean (x.mean((2, 3))) or maximum (x.amax((2, 3))) over every spatial axis: global pooling."""
    shape = reader.shape(node.input[0])
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = list(reader.const(node, 1, "axes"))
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return None  # no axes: the input itself
    rank = len(shape)
    axes = sorted(int(a) % rank for a in (axes if axes else range(rank)))
    kind = "mean" if node.op_type == "ReduceMean" else "maximum"
    if rank < 3 or axes != list(range(2, rank)):
        raise Unsupported(f"a {kind} over axes {axes} of a {rank}-axis value; supported: the {kind} over all spatial axes "
                          "(axes 2 on: global pooling)")
    return Mapped("global_avgpool" if kind == "mean" else "global_maxpool", {"keepdims": bool(attrs.get("keepdims", 1))})


@handles("LpPool")
def lp_pool(reader: Reader, node, attrs):
    """(sum of x^p over each window)^(1/p) for an even p, where ONNX's |x|^p is PyTorch's x^p."""
    kernel = attrs["kernel_shape"]
    rank = len(kernel)
    p = attrs.get("p", 2)
    if rank not in (1, 2) or p <= 0 or p % 2:
        raise Unsupported(f"p={p} over {rank} spatial axes; supported: an even p (where |x|^p is x^p, as PyTorch's LPPool "
                          "computes) over 1 or 2 spatial axes")
    if spatial_pads(attrs, rank, "pooling") != 0 or any(d != 1 for d in attrs.get("dilations", [1])):
        raise Unsupported(f"pads {attrs.get('pads')} or dilations {attrs.get('dilations')}; supported: neither (PyTorch's LPPool)")
    values = {"norm_type": p, "kernel": one_or_list(kernel)}
    strides = attrs.get("strides", [1] * rank)
    if list(strides) != list(kernel):
        values["stride"] = one_or_list(strides)
    if attrs.get("ceil_mode", 0):
        values["ceil_mode"] = True
    return Mapped(f"lppool{rank}d", values)


SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softsign": "softsign", "HardSwish": "hardswish",
          "Mish": "mish"}


@handles(*SIMPLE)
def simple(reader: Reader, node, attrs):
    return Mapped(SIMPLE[node.op_type])


@handles("HardSigmoid")
def hardsigmoid(reader: Reader, node, attrs):
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5)):
        raise Unsupported(f"alpha={alpha}, beta={beta}; supported: alpha=1/6, beta=0.5 (PyTorch's hardsigmoid)")
    return Mapped("hardsigmoid")


@handles("LeakyRelu")
def leaky_relu(reader: Reader, node, attrs):
    return Mapped("leaky_relu", {"negative_slope": float(attrs.get("alpha", 0.01))})


@handles("Elu")
def elu(reader: Reader, node, attrs):
    return Mapped("elu", {"alpha": float(attrs.get("alpha", 1.0))})


@handles("Softplus")
def softplus(reader: Reader, node, attrs):
    return Mapped("softplus")


@handles("Gelu")
def gelu(reader: Reader, node, attrs):
    approximate = attrs.get("approximate", "none")
    return Mapped("gelu", {"approximate": approximate} if approximate != "none" else {})


@handles("Clip")
def clip(reader: Reader, node, attrs):
    low = attrs.get("min") if "min" in attrs else reader.const(node, 1, "minimum", required=False)
    high = attrs.get("max") if "max" in attrs else reader.const(node, 2, "maximum", required=False)
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if low == 0 and high == 6:
        return Mapped("relu6")
    if low == 0 and high is None:
        return Mapped("relu")
    raise Unsupported(f"Clip to [{low}, {high}]; supported: [0, 6] (relu6) and [0, none] (relu)")


def softmax_dim(reader: Reader, node, attrs) -> int:
    """The axis of a Softmax or LogSoftmax: before opset 13 its axis flattens the axes from
    there on, which is one axis only when it is the last."""
    rank = len(reader.shape(node.input[0]))
    axis = attrs.get("axis", -1 if reader.opset >= 13 else 1)
    if reader.opset < 13 and axis % rank != rank - 1:
        raise Unsupported(f"axis={axis} before opset 13 (over flattened trailing axes); supported: the last axis")
    return axis % rank


@handles("Softmax")
def softmax(reader: Reader, node, attrs):
    return Mapped("softmax", {"dim": softmax_dim(reader, node, attrs)})


@handles("Add", "Mul", "Sub", "Div")
def merge(reader: Reader, node, attrs):
    a, b = node.input[0], node.input[1]
    if (a in reader.constants) == (b in reader.constants):
        if node.op_type in ("Sub", "Div"):
            raise Unsupported(f"operator {node.op_type} of two computed values has no cnncalc layer (only with a fixed "
                              f"number or one per channel, read as rescaling); supported: {supported()}")
        return Mapped("add" if node.op_type == "Add" else "multiply", inputs=[a, b])
    data, constant = (a, b) if b in reader.constants else (b, a)
    if node.op_type == "Div" and data != a:
        raise Unsupported("a constant divided by a computed value; supported: a computed value divided by a fixed number")
    value = reader.constants[constant]
    if node.op_type == "Add" and reader.linear_bias(data, value):
        return None
    shape = reader.shape(data)
    per = channel_values(value, shape)
    if per is None:
        raise Unsupported(
            f"{node.op_type} with the constant '{constant}' of shape {tuple(value.shape)} on a value of shape "
            f"{tuple(shape)} (after '{reader.values.get(data, data)}'); supported: a number or one value per channel "
            f"(axis 1){bias_text(node)}"
        )
    if node.op_type == "Div" and not per.all():
        raise Unsupported(f"a division by the constant '{constant}', which holds 0; supported: a divisor without zeros")
    parameter = learnt(reader, constant)
    if parameter:
        if node.op_type == "Mul" and per.size > 1:  # a learnt per-channel scale (ConvNeXt's layer scale)
            reader.scales.add(reader.fresh_preview(module_of(parameter)))
            return Mapped("scale", {}, {"gamma": per}, inputs=[data], name=module_of(parameter))
        if node.op_type == "Add" and per.size > 1 and reader.scale_shift(data, per):
            return None
        raise Unsupported(
            f"{node.op_type} with the weight '{constant}' of shape {tuple(value.shape)}; supported: a weight of one "
            "value per channel multiplied (a layer scale), a fixed number or one per channel added or multiplied"
            f"{bias_text(node)}"
        )
    if node.op_type == "Sub" and data == a:  # x - c
        per = -per
    elif node.op_type == "Div":  # x / c
        per = (1 / per.astype("float64")).astype("float32")
    number = short(per[0]) if per.size == 1 else [short(v) for v in per]
    values = {"scale" if node.op_type in ("Mul", "Div") else "offset": number}
    if node.op_type == "Sub" and data == b:  # c - x
        values["scale"] = -1.0
    return Mapped("rescaling", values, inputs=[data])


def short(value) -> float:
    """A float32 as the shortest decimal that reads back as the same float32 (0.485, not
    0.48500001430511475)."""
    import numpy as np

    return float(str(np.float32(value)))


def module_of(parameter: str) -> str:
    """The layer name of a parameter: its module's path ('layer1.0.conv1' of
    'layer1.0.conv1.weight'), or its whole name for a module's own ('features.1.0.layer_scale')."""
    head, _, tail = parameter.rpartition(".")
    return PIECE.sub("_", head if head and tail in ("weight", "bias") else parameter)


def bias_text(node) -> str:
    return ", or the bias after a MatMul (the linear layer's)" if node.op_type == "Add" else ""


def learnt(reader: Reader, name: str) -> str | None:
    """The module parameter a constant holds ('features.1.0.layer_scale', also through an
    Unsqueeze), or None for a number the exporter wrote or folded ('/Constant_output_0',
    'onnx::Mul_42')."""
    origin = reader.initializers.get(name)
    return origin if origin is not None and parameter_like(origin) else None


def parameter_like(name: str) -> bool:
    """A name PyTorch gives a parameter (a module path), not one it makes up for a number."""
    return "::" not in name and not name.startswith(("/", "_v_")) and not name.isdigit()


def channel_values(value, shape):
    """A constant that broadcasts onto a value of `shape` (batch first) as one number or one
    number per channel (axis 1): those numbers (float32), else None."""
    import numpy as np

    value = np.asarray(value)
    if value.ndim > len(shape):  # it would add axes
        return None
    if value.size == 1:
        return value.reshape(1).astype(np.float32)
    if len(shape) < 2:
        return None
    dims = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
    if dims[1] != shape[1] or any(d != 1 for i, d in enumerate(dims) if i != 1):
        return None
    return value.reshape(-1).astype(np.float32)


@handles("Concat")
def concat(reader: Reader, node, attrs):
    rank = len(reader.shape(node.input[0]))
    if len([i for i in node.input if i]) == 1:  # torch.cat of one tensor (DenseNet's first layer)
        return None
    return Mapped("concat", {"axis": attrs["axis"] % rank}, inputs=list(node.input))


@handles("Flatten")
def flatten(reader: Reader, node, attrs):
    axis = attrs.get("axis", 1)
    if axis != 1:
        raise Unsupported(f"axis={axis}; supported: axis=1 (keep the batch, flatten the rest)")
    return Mapped("flatten")


@handles("Reshape")
def reshape(reader: Reader, node, attrs):
    import numpy as np

    before = reader.shape(node.input[0])
    target = [int(d) for d in reader.const(node, 1, "target shape")]
    target = [before[i] if d == 0 and not attrs.get("allowzero") else d for i, d in enumerate(target)]
    known = int(np.prod([d for d in target if d != -1]))
    total = int(np.prod(before))
    target = [total // known if d == -1 else d for d in target]
    if int(np.prod(target)) != total or target[0] != before[0]:
        raise Unsupported(f"from {tuple(before)} to {tuple(target)}; supported: a reshape that keeps the batch axis")
    if len(target) == 2:
        return Mapped("flatten")
    return Mapped("reshape", {"shape": list(target[1:])})


@handles("Squeeze", "Unsqueeze")
def squeeze(reader: Reader, node, attrs):
    """Axes of size 1 removed or inserted (x.squeeze(-1), x.unsqueeze(2)) after the batch: a
    reshape of each sample."""
    before = reader.shape(node.input[0])
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(a) for a in reader.const(node, 1, "axes")]
    if not axes:
        raise Unsupported("no axes (every axis of size 1, so the batch's size would decide); supported: the axes given")
    after = list(before)
    if node.op_type == "Squeeze":
        axes = sorted({int(a) % len(before) for a in axes})
        if 0 in axes or any(before[a] != 1 for a in axes):
            raise Unsupported(f"axes {axes} of a value of shape {tuple(before)}; supported: axes of size 1 after the batch")
        after = [d for i, d in enumerate(before) if i not in axes]
    else:
        rank = len(before) + len(axes)
        axes = sorted({int(a) % rank for a in axes})
        if 0 in axes:
            raise Unsupported(f"axes {axes} put a new axis before the batch; supported: new axes after it")
        for axis in axes:
            after.insert(axis, 1)
    if len(after) == 2:
        return Mapped("flatten")
    return Mapped("reshape", {"shape": after[1:]})


@handles("Dropout")
def dropout(reader: Reader, node, attrs):
    ratio = reader.const(node, 1, "ratio", required=False)
    p = float(ratio) if ratio is not None else float(attrs.get("ratio", 0.5))
    return Mapped("dropout", {"p": p})


@handles("Identity")
def identity(reader: Reader, node, attrs):
    return None


def resize_target(reader: Reader, node, before) -> tuple:
    """(output shape, scales or None) of a Resize: its sizes, or floor(in x scale), from its
    constant inputs. The output shape of a Resize (sizes, or floor(in x scale)) from its constant inputs."""
    scales = sizes = None
    if node.op_type == "Upsample":
        scales = reader.const(node, 1, "scales") if len(node.input) > 1 else reader_attr_scales(node, reader)
    else:
        if len(node.input) > 3 and node.input[3]:
            sizes = reader.const(node, 3, "sizes")
        elif len(node.input) > 2 and node.input[2]:
            scales = reader.const(node, 2, "scales")
        else:
            raise Unsupported("neither scales nor sizes is given")
        if scales is not None and scales.size == 0:
            raise Unsupported("empty scales and no sizes")
    if sizes is not None:
        if len(sizes) != len(before):
            raise Unsupported(f"{len(sizes)} sizes for a {len(before)}-axis input; supported: one per axis")
        return tuple(int(v) for v in sizes), None
    if len(scales) != len(before):
        raise Unsupported(f"{len(scales)} scales for a {len(before)}-axis input; supported: one per axis")
    scales = [float(sc) for sc in scales]
    return tuple(int(math.floor(b * sc)) for b, sc in zip(before, scales)), scales


def reader_attr_scales(node, reader):
    import numpy as np

    return np.array(attributes(node, reader.onnx)["scales"], dtype=np.float32)


@handles("Resize", "Upsample")
def resize(reader: Reader, node, attrs):
    before = reader.shape(node.input[0])
    after, scales = resize_target(reader, node, before)
    mode = attrs.get("mode", "nearest")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize" else "asymmetric")
    rank = len(before) - 2
    if rank not in (1, 2, 3) or after[:2] != before[:2]:
        raise Unsupported(f"a resize from {before} to {after}; supported: spatial axes only")
    if any(attrs.get(k) for k in ("antialias", "exclude_outside")) or attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("antialias, exclude_outside or keep_aspect_ratio_policy; supported: PyTorch's interpolate")
    values: dict[str, Any] = {}
    if mode == "nearest":
        nearest = attrs.get("nearest_mode", "round_prefer_floor")
        if transform == "asymmetric" and nearest == "floor":
            values["mode"] = "nearest"
        elif transform == "half_pixel" and nearest == "round_prefer_ceil":
            values["mode"] = "nearest-exact"
        else:
            raise Unsupported(f"nearest with coordinate_transformation_mode={transform}, nearest_mode={nearest}; supported: "
                              "asymmetric+floor (PyTorch 'nearest'), half_pixel+round_prefer_ceil ('nearest-exact')")
    elif mode in ("linear", "cubic"):
        names = {1: "linear", 2: "bilinear", 3: "trilinear"} if mode == "linear" else {2: "bicubic"}
        if rank not in names:
            raise Unsupported(f"{mode} over {rank} spatial axes; supported: {', '.join(names.values())}")
        if transform not in ("align_corners", "pytorch_half_pixel", "half_pixel"):
            raise Unsupported(f"coordinate_transformation_mode={transform}; supported: align_corners, half_pixel, pytorch_half_pixel")
        if mode == "cubic" and attrs.get("cubic_coeff_a", -0.75) != -0.75:
            raise Unsupported(f"cubic_coeff_a={attrs['cubic_coeff_a']}; supported: -0.75 (PyTorch's)")
        values["mode"] = names[rank]
        values["align_corners"] = transform == "align_corners"
    else:
        raise Unsupported(f"mode={mode}; supported: nearest, linear, cubic")
    if scales is not None and all(math.floor(b * s) == a for b, s, a in zip(before[2:], scales[2:], after[2:])):
        values["scale"] = one_or_list(scales[2:])
    else:
        values["size"] = one_or_list(after[2:])
    return Mapped("upsample", values)


@handles("Pad")
def pad(reader: Reader, node, attrs):
    import numpy as np

    mode = attrs.get("mode", "constant")
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}
    if mode not in modes:
        raise Unsupported(f"mode={mode}; supported: {', '.join(modes)}")
    pads = list(attrs["pads"]) if "pads" in attrs else [int(p) for p in reader.const(node, 1, "pads")]
    value = attrs.get("value", 0.0)
    if len(node.input) > 2 and node.input[2]:
        value = float(np.asarray(reader.const(node, 2, "constant value")).reshape(-1)[0])
    if len(node.input) > 3 and node.input[3]:
        raise Unsupported("axes are given; supported: pads for every axis")
    rank = len(pads) // 2
    begin, end = pads[:rank], pads[rank:]
    if any(begin[:2]) or any(end[:2]) or any(p < 0 for p in pads):
        raise Unsupported(f"pads {pads}; supported: non-negative padding of the spatial axes only")
    pairs = [[b, e] for b, e in zip(begin[2:], end[2:])]
    values: dict[str, Any] = {"padding": pairs, "mode": modes[mode]}
    if value:
        values["value"] = float(value)
    return Mapped("pad", values)


@handles("Split")
def split(reader: Reader, node, attrs):
    shape = reader.shape(node.input[0])
    axis = attrs.get("axis", 0) % len(shape)
    if axis == 0:
        raise Unsupported("a split of the batch axis; supported: an axis of a sample")
    count = len([o for o in node.output if o])
    if "split" in attrs:
        sizes = [int(v) for v in attrs["split"]]
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in reader.const(node, 1, "split sizes")]
    else:  # equal parts, the last smaller (opset 18's num_outputs rule)
        part = -(-shape[axis] // count)
        sizes = [min(part, shape[axis] - i * part) for i in range(count)]
    if len(sizes) < 2:
        return None  # one part: the input itself
    return Mapped("split", {"sizes": sizes, "axis": axis})


@handles("Slice")
def slice_(reader: Reader, node, attrs):
    """A slice by step 1: of spatial axes (`skip[:, :, a:b, c:d]`) a crop; of one other axis
    of a sample (`x[:, :c]`, torch.chunk as PyTorch exports it) the part of a split."""
    shape = reader.shape(node.input[0])
    if "starts" in attrs:  # before opset 10
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes, steps = list(attrs.get("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts = [int(v) for v in reader.const(node, 1, "starts")]
        ends = [int(v) for v in reader.const(node, 2, "ends")]
        axes = [int(v) for v in reader.const(node, 3, "axes")] if len(node.input) > 3 and node.input[3] else list(range(len(starts)))
        steps = [int(v) for v in reader.const(node, 4, "steps")] if len(node.input) > 4 and node.input[4] else [1] * len(starts)
    cuts = {}
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= len(shape)
        size = shape[axis]
        begin = min(max(start + size if start < 0 else start, 0), size)
        stop = min(max(end + size if end < 0 else end, 0), size)
        if axis == 0 or int(step) != 1 or stop <= begin:
            raise Unsupported(f"a slice of axis {axis} from {start} to {end} by {int(step)}; supported: by step 1, of "
                              "the spatial axes (a crop) or of one other axis of a sample (a part of a split)")
        if (begin, stop) != (0, size):
            cuts[axis] = (begin, stop)
    if not cuts:
        return None  # everything: the input itself
    spatial = len(shape) > 2
    if spatial and all(axis >= 2 for axis in cuts):
        pairs = [[0, 0] for _ in shape[2:]]
        for axis, (begin, stop) in cuts.items():
            pairs[axis - 2] = [begin, shape[axis] - stop]
        return Mapped("crop", {"cropping": pairs})
    if len(cuts) > 1:
        raise Unsupported(f"a slice of axes {sorted(cuts)} at once; supported: spatial axes only (a crop) or one other axis")
    (axis, (begin, stop)), = cuts.items()
    sizes = [n for n in (begin, stop - begin, shape[axis] - stop) if n]
    mapped = Mapped("split", {"sizes": sizes, "axis": axis}, take=1 if begin else 0)
    source = reader.values.get(node.input[0])
    earlier = reader.parts.get(part_key(source, mapped))
    if earlier is not None:  # torch.chunk: one Slice per part of the same split
        reader.values[node.output[0]] = f"{earlier}.{mapped.take}"
        return None
    return mapped


def part_key(source: str, mapped: Mapped) -> tuple:
    return source, mapped.type, mapped.attrs["axis"], tuple(mapped.attrs["sizes"])


@handles("LayerNormalization")
def layernorm(reader: Reader, node, attrs):
    shape = reader.shape(node.input[0])
    axis = attrs.get("axis", -1) % len(shape)
    scale = reader.const(node, 1, "scale")
    bias = reader.const(node, 2, "bias", required=False)
    values = {"shape": one_or_list(shape[axis:]) if len(shape) - axis == 1 else list(shape[axis:]),
              "eps": float(f"{attrs.get('epsilon', 1e-5):.6g}")}
    if bias is None:
        values["bias"] = False
    tensors = {"weight": scale} | ({} if bias is None else {"bias": bias})
    return Mapped("layernorm", values, tensors, name=reader.weight_name(node, 1))


@handles("Transpose")
def transpose(reader: Reader, node, attrs):
    rank = len(reader.shape(node.input[0]))
    perm = [int(p) for p in attrs.get("perm", reversed(range(rank)))]
    if perm[0] != 0:
        raise Unsupported(f"perm={perm} moves the batch axis; supported: a new order of a sample's axes (perm starting with 0)")
    if perm == list(range(rank)):
        return None
    return Mapped("permute", {"dims": perm})  # with the batch's 0, as torch.permute: the DSL reads (0,2,3,1)


# -- patterns: several nodes that are one layer ---------------------------------------------------
PATTERNS: dict[str, list[Callable]] = {}
WITHIN = {  # operators read only as a step of a pattern, or on constants
    "Erf": "read only within GELU, 0.5 x (1 + erf(x / sqrt(2)))",
    "Pow": "read only within GELU's tanh form, x^3",
}


def pattern(*ops: str):
    def register(function):
        for op in ops:
            PATTERNS.setdefault(op, []).append(function)
        return function

    return register


def chain(reader: Reader, value: str, steps) -> tuple[list[int], str] | None:
    """Follows `value` through steps (op, other input or None, scalar or None), each the one
    reader of the last: (the nodes' indices, the last output), or None when it differs."""
    indices = []
    for op, other, near in steps:
        found = reader.next_step(value, op, other, near)
        if found is None:
            return None
        indices.append(found[0])
        value = found[1].output[0]
    return indices, value


def gelu_tail(reader: Reader, x: str, value: str, indices: list[int], approximate: str, name: str):
    """The end of both GELU forms: value = 1 + erf(..) or 1 + tanh(..), then x * value * 0.5
    in either order."""
    for steps in ((("Mul", x, None), ("Mul", None, 0.5)), (("Mul", None, 0.5), ("Mul", x, None))):
        found = chain(reader, value, steps)
        if found is not None:
            values = {"approximate": approximate} if approximate != "none" else {}
            return Mapped("gelu", values, inputs=[x], outputs=[found[1]], name=name), indices + found[0]
    return None


SQRT2 = math.sqrt(2)


@pattern("Div", "Mul")
def gelu_erf(reader: Reader, node):
    """0.5 x (1 + erf(x / sqrt 2)): nn.GELU() as torch.onnx.export writes it before opset 20."""
    if len(node.input) != 2:
        return None
    for x, c in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
        if x in reader.constants or (node.op_type == "Div" and x != node.input[0]):
            continue
        if reader.scalar_near(c, SQRT2 if node.op_type == "Div" else 1 / SQRT2):
            found = chain(reader, node.output[0], (("Erf", None, None), ("Add", None, 1.0)))
            if found is not None:
                return gelu_tail(reader, x, found[1], found[0], "none", reader.name_of(node, "gelu"))
    return None


@pattern("Mul", "Pow")
def gelu_tanh(reader: Reader, node):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): nn.GELU(approximate='tanh')."""
    x = node.input[0]
    if x in reader.constants:
        return None
    if node.op_type == "Mul":
        if list(node.input) != [x, x]:
            return None
        cube = chain(reader, node.output[0], (("Mul", x, None),))
    else:
        if not reader.scalar_near(node.input[1], 3.0):
            return None
        cube = ([], node.output[0])
    if cube is None:
        return None
    rest = chain(reader, cube[1], (("Mul", None, 0.044715), ("Add", x, None), ("Mul", None, math.sqrt(2 / math.pi)),
                                   ("Tanh", None, None), ("Add", None, 1.0)))
    if rest is None:
        return None
    return gelu_tail(reader, x, rest[1], cube[0] + rest[0], "tanh", reader.name_of(node, "gelu"))


@pattern("Sigmoid", "HardSigmoid")
def gated_by_itself(reader: Reader, node):
    """x * sigmoid(x) is SiLU (nn.SiLU before opset 20 has no operator of its own); x *
    hardsigmoid(x) with PyTorch's constants is hardswish (as Keras-to-ONNX converters write it)."""
    x = node.input[0]
    if node.op_type == "HardSigmoid":
        attrs = attributes(node, reader.onnx)
        if not (math.isclose(attrs.get("alpha", 0.2), 1 / 6, rel_tol=1e-6) and math.isclose(attrs.get("beta", 0.5), 0.5)):
            return None
    found = chain(reader, node.output[0], (("Mul", x, None),))
    if found is None:
        return None
    kind = "silu" if node.op_type == "Sigmoid" else "hardswish"
    return Mapped(kind, inputs=[x], outputs=[found[1]], name=reader.name_of(node, kind)), found[0]


@pattern("Reshape")
def shuffle(reader: Reader, node):
    """(N, C, *S) viewed as (N, g, C / g, *S), axes 1 and 2 swapped, viewed back as (N, C, *S):
    ShuffleNet's channel_shuffle."""
    if node.input[0] not in reader.values:
        return None
    before = reader.shape(node.input[0])
    split = reshaped(reader, node, before)
    if split is None or len(split) != len(before) + 1 or split[0] != before[0] or split[3:] != before[2:]:
        return None
    if split[1] * split[2] != before[1] or split[1] < 2:
        return None
    rank = len(split)
    swap = reader.next_step(node.output[0], "Transpose")
    if swap is None:
        return None
    perm = attributes(swap[1], reader.onnx).get("perm")
    if perm is None or list(perm) != [0, 2, 1, *range(3, rank)]:
        return None
    readers = reader.readers.get(swap[1].output[0], [])
    if len(readers) != 1 or swap[1].output[0] in reader.results:
        return None
    last = reader.graph.node[readers[0]]
    if last.op_type != "Reshape" or last.input[0] != swap[1].output[0]:
        return None
    after = reshaped(reader, last, tuple(split[i] for i in perm))
    if after is None or tuple(after) != tuple(before):
        return None
    return Mapped("channel_shuffle", {"groups": int(split[1])}, outputs=[last.output[0]], name=reader.name_of(node, "channel_shuffle")), \
        [swap[0], readers[0]]


def reshaped(reader: Reader, node, before) -> tuple | None:
    """The shape a Reshape gives, from its constant target (None when it is not constant)."""
    import numpy as np

    target = reader.resolve(node.input[1]) if len(node.input) > 1 else None
    if target is None:
        return None
    allowzero = attributes(node, reader.onnx).get("allowzero", 0)
    target = [before[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(target)]
    total = int(np.prod(before))
    known = int(np.prod([d for d in target if d != -1]))
    if known == 0 or total % known:
        return None
    return tuple(total // known if d == -1 else d for d in target)


# -- more activations and normalisations ------------------------------------------------------------
@handles("PRelu")
def prelu(reader: Reader, node, attrs):
    """max(0, x) + slope * min(0, x), one learnt slope or one per channel (nn.PReLU; PyTorch
    writes its weight unsqueezed to (C, 1, 1))."""
    slope = reader.const(node, 1, "slope")
    per = channel_values(slope, reader.shape(node.input[0]))
    parameter = learnt(reader, node.input[1])
    if per is None or not parameter:
        raise Unsupported(f"a slope '{node.input[1]}' of shape {tuple(slope.shape)}{'' if parameter else ' that is no weight'}; "
                          "supported: a weight of one value or one per channel (axis 1), as nn.PReLU's")
    return Mapped("prelu", {"num_parameters": int(per.size)}, {"weight": per}, name=module_of(parameter))


@handles("Selu")
def selu(reader: Reader, node, attrs):
    alpha, gamma = attrs.get("alpha", 1.67326319217681884765625), attrs.get("gamma", 1.05070102214813232421875)
    if not (math.isclose(alpha, 1.6732632423543772, rel_tol=1e-6) and math.isclose(gamma, 1.0507009873554805, rel_tol=1e-6)):
        raise Unsupported(f"alpha={alpha}, gamma={gamma}; supported: the SELU constants (alpha 1.6733, gamma 1.0507)")
    return Mapped("selu")


@handles("LogSoftmax")
def log_softmax(reader: Reader, node, attrs):
    return Mapped("log_softmax", {"dim": softmax_dim(reader, node, attrs)})


@handles("DepthToSpace")
def depth_to_space(reader: Reader, node, attrs):
    mode = attrs.get("mode", "DCR")
    if mode != "CRD":
        raise Unsupported(f"mode={mode}; supported: CRD (PyTorch's pixel_shuffle; DCR orders the channels otherwise)")
    return Mapped("pixel_shuffle", {"factor": int(attrs["blocksize"])})


@handles("InstanceNormalization")
def instance_norm(reader: Reader, node, attrs):
    """Each sample's channels normalised over their positions: learnt scale and shift
    (affine), or ones and zeros the exporter wrote (nn.InstanceNorm2d's default, and the
    inside of nn.GroupNorm as PyTorch exports it)."""
    import numpy as np

    scale, bias = reader.const(node, 1, "scale"), reader.const(node, 2, "bias")
    eps = float(f"{attrs.get('epsilon', 1e-5):.6g}")
    values: dict[str, Any] = {} if eps == 1e-5 else {"eps": eps}
    parameters = [learnt(reader, node.input[1]), learnt(reader, node.input[2])]
    if all(parameters):
        return Mapped("instancenorm", {"affine": True, **values}, {"weight": scale.reshape(-1), "bias": bias.reshape(-1)},
                      name=module_of(parameters[0]))
    if not any(parameters) and np.all(scale == 1) and np.all(bias == 0):
        return Mapped("instancenorm", values)
    raise Unsupported("a scale and a shift of which one is a weight and the other fixed, or fixed but not ones and zeros; "
                      "supported: both weights (affine) or ones and zeros (no affine)")
