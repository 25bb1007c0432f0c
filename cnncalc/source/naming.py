"""Layer names for models read from other formats (ONNX, Keras), which may repeat a name or
use the one cnncalc keeps for the network's input."""

from __future__ import annotations

from ..graph import INPUT


def unused_name(name: str, taken: set[str], default: str) -> str:
    """`name` (or `default` when empty; 'input_' for the input's own name), with _1, _2, ...
    appended until it is not in `taken`. Takes nothing."""
    name = "input_" if name == INPUT else (name or default)
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate
