"""Layers with several outputs: split (torch.split with a list of sizes) and chunk
(torch.chunk into equal parts). Output i is read as NAME.i. Both cut the channels by
default, cost nothing, and pass the receptive field through.
"""

from __future__ import annotations

import abc

from .activation import sample_axis
from .attrs import Attr, Axis, AttrError, Int, Kind, show
from .base import PASS, REGISTRY, UNDEFINED, Facts, Grads, Layer, Layout, Saved, Shape
from .code import FILE, KerasOp, TorchOp, call
from .lazy import np


class Sizes(Kind):
    """The size of each part, two or more (torch.split's list)."""

    describe = "a list of two or more positive integers, the size of each part"

    def convert(self, value):
        if isinstance(value, str) and "x" in value:  # the DSL's 8x8
            value = [int(part) if part.isdigit() else part for part in value.split("x")]
        if not isinstance(value, list) or len(value) < 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
        ):
            raise AttrError(f"expected {self.describe}")
        return tuple(value)


AXIS = Attr("axis", Axis(), None, ("dim",), "axis to cut (default: the channels; 0 is the batch)")


class Cut(Layer):
    """Cuts its input along one axis into parts, each an output of its own."""

    family = "shape"
    flops_rule = "0 (views of the input)"

    def axis(self, rank: int, layout: Layout) -> int:
        """The axis as an index into the sample shape (the channels by default)."""
        return layout.channel_axis(rank) if self["axis"] is None else sample_axis(self, "axis", rank)

    @abc.abstractmethod
    def parts(self, size: int, shape: Shape) -> tuple[int, ...]:
        """The size of each part along the axis, for an input of `size` along it."""

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        axis = self.axis(len(shape), layout)
        outputs = []
        for part in self.parts(shape[axis], shape):
            out = list(shape)
            out[axis] = part
            outputs.append(tuple(out))
        field = PASS if axis == layout.channel_axis(len(shape)) or len(shape) == 1 else UNDEFINED
        return Facts(outputs[0], field=field, outputs=tuple(outputs))

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        axis = self.axis(x.ndim - 1, layout)
        ends = np.cumsum(self.parts(x.shape[axis + 1], x.shape[1:]))[:-1]
        return tuple(np.split(x, ends, axis=axis + 1))

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """Views of the input."""
        return 0

    def shares_input(self) -> bool:
        return True

    torch_view = True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Views of the input: nothing kept."""
        return ()

    def torch_axis(self, rank: int, layout: Layout) -> int:
        return self.axis(rank, layout) + 1

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        shape = shapes[0]
        axis = self.axis(len(shape), layout)
        parts = self.parts(shape[axis], shape)
        return graph.op("Split", [inputs[0], graph.const(list(parts))], outputs=len(parts), axis=axis + 1)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        shape = shapes[0]
        sizes = self.parts(shape[self.axis(len(shape), layout)], shape)
        return TorchOp(None, f"torch.split({{x}}, {list(sizes)!r}, dim={self.torch_axis(len(shape), layout)})", FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        shape = shapes[0]
        sizes = self.parts(shape[self.axis(len(shape), layout)], shape)
        ends = [int(v) for v in np.cumsum(sizes)[:-1]]
        axis = self.torch_axis(len(shape), layout)
        return KerasOp((("", call("SplitLayer", ends, axis=axis)),))


@REGISTRY.register("split", "Split")
class Split(Cut):
    """Parts of the given sizes, which add up to the input's size along the axis (torch.split)."""

    primary = "sizes"
    summary = "cuts the channels (or an axis) into parts of given sizes; output i is NAME.i"
    attributes = (Attr("sizes", Sizes(), None, ("split_size_or_sections",), "the size of each part"), AXIS)

    def check(self) -> None:
        if self["sizes"] is None:
            raise self.fail("missing the sizes of the parts; allowed: e.g. split: [8, 8]")

    def output_count(self) -> int:
        return len(self["sizes"])

    def parts(self, size: int, shape: Shape) -> tuple[int, ...]:
        sizes = self["sizes"]
        if sum(sizes) != size:
            raise self.fail(
                f"the parts {show(list(sizes))} add up to {sum(sizes)}, but the input {self.received(shape)} has "
                f"{size} along the axis cut; allowed: sizes adding up to {size}",
                "sizes",
            )
        return sizes


@REGISTRY.register("chunk", "Chunk")
class Chunk(Cut):
    """N equal parts (torch.chunk); the size along the axis must divide by N, since
    torch.chunk would otherwise return unequal parts, or fewer than N."""

    primary = "chunks"
    summary = "cuts the channels (or an axis) into N equal parts; output i is NAME.i"
    attributes = (Attr("chunks", Int(2), None, ("n",), "the number of equal parts (at least 2)"), AXIS)

    def check(self) -> None:
        if self["chunks"] is None:
            raise self.fail("missing the number of parts; allowed: e.g. chunk: 2")

    def output_count(self) -> int:
        return self["chunks"]

    def parts(self, size: int, shape: Shape) -> tuple[int, ...]:
        chunks = self["chunks"]
        if size % chunks:
            raise self.fail(
                f"{size} along the axis cut does not divide into {chunks} equal parts (input {self.received(shape)}); "
                f"torch.chunk would return unequal parts; allowed: a number of parts dividing {size}, or split with "
                "the sizes written out",
                "chunks",
            )
        return (size // chunks,) * chunks

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(None, f"torch.chunk({{x}}, {self['chunks']}, dim={self.torch_axis(len(shapes[0]), layout)})", FILE)
