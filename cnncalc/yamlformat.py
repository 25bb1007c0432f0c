"""The YAML format (CONTRACT.md §2) read into a NetworkSpec, every value located."""

from __future__ import annotations

from .attrs import show
from .errors import CnnError, did_you_mean
from .layers import REGISTRY
from .network import LayerSpec, NetworkSpec, Written
from .yamlsource import Node, load

TOP_KEYS = ("name", "input", "layout", "layers")
ENTRY_KEYS = ("name", "from", "trainable")


def written(node: Node) -> Written:
    items = [written(item) for item in node.value] if node.is_sequence else None
    return Written(node.plain(), node.location, node.key_location, items)


def read(text: str, path: str) -> NetworkSpec:
    root = load(text, path)
    if not root.is_mapping:
        raise CnnError(
            f"expected a mapping with 'input' and 'layers' at the top of the file; received {kind_of(root)}",
            root.location,
        )
    top = root.value
    for key, node in top.items():
        if key not in TOP_KEYS:
            raise CnnError(
                f"unknown top-level key '{key}'{did_you_mean(key, TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}",
                node.key_location,
            )
    for required in ("input", "layers"):
        if required not in top:
            raise CnnError(f"missing the top-level key '{required}'", root.location)
    layers = top["layers"]
    if not layers.is_sequence:
        raise CnnError(f"'layers' must be a list of layers; received {kind_of(layers)}", layers.location)
    name = top.get("name")
    if name is not None and not isinstance(name.value, (str, int, float)):
        raise CnnError(f"'name' must be text; received {kind_of(name)}", name.location)
    return NetworkSpec(
        path=path,
        input=written(top["input"]),
        layers=[layer_spec(entry) for entry in layers.value],
        name=None if name is None else str(name.value),
        layout=written(top["layout"]) if "layout" in top else None,
    )


def kind_of(node: Node) -> str:
    if node.is_mapping:
        return "a mapping"
    if node.is_sequence:
        return "a list"
    return show(node.value)


def layer_spec(entry: Node) -> LayerSpec:
    if isinstance(entry.value, str):
        return LayerSpec(type=Written(entry.value, entry.location), location=entry.location)
    if not entry.is_mapping or not entry.value:
        raise CnnError(
            f"a layer must be a type name (- relu) or a mapping (- conv2d: {{out: 32, kernel: 3}}); "
            f"received {kind_of(entry)}",
            entry.location,
        )
    candidates = [key for key in entry.value if key not in ENTRY_KEYS]
    if not candidates:
        raise CnnError(
            f"this layer has no type; allowed beside {', '.join(ENTRY_KEYS)}: one type key such as conv2d",
            entry.location,
        )
    known = [key for key in candidates if REGISTRY.get(key) is not None]
    type_key = known[0] if known else candidates[0]
    for key in candidates:
        if key != type_key:
            node = entry.value[key]
            raise CnnError(
                f"unexpected key '{key}' beside the type '{type_key}'; attributes go inside the type's mapping, "
                f"e.g. {type_key}: {{{key}: {show(node.plain())}}}; allowed beside it: {', '.join(ENTRY_KEYS)}",
                node.key_location,
            )
    type_node = entry.value[type_key]
    spec = LayerSpec(type=Written(type_key, type_node.key_location), location=type_node.key_location)
    if type_node.is_mapping:
        spec.attrs = {key: written(value) for key, value in type_node.value.items()}
    elif type_node.value is not None:
        spec.primary = written(type_node)
    extras = entry.value
    if "name" in extras:
        spec.name = written(extras["name"])
    if "trainable" in extras:
        spec.trainable = written(extras["trainable"])
    if "from" in extras:
        source = extras["from"]
        spec.inputs = [written(item) for item in source.value] if source.is_sequence else [written(source)]
        if not spec.inputs:
            raise CnnError("'from' is an empty list; allowed: a layer name or a list of them", source.location)
    return spec
