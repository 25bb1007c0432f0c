"""Layers joining several inputs: add, multiply (both broadcasting, as in PyTorch), concat.

Their primary value is the list of input layers (`add: [conv3, input]`). FLOPs: one per
output element for each input after the first.
"""

from __future__ import annotations

from .attrs import Attr, Axis
from ..errors import format_shape
from .lazy import np, numeric
from .activation import sample_axis
from .code import ANY, CHANNELS_FIRST, FILE, KerasOp, TorchOp, call
from .base import MERGE, REGISTRY, UNDEFINED, Facts, Grads, Keep, Layer, Layout, Saved, Shape, nbytes, product



class Merge(Layer):
    family = "merge"
    primary = "from"  # the primary value names the inputs
    arity = (2, None)

    def inputs_text(self, shapes: tuple[Shape, ...]) -> str:
        return ", ".join(f"'{name}' gives {format_shape(shape)}" for name, shape in zip(self.sources, shapes))


class Elementwise(Merge):
    """Combines inputs value by value, broadcasting size-1 axes (PyTorch and NumPy rules)."""

    flops_rule = "(inputs - 1) per output element"

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
        out = []
        for sizes in zip(*padded):
            wide = {n for n in sizes if n != 1}
            if len(wide) > 1:
                raise self.fail(
                    f"the input shapes do not match: {self.inputs_text(shapes)}; allowed: equal shapes, or size 1 "
                    "where one input is broadcast (e.g. (C, 1, 1) for a squeeze-excitation scale)"
                )
            out.append(wide.pop() if wide else 1)
        out_shape = tuple(out)
        return Facts(out_shape, flops=(len(shapes) - 1) * product(out_shape), field=MERGE)

    takes_epilogue = True  # a residual add's ReLU, applied slab by slab as the sum is made

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        rank = max(x.ndim for x in inputs)
        aligned = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in inputs]
        result = aligned[0]
        for x in aligned[1:]:
            combine = np.multiply if self.operation == "multiply" else np.add
            fits = owned and result is inputs[0] and result.shape == np.broadcast_shapes(result.shape, x.shape)
            result = combine(result, x, out=result if fits else None)
        return result

    def forward_fused(self, inputs: list, params: dict, layout: Layout, epilogue, owned: bool = False):
        """The combination made slab by slab along the axis after the batch, each slab
        followed by `epilogue` while it is in the cache, on the kernels' threads (into the
        first input when nothing else reads it); several inputs broadcast as forward does."""
        rank = max(x.ndim for x in inputs)
        if rank < 2:
            return Layer.forward_fused(self, inputs, params, layout, epilogue, owned)
        aligned = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in inputs]
        shape = np.broadcast_shapes(*(x.shape for x in aligned))
        result = inputs[0] if owned and aligned[0].shape == shape else np.empty(shape, dtype=np.result_type(*aligned))
        target = result.reshape(shape)
        combine = np.multiply if self.operation == "multiply" else np.add
        step = max(1, numeric.EPILOGUE_SLAB // max(1, target[:, :1].nbytes))

        def slab(start):
            part = slice(start, start + step)
            pieces = [x[:, part] if x.shape[1] != 1 else x for x in aligned]
            combine(pieces[0], pieces[1], out=target[:, part])
            for x in pieces[2:]:
                combine(target[:, part], x, out=target[:, part])
            epilogue(target[:, part])

        numeric.parallel(slab, range(0, shape[1], step), 3 * target.nbytes)
        return result

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """From a third input on, the running result beside the next one."""
        return nbytes(out, batch, itemsize) if len(shapes) > 2 else 0

    def shares_input(self) -> bool:
        """An input nothing else reads takes the result in place."""
        return True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A sum keeps nothing. A product a * b * c is (a * b) * c: each MulBackward keeps
        one factor for the other's gradient, when the other needs one (a * b, a tensor of
        its own, for c's)."""
        if self.operation != "multiply":
            return ()
        kept: list[Saved] = []
        left_grad, left_shape = grads.inputs[0], shapes[0]
        for index in range(1, len(shapes)):
            if grads.inputs[index]:
                kept.append(Saved(Keep.INPUT, index=0) if index == 1 else Saved(Keep.NEW, product(left_shape)))
            if left_grad:
                kept.append(Saved(Keep.INPUT, index=index))
            left_grad = left_grad or grads.inputs[index]
            left_shape = broadcast(left_shape, shapes[index])
        return tuple(kept)
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        y = inputs[0]
        for x in inputs[1:]:
            y = graph.op("Mul" if self.operation == "multiply" else "Add", [y, x])
        return y

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        """a + b (or a * b) broadcasts from the last axis, so inputs of different ranks
        must be in the file's layout; equal ranks work in either."""
        symbol = " * " if self.operation == "multiply" else " + "
        same_rank = len({len(shape) for shape in shapes}) == 1
        return TorchOp(None, symbol.join(f"{{x{i}}}" for i in range(len(shapes))), ANY if same_rank else FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Multiply" if self.operation == "multiply" else "layers.Add")),))


@REGISTRY.register("concat", "Concatenate", "cat", "concatenate")
class Concat(Merge):
    """Joins inputs along an axis: the channels by default."""

    summary = "joins inputs along an axis (channels by default)"
    attributes = (Attr("axis", Axis(), None, ("dim",), "axis to join along (default: the channels; 0 is the batch)"),)

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        rank = len(shapes[0])
        if self["axis"] is None:
            axis = layout.channel_axis(rank)
        else:
            axis = sample_axis(self, "axis", rank)
        described = "the channels" if axis == layout.channel_axis(rank) else f"axis {axis + 1}"
        for shape in shapes:
            same_rank = len(shape) == rank
            if not same_rank or any(a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != axis):
                raise self.fail(
                    f"the input shapes do not match: {self.inputs_text(shapes)}; allowed: equal sizes except "
                    f"along {described}"
                )
        out = list(shapes[0])
        out[axis] = sum(shape[axis] for shape in shapes)
        field = MERGE if axis == layout.channel_axis(rank) else UNDEFINED
        return Facts(tuple(out), field=field)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        rank = inputs[0].ndim - 1
        axis = layout.channel_axis(rank) if self["axis"] is None else sample_axis(self, "axis", rank)
        return np.concatenate(inputs, axis=axis + 1)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """Copied straight into the output."""
        return 0

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """CatBackward needs only sizes."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        rank = len(shapes[0])
        axis = layout.channel_axis(rank) if self["axis"] is None else sample_axis(self, "axis", rank)
        return graph.op("Concat", list(inputs), axis=axis + 1)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        if self["axis"] is None:
            return TorchOp(None, "torch.cat([{xs}], dim=1)", CHANNELS_FIRST)
        return TorchOp(None, f"torch.cat([{{xs}}], dim={self['axis']})", FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        rank = len(shapes[0])
        axis = self["axis"] if self["axis"] is not None else layout.channel_axis(rank) + 1
        axis = axis if axis < 0 else axis - rank - 1  # Keras counts the batch too; -1 is the last
        return KerasOp((("", call("layers.Concatenate", axis=axis if axis != -1 else None)),))


def broadcast(first: Shape, second: Shape) -> Shape:
    """The shape of a broadcast result (aligned from the last axis)."""
    rank = max(len(first), len(second))
    a, b = (1,) * (rank - len(first)) + tuple(first), (1,) * (rank - len(second)) + tuple(second)
    return tuple(max(x, y) for x, y in zip(a, b))


REGISTRY.variant(Elementwise, "add", "Add", "sum", summary="sum of the inputs (broadcasting)", operation="add")
REGISTRY.variant(
    Elementwise, "multiply", "Multiply", "mul", summary="product of the inputs (broadcasting)", operation="multiply"
)
