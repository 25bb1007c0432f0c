"""A Keras 3 model file (.keras) read as a network: its config.json mapped onto cnncalc's
layers, its model.weights.h5 as the layers' weights.

A .keras file is a zip archive holding config.json (the model's structure, read here with
the standard library: no Keras needed), metadata.json and model.weights.h5 (the weights,
read with h5py, the optional extra cnncalc[keras], only when present and wanted).

Sequential and Functional models are read, nested ones too: a model used as a layer has
its layers inlined, named MODEL.LAYER, so `--depth` folds them. A layer called several
times shares its weights (`share:`). Each Keras layer class is looked up in the registry
by its name (Conv2D, BatchNormalization, ...), which maps its config onto the type's
attributes (Layer.from_keras) and its saved variables onto cnncalc's tensors
(Layer.keras_tensors). Keras operations written on symbolic tensors (`x + 3.0`,
`x * (1 / 6)`, as MobileNetV3 does) are rescalings or merges. Anything else is an error
naming the layer, its class and what is supported.

The shapes Keras recorded for every tensor are checked against cnncalc's own as the graph
is built. Errors point at `FILE:N:1`, N being the layer's line in a listing of config.json's
layers (its place in the JSON, its class and its name), which stands in for the source text
so an error can quote it.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from ..errors import CnnError, Location, format_shape
from ..files import open_input, read_limited
from .naming import prefix_groups, unused_name
from ..graph import INPUT, LayerSpec, NetworkSpec, Written, read_layer
from ..layers import REGISTRY, Layout
from ..layers.attrs import AttrError, show

EXTRA = "cnncalc[keras]"
MAX_ARCHIVE_BYTES = 2**40  # the archive itself is only opened; its members have their own limits
MAX_CONFIG_BYTES = 64 * 2**20  # ResNet50's config.json is 120 KiB
MAX_WEIGHTS_BYTES = 8 * 2**30
MODELS = ("Functional", "Sequential", "Model")
ALLOWED = "a .keras file as Keras 3's model.save writes it (a zip holding config.json and model.weights.h5)"
PIECE = re.compile(r"[^\w.\-]")


def is_keras(path: str | None) -> bool:
    return path is not None and path.lower().endswith(".keras")


def h5py_module():
    """The h5py package, or an error naming the extra that installs it."""
    try:
        import h5py
    except ImportError:
        raise CnnError(f"reading the weights of a Keras file needs the h5py package; install it with: pip install '{EXTRA}'") from None
    return h5py


def h5py_installed() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


class Unsupported(Exception):
    """A layer cnncalc cannot express; the reader adds where."""


class Malformed(Exception):
    """config.json not as Keras writes it; the reader adds where."""


def malformed(what: str, where: Location, label: str | None = None) -> CnnError:
    return CnnError(f"config.json is not as Keras 3 writes it: {what}; allowed: {ALLOWED}", where, label)


def unreadable(exc: Exception, where: Location) -> CnnError:
    """h5py opened the weights file but cannot read a part of it."""
    return CnnError(f"model.weights.h5 cannot be read ({type(exc).__name__}: {exc}); allowed: {ALLOWED}", where)


@dataclass
class Entry:
    """One layer of config.json: where it is in the JSON, its line in the listing."""

    layer: dict
    path: str  # layers[3], layers[5].config.layers[2]
    line: int


def read(path: str, input_shape: tuple[int, ...] | None = None, weights: bool | None = None) -> tuple[NetworkSpec, dict]:
    """The network of a .keras file as a spec (no blocks; groups from nested models), and
    its weights keyed LAYER.TENSOR (as --weights takes them). `weights`: True reads them
    (h5py needed), False does not, None reads them when h5py is installed."""
    from .reading import remember

    stream, size = open_input(path, "file", "a Keras model (.keras)")
    with stream:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CnnError(f"{path} is not a readable Keras archive (truncated or corrupt: {exc}); allowed: {ALLOWED}",
                           Location(path, 1, 1)) from None
        with archive:
            config = read_config(archive, path)
            reader = Reader(path, config, input_shape)
            remember(reader.listing(), path)
            names = set(archive.namelist())
            store = None
            if weights or (weights is None and h5py_installed()):
                if "model.weights.h5" in names:
                    store = WeightStore(path, member(archive, "model.weights.h5", path, MAX_WEIGHTS_BYTES, "the weights"))
            try:
                return reader.spec(store)
            finally:
                if store is not None:
                    store.close()


def member(archive: zipfile.ZipFile, name: str, path: str, limit: int, what: str) -> bytes:
    """The bytes of one member of the archive, within a limit, or a clear error."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CnnError(f"{path} holds no {name}, so it is not a Keras 3 model file; allowed: {ALLOWED}", Location(path, 1, 1)) from None
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:  # a bad CRC, a broken stream, a method zipfile lacks
        raise CnnError(f"{path}: {name} cannot be read from the archive (truncated or corrupt: {type(exc).__name__}: {exc}); "
                       f"allowed: {ALLOWED}", Location(path, 1, 1)) from None
    if len(data) > limit or info.file_size > limit:
        raise CnnError(f"{path}: {name} holds more than the limit of {limit:,} bytes for {what}", Location(path, 1, 1))
    return data


def read_config(archive: zipfile.ZipFile, path: str) -> dict:
    data = member(archive, "config.json", path, MAX_CONFIG_BYTES, "a model's structure")
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CnnError(f"{path}: config.json is not JSON ({exc}); allowed: {ALLOWED}", Location(path, 1, 1)) from None
    if not isinstance(config, dict) or config.get("class_name") not in MODELS or not isinstance(config.get("config"), dict):
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise CnnError(f"{path}: config.json describes {show(found)}, not a model; allowed: a Sequential or Functional "
                       "model saved by Keras 3", Location(path, 1, 1))
    return config


class WeightStore:
    """model.weights.h5: each layer's variables, found by the layer's name (Keras 3 writes
    it beside them) or by Keras's own key (the class name in snake case, numbered in the
    model's order of layers)."""

    def __init__(self, path: str, data: bytes):
        h5py = h5py_module()
        self.path = path
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except (OSError, ValueError) as exc:
            raise CnnError(f"{path}: model.weights.h5 is not a readable HDF5 file (truncated or corrupt: {exc}); "
                           f"allowed: {ALLOWED}", Location(path, 1, 1)) from None

    def close(self) -> None:
        self.file.close()

    def model(self, group, layers: list[dict]) -> dict[str, Any]:
        """The h5 group of each layer of a model (by Keras name), from the model's group."""
        found: dict[str, Any] = {}
        try:
            children = group["layers"] if "layers" in group else {}
            counts: dict[str, int] = {}
            for layer in layers:
                key = snake_case(str(layer.get("class_name", "")))
                number = counts.get(key, -1) + 1
                counts[key] = number
                name = layer_name(layer)
                keyed = key if number == 0 else f"{key}_{number}"
                if keyed in children:
                    found[name] = children[keyed]
            for key in children:  # the name Keras writes beside the variables wins
                child = children[key]
                named = child["vars"].attrs.get("name") if "vars" in child else None
                if isinstance(named, bytes):
                    named = named.decode("utf-8", "replace")
                if isinstance(named, str):
                    found[named] = child
        except (OSError, KeyError, ValueError) as exc:
            raise unreadable(exc, Location(self.path, 1, 1)) from None
        return found

    def arrays(self, group, where: Location) -> list:
        """A layer's variables in the order Keras made them."""
        import numpy as np

        if group is None or "vars" not in group:
            return []
        try:
            variables = group["vars"]
            keys = sorted(variables, key=lambda k: int(k) if str(k).isdigit() else 10**9)
            return [np.asarray(variables[k][()]) for k in keys]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise unreadable(exc, where) from None


def snake_case(name: str) -> str:
    """A class name as Keras keys its saved state: BatchNormalization -> batch_normalization,
    ReLU -> re_lu, Conv2D -> conv2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_name(layer: dict) -> str:
    config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    name = layer.get("name", config.get("name"))
    return name if isinstance(name, str) else ""


class Reader:
    def __init__(self, path: str, config: dict, input_shape: tuple[int, ...] | None):
        self.path, self.root, self.override = path, config, input_shape
        self.entries: list[Entry] = []
        self.lines: list[str] = []
        self.walk(config["config"].get("layers"), "layers", 0)
        self.layers: list[LayerSpec] = []
        self.weights: dict[str, Any] = {}
        self.shapes: dict[str, tuple] = {}  # cnncalc value -> sample shape
        self.taken: set[str] = set()
        self.tensors: dict[tuple, str] = {}  # (model prefix, Keras layer, node, tensor) -> cnncalc value
        self.calls: dict[tuple, str] = {}  # (model prefix, Keras layer) -> the cnncalc layer of its first call
        self.layout = self.find_layout()

    # -- the listing that stands in for config.json's text ------------------------------
    def walk(self, layers, where: str, depth: int) -> None:
        if not isinstance(layers, list):
            return
        for index, layer in enumerate(layers):
            if not isinstance(layer, dict):
                continue
            place = f"{where}[{index}]"
            self.lines.append(f"{'  ' * depth}{place} {layer.get('class_name')} '{layer_name(layer)}'")
            self.entries.append(Entry(layer, place, len(self.lines)))
            if layer.get("class_name") in MODELS and isinstance(layer.get("config"), dict):
                self.walk(layer["config"].get("layers"), f"{place}.config.layers", depth + 1)

    def listing(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else "(no layers)\n"

    def where(self, layer: dict) -> Location:
        entry = next((e for e in self.entries if e.layer is layer), None)
        return Location(self.path, entry.line if entry else 1, 1)

    def find_layout(self) -> Layout:
        """channels_last (Keras's default) unless the layers say channels_first; one layout
        for all (a layer saying otherwise is refused where it is read)."""
        for entry in self.entries:
            config = entry.layer.get("config")
            if isinstance(config, dict) and config.get("data_format") in ("channels_first", "channels_last"):
                return Layout(config["data_format"] == "channels_last")
        return Layout(True)

    # -- the whole model ----------------------------------------------------------------
    def spec(self, store: WeightStore | None) -> tuple[NetworkSpec, dict]:
        self.store = store
        first = Location(self.path, 1, 1)
        model = self.root
        self.inputs: dict[str, tuple] = {}
        groups = store.file if store is not None else None
        outputs = self.model(model, [], "", groups, first, top=True)
        if not self.layers:
            raise CnnError("the model has no layers besides its inputs; allowed: a model that computes something", first)
        if len(self.inputs) > 1:
            fields = {name: Written(list(shape), first) for name, shape in self.inputs.items()}
            input_written, inputs_written = None, Written(dict(fields), first, fields=fields)
        else:
            input_written, inputs_written = Written(list(next(iter(self.inputs.values()))), first), None
        written_outputs = None
        if outputs != [self.layers[-1].name.value]:
            written_outputs = Written(list(outputs), first, items=[Written(o, first) for o in outputs])
        name = model["config"].get("name")
        spec = NetworkSpec(self.path, input_written, self.layers, name=name if isinstance(name, str) else None,
                           layout=Written(self.layout.name, first), inputs=inputs_written, outputs=written_outputs,
                           groups=self.groups())
        return spec, self.weights

    def model(self, model: dict, arguments: list[str], prefix: str, group, where: Location, top: bool = False,
              frozen: bool = False) -> list[str]:
        """Read one model (the file's, or one used as a layer, then called on `arguments`);
        returns the values of its outputs."""
        config = model["config"]
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise malformed(f"the model '{config.get('name')}' has no list of layers", where)
        frozen = frozen or config.get("trainable") is False
        groups = self.store.model(group, [l for l in layers if isinstance(l, dict)]) if self.store is not None and group is not None else {}
        if model["class_name"] == "Sequential":
            return self.sequential(model, layers, arguments, prefix, groups, where, top, frozen)
        return self.functional(config, layers, arguments, prefix, groups, where, top, frozen)

    def sequential(self, model, layers, arguments, prefix, groups, where, top, frozen) -> list[str]:
        if not top and len(arguments) != 1:
            raise malformed(f"the Sequential model '{model['config'].get('name')}' is called on {len(arguments)} tensors, "
                            "not one", where)
        rest = [l for l in layers if isinstance(l, dict)]
        if rest and rest[0].get("class_name") == "InputLayer":
            entry, rest = rest[0], rest[1:]
            if top:
                value = self.input_layer(entry, single=True)
            else:
                value = arguments[0]
        elif top:  # built without an InputLayer: the shape it was built for, if any
            shape = (model.get("build_config") or {}).get("input_shape") or model["config"].get("build_input_shape")
            value = self.add_input(INPUT, tuple(shape[1:]) if isinstance(shape, list) else (), where)
        else:
            value = arguments[0]
        for layer in rest:
            value = self.call(layer, [value], {}, 0, prefix, groups, frozen)[0]
        return [value]

    def functional(self, config, layers, arguments, prefix, groups, where, top, frozen) -> list[str]:
        inputs = nested_triples(config.get("input_layers"))
        outputs = nested_triples(config.get("output_layers"))
        if inputs is None or outputs is None or not inputs or not outputs:
            raise malformed("input_layers or output_layers is not [layer, node, tensor] or a list of them (cnncalc reads "
                            "tensors as inputs and outputs, not dictionaries of them)", where)
        by_name = {layer_name(l): l for l in layers if isinstance(l, dict)}
        if not top and len(arguments) != len(inputs):
            raise malformed(f"the model '{config.get('name')}' takes {len(inputs)} inputs but is called on {len(arguments)}", where)
        for index, (name, node, tensor) in enumerate(inputs):
            layer = by_name.get(name)
            if layer is None or layer.get("class_name") != "InputLayer":
                raise malformed(f"the input '{name}' is not an InputLayer of the model", where)
            if top:
                self.tensors[(prefix, name, 0, 0)] = self.input_layer(layer, single=len(inputs) == 1)
            else:
                self.tensors[(prefix, name, 0, 0)] = arguments[index]
        for layer in layers:
            if not isinstance(layer, dict) or layer.get("class_name") == "InputLayer":
                continue
            self.known(layer)
            nodes = layer.get("inbound_nodes")
            if not isinstance(nodes, list):
                raise malformed("the layer has no list of inbound_nodes (how it is called)", self.where(layer), self.label(layer))
            for number, node in enumerate(nodes):
                if not isinstance(node, dict) or not isinstance(node.get("args"), list):
                    raise malformed("an inbound node is not {args: [...], kwargs: {...}} (Keras 2 wrote [[layer, node, tensor, "
                                    "{}]]: load the model in Keras 3 and save it again)", self.where(layer), self.label(layer))
                values = self.call(layer, node["args"], node.get("kwargs") or {}, number, prefix, groups, frozen,
                                   functional=True)
                for index, value in enumerate(values):
                    self.tensors[(prefix, layer_name(layer), number, index)] = value
        found = []
        for name, node, tensor in outputs:
            key = (prefix, name, node, tensor)
            if key not in self.tensors:
                raise malformed(f"the output [{name}, {node}, {tensor}] is made by no layer of the model", where)
            found.append(self.tensors[key])
        return found

    def input_layer(self, layer: dict, single: bool) -> str:
        where = self.where(layer)
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if not isinstance(shape, list) or len(shape) < 2:
            raise malformed(f"the InputLayer has the batch shape {show(shape)}, not a batch axis and 1 to 4 more", where,
                            self.label(layer))
        name = INPUT if single else self.fresh(PIECE.sub("_", layer_name(layer)) or "input")
        return self.add_input(name, tuple(shape[1:]), where)

    def add_input(self, name: str, dims: tuple, where: Location) -> str:
        if self.override is not None:
            if len(self.inputs):
                raise CnnError("--input sets the shape of a model with one input; this one has several", Location("--input", 1, 1))
            if len(dims) != len(self.override) and dims:
                raise CnnError(f"--input has {len(self.override)} axes but the model's input has {len(dims)} besides the batch; "
                               f"allowed: {len(dims)} sizes", Location("--input", 1, 1))
            dims = tuple(self.override)
        if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            shown = "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"
            raise CnnError(f"the input has dynamic or no dimensions {shown}; cnncalc needs fixed sizes: give them with --input "
                           "(without the batch), e.g. --input 224x224x3", where)
        self.inputs[name] = dims
        self.shapes[name] = dims
        self.taken.add(name)
        return name

    def label(self, layer: dict) -> str:
        return f"Keras layer '{layer_name(layer)}' ({layer.get('class_name')})"

    # -- one call of one layer ------------------------------------------------------------
    def call(self, layer: dict, args: list, kwargs: dict, number: int, prefix: str, groups: dict, frozen: bool,
             functional: bool = False) -> list[str]:
        where, label = self.where(layer), self.label(layer)
        class_name = layer.get("class_name")
        module = layer.get("module") or ""
        config = layer.get("config")
        if not isinstance(class_name, str) or not isinstance(module, str) or not isinstance(config, dict) \
                or not isinstance(kwargs, dict) or not layer_name(layer):
            raise malformed("a layer needs a class_name, a module, a name (text) and a config (a mapping)", where, label)
        try:
            sources, constants = self.arguments(args, prefix) if functional else (list(args), [])
            for key, value in kwargs.items():
                if value not in (None, False) and key != "training":
                    raise Unsupported(f"it is called with {key}={show(value) if not isinstance(value, dict) else '...'}; "
                                      "supported: calls on tensors alone")
            if class_name in MODELS:
                if number:
                    raise Unsupported("the nested model is called more than once; cnncalc shares one layer's weights, "
                                      "not a whole model's: call it once")
                return self.model(layer, sources, prefix + layer_name(layer) + ".", groups.get(layer_name(layer)), where,
                                  frozen=frozen or config.get("trainable") is False)
            if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
                return [self.operation(layer, class_name, sources, constants, prefix, number, where)]
            if constants:
                raise Unsupported(f"it is called with constants ({', '.join(map(show, constants))}) beside its tensors; "
                                  "supported: a layer called on tensors")
            cls = self.known(layer)
            if not sources:
                raise Unsupported("it is called on no tensor")
            shapes = tuple(self.shapes[s] for s in sources)
            try:
                layer_type, values = cls.from_keras(config, shapes, self.layout)
            except AttrError as exc:
                raise Unsupported(str(exc)) from None
        except Malformed as exc:
            raise malformed(str(exc), where, label) from None
        except Unsupported as exc:
            raise CnnError(str(exc), where, label) from None
        name = self.fresh(prefix + PIECE.sub("_", layer_name(layer)) if number == 0 else f"{prefix}{layer_name(layer)}_{number}")
        spec = self.add(layer_type.type_name, plain(layer_type, values), sources, name, where)
        if number:  # a layer called again: the first call's weights
            spec.share = Written(self.calls[(prefix, layer_name(layer))], where)
        else:
            self.calls[(prefix, layer_name(layer))] = name
        if frozen or config.get("trainable") is False:
            spec.trainable = Written(False, where)
        layer_object, facts = read_layer(spec, sources, self.shapes, self.layout)
        if self.store is not None and not number:
            arrays = self.store.arrays(groups.get(layer_name(layer)), where)
            tensors = layer_object.keras_tensors(arrays, facts)
            spec.tensors = {k: Written(v, where) for k, v in tensors.items()}
            for key, array in tensors.items():
                self.weights[f"{name}.{key}"] = array
        outputs = facts.outputs or (facts.output_shape,)
        return [name] if len(outputs) == 1 else [f"{name}.{i}" for i in range(len(outputs))]

    def known(self, layer: dict):
        """The cnncalc type of one of Keras's own layer classes (None for a model or an
        operation, read apart), or an error naming the class and what is supported: a
        Lambda (TFOpLambda in Keras 2) or custom layer runs code cnncalc cannot see."""
        class_name, module = layer.get("class_name"), layer.get("module") or ""
        if class_name in MODELS or not isinstance(class_name, str) or not isinstance(module, str):
            return None
        if module.startswith(("keras.src.ops", "keras.ops")):
            return None
        cls = REGISTRY.get(class_name) if class_name not in ("Lambda", "TFOpLambda") else None
        if not module.startswith(("keras.layers", "keras.src.layers")):
            why = f"'{class_name}' from {show(module or None)} is not one of Keras's own layers (a custom layer runs code cnncalc cannot see)"
        elif cls is None:
            code = " (it runs Python code cnncalc cannot see)" if class_name in ("Lambda", "TFOpLambda") else ""
            why = f"Keras's {class_name} has no cnncalc layer type{code}"
        else:
            return cls
        raise CnnError(f"{why}; supported: {supported()}", self.where(layer), self.label(layer))

    def arguments(self, args: list, prefix: str) -> tuple[list[str], list]:
        """The values a call reads (its tensors, in order) and its constants."""
        sources, constants = [], []
        for arg in args:
            items = arg if isinstance(arg, list) else [arg]
            for item in items:
                if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                    history = item.get("config").get("keras_history") if isinstance(item.get("config"), dict) else None
                    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
                            and all(isinstance(h, int) and not isinstance(h, bool) for h in history[1:])):
                        raise Malformed("a tensor without its keras_history [layer, node, tensor]")
                    key = (prefix, *history)
                    if key not in self.tensors:
                        raise Malformed(f"it reads the tensor {show(history)}, which no layer above it makes (the layers "
                                        "are not in order)")
                    value = self.tensors[key]
                    self.check_shape(value, (item.get("config") or {}).get("shape"), history)
                    sources.append(value)
                elif isinstance(item, (int, float)) and not isinstance(item, bool):
                    constants.append(item)
                else:
                    raise Malformed(f"an argument {show(item) if not isinstance(item, dict) else '{...}'} is neither a "
                                    "tensor nor a number")
        return sources, constants

    def check_shape(self, value: str, recorded, history) -> None:
        """Keras's recorded shape of a tensor against cnncalc's (unless --input changed it)."""
        if self.override is not None or not isinstance(recorded, list):
            return
        ours = self.shapes[value]
        theirs = tuple(recorded[1:])
        if len(theirs) != len(ours) or any(t is not None and t != o for t, o in zip(theirs, ours)):
            raise Unsupported(f"Keras recorded the shape {show(list(theirs))} for its input from '{history[0]}', but cnncalc "
                              f"computes {format_shape(ours)} for '{value}'; the file is inconsistent or cnncalc reads a "
                              "layer differently")

    def operation(self, layer: dict, op: str, sources: list[str], constants: list, prefix: str, number: int,
                  where: Location) -> str:
        """A Keras operation on symbolic tensors: with a number, a rescaling (x * a + b);
        of two tensors, a merge."""
        if len(sources) == 2 and not constants and op in ("Add", "Multiply"):
            type_name, values = ("add" if op == "Add" else "multiply"), {}
        elif len(sources) == 1 and len(constants) == 1 and op in OPERATIONS:
            first = self.constant_first(layer, number)
            values = OPERATIONS[op](constants[0], first)
            if values is None:
                raise Unsupported(f"the operation {op} of a number by a tensor; supported: {', '.join(OPERATIONS)} of a tensor "
                                  "and a number, Add and Multiply of two tensors")
            type_name = "rescaling"
        else:
            raise Unsupported(f"the operation {op} on {len(sources)} tensor(s) and {len(constants)} number(s); supported: "
                              f"{', '.join(OPERATIONS)} of a tensor and a number, Add and Multiply of two tensors")
        name = self.fresh(prefix + PIECE.sub("_", layer_name(layer)) if number == 0 else f"{prefix}{layer_name(layer)}_{number}")
        spec = self.add(type_name, values, sources, name, where)
        read_layer(spec, sources, self.shapes, self.layout)
        return name

    def constant_first(self, layer: dict, number: int) -> bool:
        args = layer["inbound_nodes"][number]["args"]
        return bool(args) and isinstance(args[0], (int, float)) and not isinstance(args[0], bool)

    def add(self, type_name: str, values: dict, sources: list[str], name: str, where: Location) -> LayerSpec:
        spec = LayerSpec(Written(type_name, where), where, name=Written(name, where))
        spec.attrs = {k: Written(v, where) for k, v in values.items()}
        # what a layer reads when it says nothing: the layer above, or the only input
        previous = self.layers[-1].name.value if self.layers else (INPUT if len(self.inputs) == 1 else None)
        if sources != [previous]:
            spec.inputs = [Written(s, where) for s in sources]
        self.layers.append(spec)
        return spec

    def fresh(self, name: str) -> str:
        candidate = unused_name(name, self.taken, "layer")
        self.taken.add(candidate)
        return candidate

    def groups(self) -> tuple:
        """Nested models' prefixes as groups for --depth."""
        return prefix_groups([layer.name.value for layer in self.layers], "model")


def plain(cls, values: dict) -> dict:
    """The values as a person would write them: one number for the same value on every axis
    (Keras writes kernel_size [3, 3]), the type's defaults left out. What is computed is
    the same (the parser expands a single value to every axis)."""
    attributes = {attr.name: attr for attr in cls.attributes}
    kept = {}
    for key, value in values.items():
        if isinstance(value, list) and len(value) > 1 and all(v == value[0] and type(v) is type(value[0]) for v in value) \
                and isinstance(value[0], int) and not isinstance(value[0], bool):
            value = value[0]
        attr = attributes.get(key)
        if attr is not None and type(value) is type(attr.default) and value == attr.default:
            continue
        kept[key] = value
    return kept


def nested_triples(value) -> list[tuple] | None:
    """input_layers / output_layers: one [name, node, tensor] or a list of them."""
    def triple(v) -> bool:
        return (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
                and all(isinstance(n, int) and not isinstance(n, bool) for n in v[1:]))

    if triple(value):
        return [tuple(value)]
    if isinstance(value, list) and all(triple(v) for v in value):
        return [tuple(v) for v in value]
    return None


# Keras operations of a tensor x and a number c, as a rescaling x * scale + offset (the
# number first when `first`); None where the result is not one (c / x).
OPERATIONS = {
    "Add": lambda c, first: {"scale": 1.0, "offset": float(c)},
    "Subtract": lambda c, first: {"scale": -1.0, "offset": float(c)} if first else {"scale": 1.0, "offset": -float(c)},
    "Multiply": lambda c, first: {"scale": float(c), "offset": 0.0},
    "Divide": lambda c, first: None if first or c == 0 else {"scale": 1.0 / float(c), "offset": 0.0},
    "TrueDivide": lambda c, first: None if first or c == 0 else {"scale": 1.0 / float(c), "offset": 0.0},
}


def supported() -> str:
    """The Keras layer classes cnncalc reads: the registry's CamelCase spellings."""
    spellings = {s for cls in REGISTRY.types for s in (cls.type_name, *cls.aliases)}
    return ", ".join(sorted(s for s in spellings if s[:1].isupper() and not re.search(r"\dd$", s)))
