"""Elementwise activations: the shape is unchanged, the cost is a fixed count per element.

FLOPs count one per elementary operation (add, multiply, compare, divide) and one per
transcendental (exp, tanh, erf), per element of the output. Softmax-like layers work along
an axis (`dim`/`axis`, counted as PyTorch and Keras do: 0 is the batch, -1 the last).
"""

from __future__ import annotations

from typing import ClassVar

from ..attrs import Attr, Axis, Choice, Int, Number
from ..lazy import np, numeric
from .base import GLOBAL, PASS, REGISTRY, Facts, Layer, Layout, Shape, channel_axis, product


class Activation(Layer):
    """An elementwise function of each value."""

    family = "activation"
    per_element: ClassVar[int] = 1
    formula: ClassVar[str] = ""
    in_place: ClassVar[bool] = False  # its function takes out= and may overwrite its input

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "formula" in cls.__dict__ and "flops_rule" not in cls.__dict__:
            cls.flops_rule = f"{cls.per_element} per element: {cls.formula}" if cls.per_element else "0"

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        return Facts(shape, self.weights(shape, layout), flops=self.per_element * product(shape), field=PASS)

    def weights(self, shape: Shape, layout: Layout) -> dict[str, Shape]:
        return {}

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        if owned and self.in_place:
            return type(self).function(inputs[0], self.values, out=inputs[0])
        return type(self).function(inputs[0], self.values)


def activation(name: str, *aliases: str, per_element: int, formula: str, summary: str, function, attributes=(), in_place=False):
    return REGISTRY.variant(
        Activation,
        name,
        *aliases,
        per_element=per_element,
        formula=formula,
        summary=summary,
        attributes=tuple(attributes),
        function=staticmethod(function),
        in_place=in_place,
    )


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # the same function, without exp overflow


def _softplus(x):
    return np.where(x > 20, x, np.logaddexp(0, x))  # PyTorch: threshold 20


def _relu6(x):
    return np.clip(x, 0, 6)


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(x.dtype.type(0.7978845608028654) * (x + x.dtype.type(0.044715) * x**3)))
    return 0.5 * x * (1 + numeric.erf(x / x.dtype.type(1.4142135623730951)))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


activation("identity", "Identity", per_element=0, formula="", summary="passes its input through", function=lambda x, v: x)
activation(
    "relu",
    "ReLU",
    per_element=1,
    formula="max(x, 0)",
    summary="max(x, 0)",
    function=lambda x, v, out=None: np.maximum(x, 0, out=out),
    in_place=True,
)
activation("relu6", "ReLU6", per_element=2, formula="min(max(x, 0), 6)", summary="min(max(x, 0), 6)", function=lambda x, v: _relu6(x))
activation(
    "leaky_relu",
    "LeakyReLU",
    per_element=2,
    formula="compare, multiply",
    summary="x if x > 0 else slope * x",
    function=lambda x, v: np.where(x > 0, x, x * x.dtype.type(v["negative_slope"])),
    attributes=[Attr("negative_slope", Number(0), 0.01, ("alpha", "slope"), "slope below zero (PyTorch's default)")],
)
activation(
    "elu",
    "ELU",
    per_element=4,
    formula="compare, exp, subtract, multiply",
    summary="x if x > 0 else alpha * (exp(x) - 1)",
    function=lambda x, v: np.where(x > 0, x, x.dtype.type(v["alpha"]) * np.expm1(np.minimum(x, 0))),
    attributes=[Attr("alpha", Number(0), 1.0, (), "scale of the negative part")],
)
activation(
    "gelu",
    "GELU",
    per_element=5,
    formula="x * 0.5 * (1 + erf(x / sqrt 2)): divide, erf, add, two multiplies",
    summary="x * Phi(x), exact (erf) or tanh approximation",
    function=lambda x, v: _gelu(x, v["approximate"]),
    attributes=[Attr("approximate", Choice("none", "tanh"), "none", (), "PyTorch's approximation switch")],
)
activation(
    "sigmoid",
    "Sigmoid",
    per_element=3,
    formula="1 / (1 + exp(-x)): exp, add, divide",
    summary="1 / (1 + exp(-x))",
    function=lambda x, v: _sigmoid(x),
)
activation(
    "hardsigmoid",
    "Hardsigmoid",
    "hard_sigmoid",
    per_element=4,
    formula="min(max(x + 3, 0), 6) / 6: add, max, min, divide",
    summary="relu6(x + 3) / 6",
    function=lambda x, v: _relu6(x + 3) / 6,
)
activation("tanh", "Tanh", per_element=1, formula="tanh", summary="tanh(x)", function=lambda x, v: np.tanh(x))
activation(
    "softplus",
    "Softplus",
    per_element=3,
    formula="log(1 + exp(x)): exp, add, log",
    summary="log(1 + exp(x))",
    function=lambda x, v: _softplus(x),
)
activation(
    "softsign",
    "Softsign",
    per_element=3,
    formula="x / (1 + |x|): abs, add, divide",
    summary="x / (1 + |x|)",
    function=lambda x, v: x / (1 + np.abs(x)),
)
activation(
    "selu",
    "SELU",
    per_element=5,
    formula="scale * (x if x > 0 else alpha * (exp(x) - 1)): compare, exp, subtract, two multiplies",
    summary="scaled ELU with fixed constants (Klambauer et al. 2017)",
    function=lambda x, v: x.dtype.type(SELU_SCALE) * np.where(x > 0, x, x.dtype.type(SELU_ALPHA) * np.expm1(np.minimum(x, 0))),
)
activation(
    "mish",
    "Mish",
    per_element=5,
    formula="x * tanh(softplus(x)): softplus (3), tanh, multiply",
    summary="x * tanh(log(1 + exp(x)))",
    function=lambda x, v: x * np.tanh(_softplus(x)),
)
activation(
    "silu",
    "SiLU",
    "swish",
    per_element=4,
    formula="x * sigmoid(x): sigmoid (3), multiply",
    summary="x * sigmoid(x)",
    function=lambda x, v: x * _sigmoid(x),
)
activation(
    "hardswish",
    "Hardswish",
    "hard_swish",
    "hard_silu",
    per_element=5,
    formula="x * hardsigmoid(x): hardsigmoid (4), multiply",
    summary="x * relu6(x + 3) / 6",
    function=lambda x, v: x * _relu6(x + 3) / 6,
)


@REGISTRY.register("prelu", "PReLU")
class PReLU(Activation):
    """max(x, 0) + a * min(x, 0) with a learnt slope a: one shared (PyTorch's default) or one per channel."""

    per_element = 2
    formula = "compare, multiply"
    summary = "leaky ReLU with a learnt slope, one shared or one per channel"
    attributes = (Attr("num_parameters", Int(1), 1, (), "1 (shared) or the number of channels"),)

    def weights(self, shape: Shape, layout: Layout) -> dict[str, Shape]:
        count = self["num_parameters"]
        if count != 1:
            channels = layout.split(shape)[0] if len(shape) > 1 else shape[0]
            if count != channels:
                raise self.fail(
                    f"num_parameters={count} does not match the input's {channels} channels "
                    f"(received {self.received(shape)}); allowed: 1 or {channels}",
                    "num_parameters",
                )
        return {"weight": (count,)}

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x, weight = inputs[0], params["weight"]
        if weight.size > 1:
            shape = [1] * x.ndim
            shape[channel_axis(x, layout)] = weight.size
            weight = weight.reshape(shape)
        return np.where(x >= 0, x, weight * x)


class Softmax(Activation):
    """exp(x) normalised to sum to 1 along an axis (stable form: the maximum is subtracted first)."""

    attributes = (Attr("dim", Axis(), -1, ("axis",), "axis to normalise along (0 is the batch)"),)

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        axis = sample_axis(self, "dim", len(shape))
        # Along the channels (or a flat vector) positions stay apart; along a spatial axis
        # every output depends on every position of that axis.
        spatial = len(shape) > 1 and axis != layout.channel_axis(len(shape))
        return Facts(shape, flops=self.cost(shape, axis), field=GLOBAL if spatial else PASS)

    def cost(self, shape: Shape, axis: int) -> int:
        return self.per_element * product(shape)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        axis = sample_axis(self, "dim", x.ndim - 1) + 1
        shifted = x - x.max(axis=axis, keepdims=True)
        exp = np.exp(shifted)
        return self.normalise(shifted, exp, exp.sum(axis=axis, keepdims=True))

    def normalise(self, shifted, exp, total):
        return exp / total


def sample_axis(layer: Layer, attr: str, rank: int) -> int:
    """A batch-inclusive axis (PyTorch dim, Keras axis) as an index into the sample shape."""
    axis = layer[attr]
    index = axis - 1 if axis > 0 else rank + axis
    if axis == 0 or not 0 <= index < rank:
        raise layer.fail(
            f"{attr}={axis} is not an axis of a sample with {rank} dimension{'s' if rank != 1 else ''}; "
            f"allowed: {'1 or -1' if rank == 1 else f'1 to {rank} or -1 to -{rank}'} (0 is the batch)",
            attr,
        )
    return index


REGISTRY.variant(
    Softmax,
    "softmax",
    "Softmax",
    per_element=5,
    formula="max, subtract, exp, sum, divide",
    summary="exp(x) / sum(exp(x)) along an axis",
)


@REGISTRY.register("log_softmax", "LogSoftmax")
class LogSoftmax(Softmax):
    """x - log(sum(exp(x))) along an axis."""

    per_element = 5
    formula = "max, subtract, exp, sum, subtract; plus one log per slice"
    flops_rule = "5 per element (max, subtract, exp, sum, subtract) + 1 log per slice along the axis"
    summary = "log of softmax along an axis"

    def cost(self, shape: Shape, axis: int) -> int:
        return self.per_element * product(shape) + product(shape) // shape[axis]

    def normalise(self, shifted, exp, total):
        return shifted - np.log(total)



class FusedActivation:
    """Keras's `activation:` on a conv or dense layer: an activation layer folded into it."""

    NONE = ("linear", "none")

    def check_activation(self: Layer) -> None:
        name = self["activation"]
        if name.lower() in FusedActivation.NONE:
            return
        cls = REGISTRY.get(name)
        choices = sorted(c.type_name for c in fusable())
        if cls is None or cls not in fusable():
            from ..errors import did_you_mean

            raise self.fail(
                f"unknown activation '{name}'{did_you_mean(name, choices)}; allowed: "
                + ", ".join(choices)
                + " or 'linear' (none)",
                "activation",
            )

    def activation_facts(self: Layer, shape: Shape, layout: Layout) -> Facts | None:
        """The folded activation's own facts on the layer's output (None without one)."""
        name = self["activation"]
        if name.lower() in FusedActivation.NONE:
            return None
        cls = REGISTRY.get(name)
        defaults = {a.name: a.default for a in cls.attributes}
        return cls(f"{self.name}.activation", defaults, self.where, (self.name,)).infer((shape,), layout)


    def apply_activation(self: Layer, y, layout: Layout):
        """The folded activation applied to the layer's output (in the file's layout)."""
        name = self["activation"]
        if name.lower() in FusedActivation.NONE:
            return y
        cls = REGISTRY.get(name)
        defaults = {a.name: a.default for a in cls.attributes}
        return cls(f"{self.name}.activation", defaults, self.where, (self.name,)).forward([y], {}, layout)


def fusable() -> list[type[Activation]]:
    """Activations without weights, which Keras accepts as a string `activation`."""
    return [c for c in REGISTRY.types if issubclass(c, Activation) and not issubclass(c, PReLU)]
