"""Layers that move values without learning: flatten, reshape, permute, dropout, pad, crop,
upsample, pixel shuffle, channel shuffle. None has parameters; only interpolating upsampling
costs FLOPs.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .attrs import Attr, AttrError, Axis, Choice, Flag, Int, Ints, Kind, LayerName, Number, Numbers, Padding, Shape as ShapeKind, show
from ..errors import format_shape
from .windows import Taps, constant_taps
from .lazy import numeric
from .activation import sample_axis
from .code import CHANNELS_FIRST, FILE, KerasOp, TorchOp, call, single, torch_pad
from .conv import channels_last_1d, keras_crop, keras_format, keras_pad
from .base import FLATTEN, GLOBAL, PASS, REGISTRY, SPATIAL_NAMES, UNDEFINED, Facts, Grads, Keep, Layer, Layout, Saved, Shape, channels_back, channels_first, nbytes, product


@REGISTRY.register("flatten", "Flatten")
class Flatten(Layer):
    """Joins axes start_dim..end_dim into one (all of a sample's axes by default)."""

    family = "shape"
    summary = "joins axes into one (PyTorch start_dim/end_dim; Keras: all)"
    attributes = (
        Attr("start_dim", Axis(), 1, (), "first axis joined (0 is the batch)"),
        Attr("end_dim", Axis(), -1, (), "last axis joined"),
    )

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        start, end = sample_axis(self, "start_dim", len(shape)), sample_axis(self, "end_dim", len(shape))
        if start > end:
            raise self.fail(f"start_dim comes after end_dim for input {self.received(shape)}", "start_dim")
        out = (*shape[:start], product(shape[start : end + 1]), *shape[end + 1 :])
        return Facts(out, field=PASS if out == tuple(shape) else FLATTEN if len(out) == 1 else UNDEFINED)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        return x.reshape(x.shape[0], *self.infer((x.shape[1:],), layout).output_shape)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A view of the input, or (not contiguous) a copy that is the output."""
        return 0

    def shares_input(self) -> bool:
        return True

    torch_view = True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A view (in a channels_last file too: PyTorch keeps the tensors channels-last in
        memory from the first movedim on, so moving them back is contiguous): nothing kept."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        return graph.op("Reshape", [inputs[0], graph.const([-1, *out])])  # the same values in the same order

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        start, end = self["start_dim"], self["end_dim"]
        return TorchOp(call("nn.Flatten", start_dim=start if start != 1 else None, end_dim=end if end != -1 else None), wants=FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras's Flatten joins all axes; other spans are a Reshape (same order of values)."""
        if len(out) == 1:
            return KerasOp((("", call("layers.Flatten")),))
        return KerasOp((("", call("layers.Reshape", tuple(out))),))


@REGISTRY.register("reshape", "Reshape", "view", "Unflatten")
class Reshape(Layer):
    """Reinterprets a sample as another shape with the same number of elements (-1: inferred)."""

    family = "shape"
    primary = "shape"
    summary = "same values, another shape (one -1 is inferred)"
    attributes = (Attr("shape", ShapeKind(), None, ("target_shape",), "the shape of a sample, without the batch"),)

    def check(self) -> None:
        if self["shape"] is None:
            raise self.fail("missing the required attribute 'shape'; allowed: e.g. reshape: [64, 7, 7]")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape, target = shapes[0], self["shape"]
        known = product(d for d in target if d != -1)
        total = product(shape)
        if -1 in target and total % known == 0:
            target = tuple(total // known if d == -1 else d for d in target)
        if product(target) != total:
            raise self.fail(
                f"cannot reshape {self.received(shape)}, {total:,} values, into {show(list(self['shape']))}, "
                f"{product(target) if -1 not in target else 'a multiple of ' + format(known, ',')} values; "
                "allowed: a shape with the same number of values",
                "shape",
            )
        return Facts(target, field=PASS if tuple(target) == tuple(shape) else FLATTEN if len(target) == 1 else UNDEFINED)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        return x.reshape(x.shape[0], *self.infer((x.shape[1:],), layout).output_shape)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A view of the input, or (not contiguous) a copy that is the output."""
        return 0

    def shares_input(self) -> bool:
        return True

    torch_view = True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A view (in a channels_last file too: PyTorch keeps the tensors channels-last in
        memory from the first movedim on, so moving them back is contiguous): nothing kept."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        return graph.op("Reshape", [inputs[0], graph.const([-1, *out])])  # the same values in the same order

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(None, "{x}.reshape(len({x}), " + ", ".join(map(str, out)) + ")", FILE)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Reshape", tuple(out))),))


class Axes(Kind):
    """A new order of a sample's axes, numbered as PyTorch's dims and Keras's Permute number
    them (1 is a sample's first axis; 0, the batch, may lead and must then stay first)."""

    describe = "a list of axis numbers, each of a sample's axes once (1 is the first; 0, the batch, may lead)"

    def convert(self, value):
        values = value if isinstance(value, list) else None
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise AttrError(f"expected {self.describe}")
        if values[0] == 0:
            values = values[1:]
        if not values or sorted(values) != list(range(1, len(values) + 1)):
            raise AttrError(f"expected {self.describe}")
        return tuple(values)


@REGISTRY.register("permute", "Permute")
class Permute(Layer):
    """Reorders a sample's axes: output axis i is input axis dims[i] (torchvision's Permute and
    torch.permute with the batch's 0 in front, or Keras's Permute without it)."""

    family = "shape"
    primary = "dims"
    summary = "reorders a sample's axes (PyTorch permute, Keras Permute)"
    attributes = (Attr("dims", Axes(), None, ("perm", "axes"), "the new order of the axes, 1 the first (0, the batch, may lead)"),)

    def check(self) -> None:
        if self["dims"] is None:
            raise self.fail("missing the required attribute 'dims'; allowed: e.g. permute: [2, 3, 1]")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape, dims = shapes[0], self["dims"]
        if len(dims) != len(shape):
            raise self.fail(
                f"dims {show(list(dims))} orders {len(dims)} axes, but the input {self.received(shape)} has {len(shape)}; "
                f"allowed: each of its axes 1 to {len(shape)} once",
                "dims",
            )
        out = tuple(shape[d - 1] for d in dims)
        # The identity keeps every position; any other order mixes what the axes mean.
        return Facts(out, field=PASS if list(dims) == sorted(dims) else UNDEFINED)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        return inputs[0].transpose(0, *self["dims"])

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A view of the input."""
        return 0

    def shares_input(self) -> bool:
        return True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A view with its strides reordered: nothing kept."""
        return ()

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(None, "{x}.permute(" + ", ".join(map(str, (0, *self["dims"]))) + ")", FILE)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        return graph.op("Transpose", [inputs[0]], perm=[0, *self["dims"]])

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Permute", tuple(self["dims"]))),))


@REGISTRY.register("channel_shuffle", "ChannelShuffle")
class ChannelShuffle(Layer):
    """Interleaves channel groups (ShuffleNet; PyTorch's nn.ChannelShuffle): the channels read
    as (groups, C / groups) are written as (C / groups, groups), so output channel
    i * groups + g is input channel g * (C / groups) + i."""

    family = "shape"
    primary = "groups"
    summary = "interleaves the channels of groups (PyTorch ChannelShuffle)"
    attributes = (Attr("groups", Int(1), None, ("g",), "the number of groups interleaved"),)

    def check(self) -> None:
        if self["groups"] is None:
            raise self.fail("missing the required attribute 'groups'; allowed: e.g. channel_shuffle: 2")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape, groups = shapes[0], self["groups"]
        if len(shape) < 2:
            raise self.fail(
                f"needs an input with spatial dimensions, {layout.describe(None)}; received {self.received(shape)} "
                "(PyTorch's channel_shuffle takes more than 2 dimensions, the batch included)"
            )
        channels = layout.split(shape)[0]
        if channels % groups:
            raise self.fail(
                f"{channels} channels ({self.received_input_text()}) are not divisible by groups={groups}; "
                "allowed: groups dividing the channels",
                "groups",
            )
        return Facts(shape, field=PASS)  # positions stay where they are

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        groups = self["groups"]
        batch, channels, *spatial = x.shape
        y = x.reshape(batch, groups, channels // groups, *spatial).swapaxes(1, 2)
        return channels_back(y.reshape(batch, channels, *spatial), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The copy reshape makes of the transposed view is the output; channels last, the
        input seen channels first is copied once before."""
        return nbytes(out, batch, itemsize) if layout.channels_last else 0

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A reshaped, transposed copy: its backward is the inverse shuffle, sizes only."""
        return ()

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call("nn.ChannelShuffle", self["groups"]).named("groups"), wants=CHANNELS_FIRST)

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Channels first: Reshape to (N, groups, C / groups, ...), swap those two axes, Reshape back."""
        rank = len(shapes[0]) + 1
        channels, spatial = layout.split(shapes[0])
        groups = self["groups"]
        x = graph.first(inputs[0], rank, layout)
        y = graph.op("Reshape", [x, graph.const([0, groups, channels // groups, *spatial])])
        y = graph.op("Transpose", [y], perm=[0, 2, 1, *range(3, rank + 1)])
        y = graph.op("Reshape", [y, graph.const([0, channels, *spatial])])
        return graph.back(y, rank, layout)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        axis = len(shapes[0]) if layout.channels_last else 1
        return KerasOp((("", call("ChannelShuffle", self["groups"], axis=axis if axis != len(shapes[0]) else None)),))


class IdentityAtInference(Layer):
    """A layer that is random in training and the identity at inference (dropout, stochastic
    depth): its output is its input, with no cost and no work space."""

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        return Facts(shapes[0], field=PASS)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        return inputs[0]  # inference

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The input itself."""
        return 0

    def shares_input(self) -> bool:
        return True

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        return graph.op("Identity", [inputs[0]])  # inference


class Dropout(IdentityAtInference):
    """Zeroes values at random while training; the identity at inference."""

    family = "regularisation"
    primary = "p"
    summary = "random zeroing in training; identity at inference"
    attributes = (Attr("p", Number(0, 1), 0.5, ("rate",), "probability of zeroing"),)

    @property
    def torch_view(self) -> bool:
        """With p = 0 PyTorch returns the input itself."""
        return self["p"] == 0

    def inference_view(self, shapes: tuple[Shape, ...], layout: Layout) -> bool:
        """In eval mode dropout returns its input."""
        return True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """On the CPU, dropout multiplies by a scaled random mask of the input's type and
        keeps that mask (nothing with p = 0). CUDA's fused kernel keeps a one-byte mask
        instead: not modelled."""
        return () if self["p"] == 0 else (Saved(Keep.NEW, product(shapes[0])),)
    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call("nn.Dropout", self["p"] if self["p"] != 0.5 else None).named("p"))

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Dropout", self["p"])),))


REGISTRY.variant(
    Dropout,
    "dropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "AlphaDropout",
)


class Spatial(Layer):
    """A layer acting on the spatial dimensions with per-dimension attributes."""

    def spatial_of(self, shape: Shape, layout: Layout) -> tuple[int, Shape]:
        if self.rank is not None:
            return self.spatial_input(shape, layout)
        if len(shape) < 2:
            raise self.fail(f"needs an input with spatial dimensions, {layout.describe(None)}; received {self.received(shape)}")
        return layout.split(shape)

    def pairs(self, attr: str, rank: int) -> tuple[tuple[int, int], ...]:
        return tuple(p if isinstance(p, tuple) else (p, p) for p in self.per_dim(attr, rank))

    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
        """Keras's 1-D padding and cropping (ZeroPadding1D, Cropping1D) write one axis's
        (before, after) as a flat pair, [1, 2]; cnncalc reads a flat list as one value per
        axis, so the pair is nested: [[1, 2]]."""
        if cls.rank == 1:
            config = {key: [value] if key in ("padding", "cropping") and isinstance(value, list) and len(value) == 2
                      and all(isinstance(v, int) for v in value) else value for key, value in config.items()}
        return super().from_keras(config, shapes, layout)


class Pad(Spatial):
    """Adds positions around the spatial dimensions: int, per dimension, or [before, after] pairs."""

    family = "shape"
    primary = "padding"
    summary = "pads the spatial dimensions (constant, reflect, replicate, circular)"
    attributes = (
        Attr("padding", Padding(strings=()), None, ("p",), "positions added: int, per dimension, or [before, after] pairs"),
        Attr("mode", Choice("constant", "reflect", "replicate", "circular"), "constant", (), "what the new positions hold"),
        Attr("value", Number(), 0.0, (), "the constant for mode 'constant'"),
    )

    def check(self) -> None:
        if self["padding"] is None:
            raise self.fail("missing the required attribute 'padding'; allowed: e.g. pad: 1 or pad: [[0, 1], [0, 1]]")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_of(shape, layout)
        pairs = self.pairs("padding", len(spatial))
        mode = self["mode"]
        for n, (before, after), dim in zip(spatial, pairs, SPATIAL_NAMES[len(spatial)]):
            limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
            if limit is not None and max(before, after) > limit:
                raise self.fail(
                    f"{mode} padding of {max(before, after)} along {dim} needs a larger input; received "
                    f"{self.received(shape)}; allowed: at most {limit} for a size of {n}",
                    "padding",
                )
        out = layout.join(channels, [n + a + b for n, (a, b) in zip(spatial, pairs)])
        field = tuple(constant_taps(-before) for before, _ in pairs)
        return Facts(out, field=field)

    def for_probing(self, tensors: dict) -> Layer:
        """Padding that copies the input pads with the constant: the field counts padding as padding."""
        return self.replaced(mode="constant") if self["mode"] != "constant" else self

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        pairs = self.pairs("padding", x.ndim - 2)
        return channels_back(numeric.pad(x, pairs, self["mode"], self["value"]), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """NumPy's copies of edge slabs for a mode other than a constant (kernels.pad_workspace)."""
        channels, spatial = self.spatial_of(shapes[0], layout)
        pairs = self.pairs("padding", len(spatial))
        return numeric.pad_workspace((batch, channels, *spatial), pairs, self["mode"], itemsize)

    def shares_input(self) -> bool:
        """No padding at all returns the input."""
        return True


    def autocast_for(self, shapes: tuple[Shape, ...]) -> str:
        """Reflection (1-D, 2-D) and replication padding are on torch.autocast's CPU float32 list."""
        rank = len(shapes[0]) - 1
        return "float32" if self["mode"] == "replicate" or (self["mode"] == "reflect" and rank != 3) else "keep"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Reflection and replication padding keep their input; constant and circular
        padding (slices and a concatenation) need only sizes."""
        return (Saved(Keep.INPUT),) if self["mode"] in ("reflect", "replicate") else ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Pad (channels first) in its mode; circular: see OnnxGraph.pad."""
        rank = len(shapes[0]) + 1
        spatial = layout.split(shapes[0])[1]
        x = graph.first(inputs[0], rank, layout)
        y = graph.pad(x, self.pairs("padding", rank - 2), self["mode"], spatial, self["value"])
        return graph.back(y, rank, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        _, spatial = self.spatial_of(shapes[0], layout)
        pads = torch_pad(self.pairs("padding", len(spatial)))
        mode = self["mode"]
        options = f", mode={mode!r}" if mode != "constant" else f", value={self['value']!r}" if self["value"] else ""
        return TorchOp(None, f"F.pad({{x}}, {pads}{options})", CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        if self["mode"] != "constant" or self["value"]:
            raise self.fail(
                f"Keras pads only with zeros; received mode='{self['mode']}' and value={self['value']}; allowed "
                "for export to Keras: mode 'constant' with value 0",
                "mode" if self["mode"] != "constant" else "value",
            )
        _, spatial = self.spatial_of(shapes[0], layout)
        pairs = self.pairs("padding", len(spatial))
        return KerasOp(keras_pad(pairs, layout))


class Crop(Spatial):
    """Cuts the spatial dimensions: to a centred `size` (U-Net, torchvision's center_crop) or by
    `cropping` amounts per side (Keras Cropping)."""

    family = "shape"
    primary = "size"
    summary = "centre crop to a size, or crop given amounts per side"
    attributes = (
        Attr("size", Ints(1), None, (), "the spatial size to keep, centred"),
        Attr("cropping", Padding(strings=()), None, (), "positions removed: int, per dimension, or [before, after] pairs"),
    )

    def check(self) -> None:
        if (self["size"] is None) == (self["cropping"] is None):
            raise self.fail("give exactly one of 'size' (centre crop) and 'cropping' (amounts per side)")

    def crop_pairs(self, spatial: Shape) -> tuple[tuple[int, int], ...]:
        """Positions removed (before, after) per spatial dimension."""
        if self["size"] is None:
            return self.pairs("cropping", len(spatial))
        # torchvision center_crop: the start is int(round((n - size) / 2)).
        sizes = self.per_dim("size", len(spatial))
        return tuple((round((n - m) / 2), n - m - round((n - m) / 2)) for n, m in zip(spatial, sizes))

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_of(shape, layout)
        pairs = self.crop_pairs(spatial)
        out = [n - a - b for n, (a, b) in zip(spatial, pairs)]
        attr = "cropping" if self["size"] is None else "size"
        if min(min(a, b) for a, b in pairs) < 0 or min(out) < 1:
            wanted = out if attr == "cropping" else list(self.per_dim("size", len(spatial)))
            raise self.fail(
                f"cannot crop {self.received(shape)} to spatial size {wanted}; allowed: a crop smaller than the input",
                attr,
            )
        field = tuple(constant_taps(before) for before, _ in pairs)
        return Facts(layout.join(channels, out), field=field)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        pairs = self.crop_pairs(x.shape[2:])
        index = (slice(None), slice(None), *(slice(a, n - b) for n, (a, b) in zip(x.shape[2:], pairs)))
        return channels_back(x[index], layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A view of the input, which it keeps whole."""
        return 0

    def shares_input(self) -> bool:
        return True

    torch_view = True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A slice of the input (a view): nothing kept."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        channels, spatial = layout.split(shapes[0])
        pairs = self.crop_pairs(spatial)
        first = 1 if layout.channels_last else 2  # the first spatial axis of the batched value
        axes = list(range(first, first + len(spatial)))
        starts = [a for a, _ in pairs]
        ends = [n - b for n, (_, b) in zip(spatial, pairs)]
        return graph.op("Slice", [inputs[0], graph.const(starts), graph.const(ends), graph.const(axes)])

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        _, spatial = self.spatial_of(shapes[0], layout)
        slices = ", ".join(f"{a}:{n - b}" for n, (a, b) in zip(spatial, self.crop_pairs(spatial)))
        return TorchOp(None, f"{{x}}[:, :, {slices}]", CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        _, spatial = self.spatial_of(shapes[0], layout)
        pairs = self.crop_pairs(spatial)
        return KerasOp(keras_crop(pairs, layout))


MODES_BY_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


class Upsample(Spatial):
    """Resizes the spatial dimensions by a scale factor, to a size, or to the spatial size of
    another layer's output (`like:`, PyTorch's F.interpolate(x, size=other.shape[2:]))."""

    family = "shape"
    primary = "scale"
    summary = "resize by a scale factor, to a size or to another layer's size (like:); nearest, linear, bilinear, bicubic, trilinear"
    flops_rule = "nearest: 0; linear modes: 2^rank multiplies + (2^rank - 1) adds per output element; bicubic: 4^rank multiplies + (4^rank - 1) adds"
    attributes = (
        Attr("scale", Numbers(), None, ("scale_factor",), "multiplier per spatial dimension (output = floor(in x scale))"),
        Attr("size", Ints(1), None, (), "output spatial size (instead of scale)"),
        Attr(
            "mode",
            Choice("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"),
            "nearest",
            ("interpolation",),
            "how new values are computed",
        ),
        Attr("align_corners", Flag(), None, (), "linear modes: map corner pixels onto each other (PyTorch)"),
        Attr("like", LayerName(), None, (), "a layer (or input) whose spatial size the output takes"),
    )

    def check(self) -> None:
        given = [attr for attr in ("scale", "size", "like") if self.values.get(attr) is not None]
        if len(given) != 1:
            received = f"; received {' and '.join(given)}" if given else ""
            raise self.fail(
                "give exactly one of 'scale' (e.g. upsample: 2), 'size' (output size) and 'like' (a layer whose "
                f"size the output takes){received}",
                given[-1] if given else None,
            )
        needed = MODES_BY_RANK.get(self["mode"])
        if needed and self.rank and needed != self.rank:
            raise self.fail(f"mode '{self['mode']}' is for {needed}-D inputs, not {self.rank}-D", "mode")
        if self["align_corners"] is not None and self["mode"] in ("nearest", "nearest-exact"):
            raise self.fail(
                "align_corners can only be set with the interpolating modes (linear, bilinear, bicubic, trilinear)",
                "align_corners",
            )

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        channels, spatial = self.spatial_of(shape, layout)
        rank = len(spatial)
        needed = MODES_BY_RANK.get(self["mode"])
        if needed and needed != rank:
            raise self.fail(
                f"mode '{self['mode']}' needs {needed} spatial dimension(s); received {self.received(shape)}",
                "mode",
            )
        if self.values.get("like") is not None:
            sizes = self.like_size(shapes, layout)
        elif self["size"] is not None:
            sizes = self.per_dim("size", rank)
        else:
            scaled = [n * f for n, f in zip(spatial, self.per_dim("scale", rank))]
            if not all(math.isfinite(v) for v in scaled):
                raise self.fail(f"the scale is too large for the input {self.received(shape)}", "scale")
            sizes = tuple(math.floor(v) for v in scaled)
            if min(sizes) < 1:
                raise self.fail(f"the scale leaves an empty output from {self.received(shape)}", "scale")
        out = layout.join(channels, sizes)
        taps = tuple(self.taps(n, m) for n, m in zip(spatial, sizes))
        field = taps if all(t is not None for t in taps) else UNDEFINED
        return Facts(out, flops=product(out) * self.cost_per_output(rank), field=field)

    def like_size(self, shapes: tuple[Shape, ...], layout: Layout) -> Shape:
        """The spatial size of the layer named by like: (its value is the last input)."""
        shape, other = shapes[0], shapes[-1]
        spatial = self.spatial_of(shape, layout)[1]
        if len(other) != len(shape):
            raise self.fail(
                f"like: '{self['like']}' gives {format_shape(other)}, which has not the {len(spatial)} spatial "
                f"dimension(s) of the input {self.received(shape)}; allowed: a layer with as many",
                "like",
            )
        return layout.split(other)[1]

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        sizes = layout.split(self.infer(tuple(i.shape[1:] for i in inputs), layout).output_shape)[1]
        scales = None if self["size"] is not None or self.values.get("like") is not None else self.per_dim("scale", x.ndim - 2)
        y = numeric.upsample(x, sizes, scales, self["mode"], self["align_corners"])
        return channels_back(y.astype(x.dtype, copy=False), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The result along the first axes and this axis's one or two arrays (kernels.upsample_workspace)."""
        channels, spatial = self.spatial_of(shapes[0], layout)
        return numeric.upsample_workspace((batch, channels, *spatial), layout.split(out)[1], self["mode"], itemsize)

    def shares_input(self) -> bool:
        """Nearest at the same size returns the input."""
        return self["mode"].startswith("nearest")

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """Interpolation's backward (every mode) needs only sizes."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Resize with PyTorch's coordinate rules: the scale when one is given (it sets the
        sampling positions), else the size."""
        rank = len(shapes[0]) + 1
        mode = self["mode"]
        if mode in ("nearest", "nearest-exact"):
            exact = mode == "nearest-exact"
            options = dict(mode="nearest", coordinate_transformation_mode="half_pixel" if exact else "asymmetric",
                           nearest_mode="round_prefer_ceil" if exact else "floor")
        else:
            # half_pixel, not pytorch_half_pixel: PyTorch samples an output of length 1 at
            # the input's centre ((0 + 0.5) x in/out - 0.5), not at 0 as that mode says
            options = dict(mode="cubic" if mode == "bicubic" else "linear",
                           coordinate_transformation_mode="align_corners" if self["align_corners"] else "half_pixel")
            if mode == "bicubic":
                options["cubic_coeff_a"] = -0.75
        x = graph.first(inputs[0], rank, layout)
        channels, spatial = layout.split(shapes[0])
        # onnxruntime's layout optimisation turns Transpose, cubic Resize, Transpose into a
        # channels-last cubic Resize, which it then refuses to shrink with: a Reshape of the
        # channels into the batch keeps the transposes apart (the same values)
        apart = layout.channels_last and mode == "bicubic"
        if apart:
            x = graph.op("Reshape", [x, graph.const([-1, 1, *spatial])])
        if self["size"] is None and self.values.get("like") is None:
            scales = graph.const([1.0, 1.0, *self.per_dim("scale", rank - 2)], "float32")
            y = graph.op("Resize", [x, "", scales], **options)
        else:
            # To a size (no roi, no scales): sizes name every axis, the batch's and the
            # channels' read from x (the same at every opset; 18's `axes` would spare that,
            # but cnncalc's own reader, and older tools, read this form)
            leading = graph.slice(graph.op("Shape", [x]), [0], [2], [0])
            sizes = graph.op("Concat", [leading, graph.const(list(layout.split(out)[1]))], axis=0)
            y = graph.op("Resize", [x, "", "", sizes], **options)
        if apart:
            y = graph.op("Reshape", [y, graph.const([-1, channels, *layout.split(out)[1]])])
        return graph.back(y, rank, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        _, spatial = self.spatial_of(shapes[0], layout)
        rank = len(spatial)
        if self.values.get("like") is not None:  # the size of the other value, whatever the input's
            mode = f", mode={self['mode']!r}" if self["mode"] != "nearest" else ""
            corners = f", align_corners={self['align_corners']!r}" if self["align_corners"] is not None else ""
            return TorchOp(None, f"F.interpolate({{x0}}, size={{x1}}.shape[2:]{mode}{corners})", CHANNELS_FIRST)
        scale = None if self["size"] is not None else single(tuple(float(f) for f in self.per_dim("scale", rank)))
        size = None if self["size"] is None else single(self.per_dim("size", rank))
        module = call("nn.Upsample", size=size, scale_factor=scale, mode=self["mode"] if self["mode"] != "nearest" else None)
        if self["align_corners"] is not None:
            module = call("nn.Upsample", size=size, scale_factor=scale, mode=self["mode"], align_corners=self["align_corners"])
        return TorchOp(module, wants=CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras's UpSampling: whole scale factors, nearest or (2-D) bilinear without aligned corners.
        To another layer's size (like:), 2-D: keras.ops.image.resize, whose 'bilinear' is PyTorch's
        without aligned corners and whose 'nearest' is PyTorch's 'nearest-exact' (half-pixel
        centres, as TensorFlow resizes)."""
        _, spatial = self.spatial_of(shapes[0], layout)
        rank = len(spatial)
        if self.values.get("like") is not None:
            keras_modes = {"bilinear": "bilinear", "nearest-exact": "nearest"}
            if rank != 2 or self["mode"] not in keras_modes or self["align_corners"]:
                raise self.fail(
                    f"Keras's image resizing takes a 2-D input with 'bilinear' (corners not aligned) or 'nearest-exact'; "
                    f"received {len(spatial)}-D with mode '{self['mode']}'; allowed for export to Keras: one of those",
                    "mode",
                )
            layer = call("ResizeLike", keras_modes[self["mode"]], data_format=keras_format(layout))
            return KerasOp((("", layer),))
        scales = self.per_dim("scale", rank) if self["size"] is None else ()
        modes = ("nearest", "bilinear") if rank == 2 else ("nearest",)
        if self["size"] is not None or any(f != int(f) for f in scales) or self["mode"] not in modes or self["align_corners"]:
            raise self.fail(
                "Keras's UpSampling takes whole scale factors with "
                + (" or ".join(f"'{m}'" for m in modes))
                + f" interpolation; received {self.written_resize()}; allowed for export to Keras: e.g. scale: 2",
                "size" if self["size"] is not None else "scale" if any(f != int(f) for f in scales) else "mode",
            )
        factors = single(tuple(int(f) for f in scales))
        if rank == 1:
            layer = call("layers.UpSampling1D", factors)
            return KerasOp(((("", layer),) if layout.channels_last else channels_last_1d(layer)))
        options = {"interpolation": self["mode"] if self["mode"] != "nearest" else None} if rank == 2 else {}
        layer = call(f"layers.UpSampling{rank}D", factors, data_format=keras_format(layout), **options)
        return KerasOp((("", layer),))

    def written_resize(self) -> str:
        what = (f"like='{self['like']}'" if self.values.get("like") is not None else f"size={show(self['size'])}"
                if self["size"] is not None else f"scale={show(self['scale'])}")
        corners = f", align_corners={str(self['align_corners']).lower()}" if self["align_corners"] is not None else ""
        return f"{what}, mode='{self['mode']}'{corners}"

    def cost_per_output(self, rank: int) -> int:
        if self["mode"].startswith("nearest"):
            return 0
        points = 4**rank if self["mode"] == "bicubic" else 2**rank
        return 2 * points - 1

    def taps(self, n: int, m: int) -> Taps | None:
        """Input positions per output, when the size ratio is an integer (exact); else None."""
        if m % n:
            return None
        factor = m // n
        if self["mode"].startswith("nearest"):
            return constant_taps(0, factor)
        if self["mode"] == "bicubic" or self["align_corners"]:
            return None
        offsets = []
        for o in range(factor):  # source = (o + 0.5) / factor - 0.5, two neighbours unless exact
            source = Fraction(2 * o + 1 - factor, 2 * factor)
            low = math.floor(source)
            offsets.append((low,) if source == low else (low, low + 1))
        return Taps(1, factor, lambda residue: offsets[residue])


class KerasUpSampling(Upsample):
    """Keras's UpSampling: `size` is the scale factor there, `interpolation` the mode."""

    attributes = (
        Attr("scale", Numbers(), 2.0, ("size", "scale_factor"), "multiplier per spatial dimension (Keras: 2)"),
        Attr("mode", Choice("nearest", "bilinear"), "nearest", ("interpolation",), "how new values are computed"),
        Attr("align_corners", Flag(), None, (), "unused by Keras"),
    )

    def check(self) -> None:
        self.values = {**self.values, "size": None}  # Keras has no output-size form
        super().check()


class PixelShuffle(Spatial):
    """(C x r^2, H, W) to (C, H x r, W x r): channels become positions (PyTorch PixelShuffle)."""

    family = "shape"
    primary = "factor"
    summary = "moves channels into space: (C*r^2, H, W) to (C, H*r, W*r)"
    attributes = (Attr("factor", Int(1), None, ("upscale_factor", "r"), "the upscaling factor r"),)

    def check(self) -> None:
        if self["factor"] is None:
            raise self.fail("missing the required attribute 'factor'; allowed: e.g. pixel_shuffle: 2")

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape, r = shapes[0], self["factor"]
        channels, spatial = self.spatial_input(shape, layout)
        if channels % (r * r):
            raise self.fail(
                f"{channels} channels ({self.received_input_text()}) are not divisible by factor^2 = {r * r}; "
                "allowed: channels a multiple of the squared factor",
                "factor",
            )
        out = layout.join(channels // (r * r), [n * r for n in spatial])
        return Facts(out, field=tuple(constant_taps(0, r) for _ in spatial))

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = channels_first(inputs[0], layout)
        batch, channels, height, width = x.shape
        r = self["factor"]
        y = x.reshape(batch, channels // (r * r), r, r, height, width).transpose(0, 1, 4, 2, 5, 3)
        return channels_back(y.reshape(batch, channels // (r * r), height * r, width * r), layout)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """A copy of the input when it is not contiguous, before the output's."""
        return nbytes(out, batch, itemsize)

    def shares_input(self) -> bool:
        """With factor 1, a view of the input."""
        return True

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """A rearranging copy: nothing kept."""
        return ()
    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        x = graph.first(inputs[0], 4, layout)
        return graph.back(graph.op("DepthToSpace", [x], blocksize=self["factor"], mode="CRD"), 4, layout)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call("nn.PixelShuffle", self["factor"]).named("upscale_factor"), wants=CHANNELS_FIRST)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        raise self.fail(
            "Keras has no pixel-shuffle layer (TensorFlow's depth_to_space orders the channels differently); "
            "allowed for export to Keras: an upsampling or transposed convolution instead"
        )


REGISTRY.variant(Pad, "pad", "ZeroPad", "ConstantPad")
REGISTRY.variant(Crop, "crop", "center_crop", "CenterCrop")
REGISTRY.variant(Upsample, "upsample", "Upsample", "interpolate", "resize")
REGISTRY.variant(PixelShuffle, "pixel_shuffle", "PixelShuffle", "depth_to_space", rank=2)
for _rank in (1, 2, 3):
    REGISTRY.variant(Pad, f"pad{_rank}d", f"ZeroPad{_rank}d", f"ZeroPadding{_rank}D", f"ConstantPad{_rank}d", rank=_rank)
    REGISTRY.variant(Crop, f"cropping{_rank}d", f"Cropping{_rank}D", primary="cropping", rank=_rank)
    REGISTRY.variant(KerasUpSampling, f"upsampling{_rank}d", f"UpSampling{_rank}D", rank=_rank)
