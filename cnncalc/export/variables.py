"""Python variables holding the graph's values, in a forward method or in build_model()."""

from __future__ import annotations

from typing import Iterable

from .code import Namespace


class Variables:
    """A value's variable is handed on to the layer that reads it last (x = conv(x)); new
    ones are named x or out where free, else after the layer (`Namespace.fresh`). Variables
    named after what they hold (`named`: the inputs of a network with several, the parts of
    a split) are not handed on; those in `kept` (build_model()'s inputs, its shared layers)
    are neither handed on nor taken again."""

    def __init__(
        self,
        initial: dict[str, str],
        uses: dict[str, int],
        namespace: Namespace,
        kept: Iterable[str] = ("inputs",),
        named: Iterable[str] = (),
    ):
        self.names = dict(initial)
        self.uses = dict(uses)
        self.namespace = namespace
        self.kept = set(kept)
        self.named = set(named) | self.kept
        for name in initial.values():
            namespace.taken.add(name)

    def of(self, value: str) -> str:
        return self.names[value]

    def keep(self, name: str) -> str:
        """A variable that is never handed on nor reused (a Keras layer called twice)."""
        self.kept.add(name)
        self.named.add(name)
        return name

    def take(self, sources, value: str, text: str | None = None) -> str:
        """The variable for `value`, computed from `sources` (each read once more); a new
        one is named after `text` when given."""
        self.read(sources)
        first = sources[0] if sources else None
        if first is not None and self.uses[first] == 0 and list(sources).count(first) == 1 and self.names[first] not in self.named:
            name = self.names[first]
        else:
            live = {self.names[v] for v, n in self.uses.items() if n > 0 and v in self.names} | self.kept
            name = next((n for n in ("x", "out") if n not in live), None) or self.namespace.fresh(text or value)
        self.names[value] = name
        self.namespace.taken.add(name)
        return name

    def read(self, sources) -> None:
        """The sources are read once more."""
        for source in sources:
            self.uses[source] -= 1

    def fresh(self, value: str, text: str | None = None) -> str:
        """A new variable of its own for `value` (a second result of a block), named after
        `text` when given."""
        self.names[value] = self.namespace.fresh(text or value)
        return self.names[value]

    def part(self, value: str, text: str) -> str:
        """A variable named after `text` for one output of a layer with several (s_0), not
        handed on: it keeps meaning that output."""
        self.named.add(self.fresh(value, text))
        return self.names[value]
