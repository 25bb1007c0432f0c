"""A NetworkSpec written back as YAML or as DSL (`cnncalc convert`), blocks kept.

The output is meant to be read: attributes in one flow mapping per layer in YAML, one
line per layer in the DSL, the same spellings the user wrote.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from ..errors import CnnError
from ..graph import LayerSpec, NetworkSpec, Written
from .dsl import Tokenizer, is_word

PLAIN = re.compile(r"^[A-Za-z_$][\w.\-$()* /+%<>=!]*$")


def literal(value: Any) -> str | None:
    """null, true/false and numbers are spelled alike in YAML and the DSL."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and "e" in repr(value) and "." not in repr(value):
        mantissa, exponent = repr(value).split("e")  # 1e-06: YAML 1.1 reads a float only with a dot
        return f"{mantissa}.0e{exponent}"
    if isinstance(value, (int, float)):
        return repr(value)
    return None


# -- YAML ---------------------------------------------------------------------------------------
def yaml_scalar(value: Any) -> str:
    if literal(value) is not None:
        return literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    plain = PLAIN.match(text) or re.fullmatch(r"\d+(x\d+)+", text)
    if plain and yaml.safe_load(f"k: {text}") == {"k": text} and "," not in text and ": " not in text:
        return text
    return yaml_quoted(text)


def yaml_quoted(text: str) -> str:
    """A double-quoted YAML scalar by YAML's own escaping (JSON's surrogate pairs and some of
    its escapes are not YAML)."""
    quoted = yaml.dump(text, Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=2**31)
    return quoted.removesuffix("\n...\n").rstrip("\n")


def yaml_entry(layer: LayerSpec, indent: str) -> list[str]:
    kind = layer.type.value
    extras = []
    if layer.name is not None:
        extras.append(f"name: {yaml_scalar(layer.name.value)}")
    if layer.inputs is not None:
        refs = [r.value for r in layer.inputs]
        extras.append(f"from: {yaml_scalar(refs[0] if len(refs) == 1 else refs)}")
    for key, written in (("trainable", layer.trainable), ("repeat", layer.repeat), ("if", layer.condition),
                         ("else", layer.otherwise), ("share", layer.share), ("first", layer.first), ("last", layer.last)):
        if written is not None:
            extras.append(f"{key}: {yaml_scalar(written.value)}")
    for key, written in layer.tensors.items():
        if key in ("weight", "bias"):
            extras.append(f"{key}: {yaml_scalar(written.value)}")
    others = {k: w.value for k, w in layer.tensors.items() if k not in ("weight", "bias")}
    if others:
        extras.append(f"weights: {yaml_scalar(others)}")
    attrs = {k: w.value for k, w in layer.attrs.items()}
    if layer.primary is not None and attrs:  # YAML has one mapping: the main value joins it
        from ..layers import REGISTRY

        cls = REGISTRY.get(str(kind))
        if cls is not None and cls.primary == "from":
            extras.insert(1 if layer.name is not None else 0, f"from: {yaml_scalar(layer.primary.value)}")
        elif cls is not None and cls.primary is not None:
            attrs = {cls.primary: layer.primary.value, **attrs}
    kind = yaml_scalar(str(kind))  # a name YAML 1.1 reads as a value (no, on, null) is quoted
    if attrs:
        head = f"{kind}: {yaml_scalar(attrs)}"
    elif layer.primary is not None:
        head = f"{kind}: {yaml_scalar(layer.primary.value)}"
    else:
        head = f"{kind}:" if extras else kind
    return [f"{indent}- {head}"] + [f"{indent}  {extra}" for extra in extras]


def to_yaml(spec: NetworkSpec) -> str:
    lines = []
    if spec.name:
        lines.append(f"name: {yaml_scalar(spec.name)}")
    if spec.inputs is not None:
        lines.append("inputs: " + yaml_scalar({name: w.value for name, w in spec.inputs.fields.items()}))
    else:
        lines.append(f"input: {yaml_scalar(spec.input.value)}")
    if spec.outputs is not None:
        lines.append(f"outputs: {yaml_scalar(spec.outputs.value)}")
    if spec.layout is not None:
        lines.append(f"layout: {yaml_scalar(spec.layout.value)}")
    if spec.data is not None:
        lines.append(f"data: {yaml_scalar(spec.data.value)}")
    if spec.blocks:
        lines.append("blocks:")
        for name, block in spec.blocks.items():
            lines.append(f"  {yaml_scalar(name)}:")
            if block.params:
                lines.append(f"    params: {yaml_scalar({k: w.value for k, w in block.params.items()})}")
            lines.append("    layers:")
            for layer in block.layers:
                lines += yaml_entry(layer, "      ")
    lines.append("layers:")
    for layer in spec.layers:
        lines += yaml_entry(layer, "  ")
    return "\n".join(lines) + "\n"


# -- DSL ----------------------------------------------------------------------------------------
def is_expression(text: str) -> bool:
    """$name or $(expression) that the DSL reads back as one parameter token."""
    try:
        tokens = Tokenizer(text, "").run()
    except CnnError:
        return False
    return len(tokens) == 3 and tokens[0].kind == "dollar" and tokens[0].text == text


def dsl_value(value: Any, where: Written | None = None, tensor: bool = False) -> str:
    if literal(value) is not None:
        return literal(value)
    if isinstance(value, list):
        if not tensor and len(value) > 1 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            return "x".join(str(v) for v in value)
        inner = ",".join(dsl_value(v, where, tensor) for v in value)
        return f"[{inner}]" if tensor else f"({inner})"
    text = str(value)
    if is_word(text, name=False) or (text.startswith("$") and is_expression(text)):
        return text
    raise CnnError(
        f"the value {json.dumps(text)} has no DSL spelling (only names, numbers and sizes do); keep this network in YAML",
        where.location if where is not None else None,
    )


def dsl_word(text: str, where, what: str = "name") -> str:
    """A type, block, parameter or attribute name as a DSL word; a name the DSL would read
    as something else (spaces, '|', '#', '=', quotes) is refused, never written as it is."""
    if is_word(text):
        return text
    raise CnnError(
        f"the {what} {json.dumps(text)} has no DSL spelling (a DSL word is letters, digits, '_', '.' and '-'); "
        "keep this network in YAML",
        getattr(where, "location", None),
    )


def main_attribute(layer: LayerSpec) -> str | None:
    """The key (as written) of the attribute the type's main value sets, if given."""
    from ..layers import REGISTRY

    cls = REGISTRY.get(str(layer.type.value))
    if cls is None or cls.primary in (None, "from") or layer.primary is not None:
        return None
    spellings = next((a.spellings for a in cls.attributes if a.name == cls.primary), ())
    return next((key for key in layer.attrs if key in spellings), None)


def dsl_line(layer: LayerSpec) -> str:
    parts = []
    if layer.name is not None:
        parts.append(f"{dsl_word(str(layer.name.value), layer.name, 'layer name')}:")
    parts.append(dsl_word(str(layer.type.value), layer.type, "layer type"))
    main = main_attribute(layer)
    if layer.primary is not None:
        parts.append(dsl_value(layer.primary.value, layer.primary))
    elif main is not None:
        parts.append(dsl_value(layer.attrs[main].value, layer.attrs[main]))
    for key, written in layer.attrs.items():
        if key != main:
            parts.append(f"{dsl_word(key, written, 'attribute')}={dsl_value(written.value, written)}")
    if layer.inputs is not None:
        parts.append("from=" + ",".join(dsl_value(r.value, r) for r in layer.inputs))
    for key, written in (("trainable", layer.trainable), ("repeat", layer.repeat), ("if", layer.condition),
                         ("else", layer.otherwise), ("share", layer.share)):
        if written is not None:
            parts.append(f"{key}={dsl_value(written.value, written)}")
    for which in ("first", "last"):
        if getattr(layer, which) is not None:
            parts += [f"{which}.{dsl_word(key, w, 'parameter')}={dsl_value(w.value, w)}" for key, w in getattr(layer, which).fields.items()]
    for key, written in layer.tensors.items():
        if key not in ("weight", "bias"):
            raise CnnError(f"the tensor '{key}' has no DSL spelling (only weight= and bias=); keep this network in YAML", written.location)
        parts.append(f"{key}={dsl_value(written.value, written, tensor=True)}")
    return " ".join(parts)


def dsl_shape(written: Written) -> str:
    value = written.value
    return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)


def to_dsl(spec: NetworkSpec) -> str:
    lines = []
    if spec.name:
        lines.append(f"name {dsl_word(spec.name, spec.where, 'network name')}")
    layout = " channels_last" if spec.layout is not None and spec.layout.value == "channels_last" else ""
    if spec.inputs is not None:
        for name, shape in spec.inputs.fields.items():
            lines.append(f"input {dsl_word(name, shape, 'input name')} {dsl_shape(shape)}{layout}")
    else:
        head = f"input {dsl_shape(spec.input)}{layout}"
        if spec.data is not None:
            head += f" data={dsl_value(spec.data.value, spec.data, tensor=True)}"
        lines.append(head)
    if spec.outputs is not None:
        refs = spec.outputs.items if spec.outputs.items is not None else [spec.outputs]
        lines.append("outputs " + ",".join(dsl_value(ref.value, ref) for ref in refs))
    for name, block in spec.blocks.items():
        params = " ".join(f"{dsl_word(key, w, 'parameter')}={dsl_value(w.value, w)}" for key, w in block.params.items())
        lines.append(f"block {dsl_word(name, block, 'block name')}" + (f" {params}" if params else ""))
        lines += [f"  {dsl_line(layer)}" for layer in block.layers]
        lines.append("end")
    lines += [dsl_line(layer) for layer in spec.layers]
    return "\n".join(lines) + "\n"
