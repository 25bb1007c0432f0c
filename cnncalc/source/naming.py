"""Layer names for models read from other formats (ONNX, Keras), which may repeat a name or
use the one cnncalc keeps for the network's input."""

from __future__ import annotations

from ..graph import INPUT
from .blocks import Group


def unused_name(name: str, taken: set[str], default: str) -> str:
    """`name` (or `default` when empty; 'input_' for the input's own name), with _1, _2, ...
    appended until it is not in `taken`. Takes nothing."""
    name = "input_" if name == INPUT else (name or default)
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def prefix_groups(names: list[str], kind: str) -> tuple[Group, ...]:
    """The dotted prefixes of these layer names that are no layer's own name ('layer1' of
    'layer1.0.conv1'), as nested groups of this kind for --depth, at their depth."""
    taken = set(names)
    seen: dict[str, int] = {}
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in taken:
                seen.setdefault(prefix, i)
    return tuple(Group(prefix, kind, level) for prefix, level in seen.items())
