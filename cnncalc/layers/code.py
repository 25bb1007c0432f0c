"""What a layer becomes in PyTorch or Keras code: small records the exporter renders.

A layer's `torch()` and `keras()` methods return these; they hold plain values, so the
exporter can compare the same layer across block instances and turn the values that
differ into constructor parameters. Nothing here formats a whole module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Where a PyTorch expression wants its input tensors (see export.py): in PyTorch's own
# (N, C, *spatial) order, in the file's layout, or either (elementwise).
CHANNELS_FIRST = "channels_first"
FILE = "file"
ANY = "any"


@dataclass(frozen=True)
class Raw:
    """Code written as it is (a class name passed as an argument), not a literal value."""

    code: str

    def __repr__(self) -> str:
        return self.code


@dataclass(frozen=True)
class Call:
    """`callee(*args, **kwargs)` with literal values (ints, floats, strings, tuples, Raw)."""

    callee: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def arguments(self) -> list[tuple[str | None, Any]]:
        return [(None, value) for value in self.args] + list(self.kwargs)


def call(callee: str, *args: Any, **kwargs: Any) -> Call:
    """A Call; arguments whose value is None are left out (the framework's default);
    positional ones only at the end."""
    while args and args[-1] is None:
        args = args[:-1]
    return Call(callee, args, tuple((k, v) for k, v in kwargs.items() if v is not None))


@dataclass(frozen=True)
class TorchOp:
    """A layer in PyTorch: an optional module, and the forward expression using it.

    `expression` is a template: {m} is the module, {x} the first input, {x0}, {x1}, ...
    each input and {xs} all of them separated by commas.
    """

    module: Call | None
    expression: str = "{m}({x})"
    wants: str = ANY


@dataclass(frozen=True)
class KerasOp:
    """A layer in Keras: one or more layers applied one after another. The one with the
    suffix "" carries the layer's name and its weights; the others are named with their
    suffix (`conv1_pad`)."""

    layers: tuple[tuple[str, Call], ...]  # (name suffix, constructor)


def single(value: tuple) -> Any:
    """(3, 3) -> 3 where all values agree, as people write kernel_size=3."""
    return value[0] if len(set(value)) == 1 else tuple(value)


def torch_pad(pairs) -> tuple[int, ...]:
    """[(before, after) per spatial dim] in F.pad's order: last dimension first."""
    flat: list[int] = []
    for before, after in reversed(list(pairs)):
        flat += [before, after]
    return tuple(flat)
