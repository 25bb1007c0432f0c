"""The YAML format (CONTRACT.md §2) read into a NetworkSpec, every value located."""

from __future__ import annotations

from ..layers.attrs import show
from ..errors import CnnError, did_you_mean
from ..layers import REGISTRY
from .blocks import BlockSpec
from ..graph import LayerSpec, NetworkSpec, Written
from .yamltree import Node, load

TOP_KEYS = ("name", "input", "inputs", "outputs", "layout", "data", "blocks", "layers")
ENTRY_KEYS = ("name", "from", "trainable", "repeat", "first", "last", "if", "else", "share", "weight", "bias", "weights")
BLOCK_KEYS = ("params", "layers")
# Entry keys read as they are, and the LayerSpec field each fills.
ENTRY_FIELDS = {"name": "name", "trainable": "trainable", "repeat": "repeat", "first": "first", "last": "last",
                "if": "condition", "else": "otherwise", "share": "share"}


def written(node: Node) -> Written:
    items = [written(item) for item in node.value] if node.is_sequence else None
    fields = {key: written(item) for key, item in node.value.items()} if node.is_mapping else None
    return Written(node.plain(), node.location, node.key_location, items, fields)


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
    if "input" in top and "inputs" in top:
        raise CnnError(
            "both 'input' and 'inputs' are given; allowed: 'input' for one input, or 'inputs' naming several",
            top["inputs"].key_location,
        )
    for required in ("input" if "inputs" not in top else "inputs", "layers"):
        if required not in top:
            raise CnnError(f"missing the top-level key '{required}'", root.location)
    blocks = read_blocks(top["blocks"]) if "blocks" in top else {}
    names = set(blocks)
    return NetworkSpec(
        path=path,
        input=written(top["input"]) if "input" in top else None,
        inputs=written(top["inputs"]) if "inputs" in top else None,
        outputs=written(top["outputs"]) if "outputs" in top else None,
        layers=read_layers(top["layers"], names, "'layers'"),
        name=read_name(top.get("name")),
        layout=written(top["layout"]) if "layout" in top else None,
        data=written(top["data"]) if "data" in top else None,
        blocks=blocks,
    )


def read_name(node: Node | None) -> str | None:
    if node is None:
        return None
    if not isinstance(node.value, (str, int, float)):
        raise CnnError(f"'name' must be text; received {kind_of(node)}", node.location)
    return str(node.value)


def read_layers(node: Node, blocks: set[str], what: str) -> list[LayerSpec]:
    if not node.is_sequence:
        raise CnnError(f"{what} must be a list of layers; received {kind_of(node)}", node.location)
    return [layer_spec(entry, blocks) for entry in node.value]


def read_blocks(node: Node) -> dict[str, BlockSpec]:
    if not node.is_mapping:
        raise CnnError(f"'blocks' must be a mapping of block names to blocks; received {kind_of(node)}", node.location)
    names = set(node.value)
    blocks = {}
    for name, body in node.value.items():
        if not body.is_mapping:
            raise CnnError(f"block '{name}' must be a mapping with 'params' and 'layers'; received {kind_of(body)}", body.location)
        for key, item in body.value.items():
            if key not in BLOCK_KEYS:
                raise CnnError(
                    f"unknown key '{key}' in block '{name}'{did_you_mean(key, BLOCK_KEYS)}; allowed: params, layers",
                    item.key_location,
                )
        if "layers" not in body.value:
            raise CnnError(f"block '{name}' has no 'layers'", body.key_location or body.location)
        params: dict[str, Written] = {}
        if "params" in body.value:
            spec = body.value["params"]
            if not spec.is_mapping:
                raise CnnError(f"'params' of block '{name}' must be a mapping of names to defaults (null: required)", spec.location)
            for key, item in spec.value.items():
                if not key.isidentifier():
                    raise CnnError(f"parameter name '{key}' must be a word (letters, digits, _)", item.key_location)
                params[key] = written(item)
        blocks[name] = BlockSpec(name, body.key_location, params, read_layers(body.value["layers"], names, f"the layers of block '{name}'"))
    return blocks


def kind_of(node: Node) -> str:
    if node.is_mapping:
        return "a mapping"
    if node.is_sequence:
        return "a list"
    return show(node.value)


def layer_spec(entry: Node, blocks: set[str] = frozenset()) -> LayerSpec:
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
    known = [key for key in candidates if REGISTRY.get(key) is not None or key in blocks]
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
    for key, field_name in ENTRY_FIELDS.items():
        if key in extras:
            setattr(spec, field_name, written(extras[key]))
    spec.tensors = {key: written(extras[key]) for key in ("weight", "bias") if key in extras}
    if "weights" in extras:
        tensors = extras["weights"]
        if not tensors.is_mapping:
            raise CnnError("'weights' must map tensor names (weight, bias, running_mean, ...) to values", tensors.location)
        spec.tensors.update({key: written(value) for key, value in tensors.value.items()})
    if "from" in extras:
        source = extras["from"]
        spec.inputs = [written(item) for item in source.value] if source.is_sequence else [written(source)]
        if not spec.inputs:
            raise CnnError("'from' is an empty list; allowed: a layer name or a list of them", source.location)
    return spec
