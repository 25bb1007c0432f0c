"""`cnncalc layers`: the registry as a table, or one type in detail."""

from __future__ import annotations

import json

from ..layers.attrs import show
from ..errors import CnnError
from ..layers import REGISTRY


def default_text(attr) -> str:
    return "required" if attr.required else ("-" if attr.default is None else show(attr.default).strip("'"))


def type_json(cls) -> dict:
    return {
        "type": cls.type_name,
        "aliases": list(cls.aliases),
        "family": cls.family,
        "summary": cls.summary or (cls.__doc__ or "").strip().splitlines()[0],
        "primary": cls.primary,
        "inputs": {"min": cls.arity[0], "max": cls.arity[1]},
        "flops": cls.flops_rule,
        "attributes": [
            {"name": a.name, "aliases": list(a.aliases), "default": None if a.required else a.default,
             "required": a.required, "allowed": a.kind.describe, "doc": a.doc}
            for a in cls.attributes
        ],
    }


def render(name: str | None, fmt: str) -> str:
    if name is not None:
        cls = REGISTRY.get(name)
        if cls is None:
            raise CnnError(f"unknown layer type '{name}'{REGISTRY.suggest(name)}")
        if fmt == "json":
            return json.dumps(type_json(cls), indent=2) + "\n"
        return detail(cls)
    if fmt == "json":
        return json.dumps([type_json(cls) for cls in REGISTRY.types], indent=2) + "\n"
    lines: list[str] = []
    families = sorted({cls.family for cls in REGISTRY.types})
    for family in families:
        lines.append(f"{family}:")
        for cls in (c for c in REGISTRY.types if c.family == family):
            attrs = ", ".join(f"{a.name}={default_text(a)}" for a in cls.attributes)
            primary = f" [{cls.primary}]" if cls.primary else ""
            lines.append(f"  {cls.type_name}{primary}  {attrs}".rstrip())
    lines.append("")
    lines.append("[x]: the attribute a value after the type sets (conv2d: 32 means out=32).")
    lines.append("'cnncalc layers TYPE' shows a type's aliases, attributes and cost rule.")
    return "\n".join(lines) + "\n"


def detail(cls) -> str:
    info = type_json(cls)
    lines = [f"{cls.type_name}: {info['summary']}"]
    if cls.aliases:
        lines.append(f"  also written: {', '.join(cls.aliases)}")
    if cls.primary:
        what = "the input layer names" if cls.primary == "from" else f"'{cls.primary}'"
        lines.append(f"  value after the type: {what}")
    lines.append(f"  FLOPs: {cls.flops_rule}")
    if cls.attributes:
        lines.append("  attributes:")
    for a in cls.attributes:
        aliases = f" (also {', '.join(a.aliases)})" if a.aliases else ""
        lines.append(f"    {a.name}{aliases} = {default_text(a)}: {a.doc}; {a.kind.describe}")
    return "\n".join(lines) + "\n"
