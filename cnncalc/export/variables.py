"""Python variables holding the graph's values, in a forward method or in build_model()."""

from __future__ import annotations

from .code import Namespace


class Variables:
    """A value's variable is handed on to the layer that reads it last (x = conv(x)); new
    ones are named x or out where free, else after the layer (`Namespace.fresh`)."""

    def __init__(self, initial: dict[str, str], uses: dict[str, int], namespace: Namespace):
        self.names = dict(initial)
        self.uses = dict(uses)
        self.namespace = namespace
        for name in initial.values():
            namespace.taken.add(name)

    def of(self, value: str) -> str:
        return self.names[value]

    def take(self, sources, value: str) -> str:
        """The variable for `value`, computed from `sources` (each read once more)."""
        for source in sources:
            self.uses[source] -= 1
        first = sources[0] if sources else None
        if first is not None and self.uses[first] == 0 and list(sources).count(first) == 1 and self.names[first] != "inputs":
            name = self.names[first]
        else:
            live = {self.names[v] for v, n in self.uses.items() if n > 0 and v in self.names}
            name = next((n for n in ("x", "out") if n not in live), None) or self.namespace.fresh(value)
        self.names[value] = name
        self.namespace.taken.add(name)
        return name

    def fresh(self, value: str) -> str:
        """A new variable of its own for `value` (a second result of a block)."""
        self.names[value] = self.namespace.fresh(value)
        return self.names[value]
