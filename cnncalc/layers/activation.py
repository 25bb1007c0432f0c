"""Elementwise activations: the shape is unchanged, the cost is a fixed count per element.

FLOPs count one per elementary operation (add, multiply, compare, divide) and one per
transcendental (exp, tanh, erf), per element of the output. Softmax-like layers work along
an axis (`dim`/`axis`, counted as PyTorch and Keras do: 0 is the batch, -1 the last).
"""

from __future__ import annotations

from typing import ClassVar

from .attrs import REQUIRED, Attr, AttrError, Axis, Choice, Int, Number, Word, show
from ..errors import format_shape
from .lazy import np, numeric
from .code import ANY, CHANNELS_FIRST, FILE, Call, KerasOp, Raw, TorchOp, call
from .base import EPILOGUE_VALUES, GLOBAL, PASS, REGISTRY, epilogue_workspace, Facts, Grads, Keep, Layer, Layout, Registry, Role, Saved, Shape, Working, channel_axis, keras_axes, nbytes, product


class Activation(Layer):
    """An elementwise function of each value."""

    family = "activation"
    per_element: ClassVar[int] = 1
    formula: ClassVar[str] = ""
    in_place: ClassVar[bool] = False  # its function takes out= and may overwrite its input
    scratch = None  # bytes its function allocates besides its output: (elements, itemsize, values) -> int
    torch_names: ClassVar[tuple[str, str | None]] = ("Identity", None)  # nn module, functional form
    keras_name: ClassVar[str | None] = None  # Keras's activation string for this exact function
    keras_build = None  # values -> the Keras layer, where the string does not fit
    onnx_form = None  # (graph, x, values) -> its output: the function as ONNX nodes (export/onnx.OnnxGraph)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if callable(cls.__dict__.get("keras_name")):  # a function of the attributes, not a name
            cls.keras_build, cls.keras_name = staticmethod(cls.__dict__["keras_name"]), None
        if "formula" in cls.__dict__ and "flops_rule" not in cls.__dict__:
            cls.flops_rule = f"{cls.per_element} per element: {cls.formula}" if cls.per_element else "0"

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        shape = shapes[0]
        return Facts(shape, self.weights(shape, layout), flops=self.per_element * product(shape), field=PASS)

    def weights(self, shape: Shape, layout: Layout) -> dict[str, Shape]:
        return {}

    # What each function's backward keeps in PyTorch (its derivative formula): its input,
    # its output (relu, sigmoid, tanh: the derivative is a function of the result), or
    # nothing. softsign is composed (x / (abs(x) + 1)): its input and the denominator.
    KEEPS: ClassVar[dict[str, tuple[Keep, ...]]] = {
        "identity": (),
        "relu": (Keep.OUTPUT,),
        "sigmoid": (Keep.OUTPUT,),
        "tanh": (Keep.OUTPUT,),
        "relu6": (Keep.INPUT,),
        "leaky_relu": (Keep.INPUT,),
        "elu": (Keep.INPUT,),
        "gelu": (Keep.INPUT,),
        "hardsigmoid": (Keep.INPUT,),
        "softplus": (Keep.INPUT,),
        "selu": (Keep.INPUT,),
        "mish": (Keep.INPUT,),
        "silu": (Keep.INPUT,),
        "hardswish": (Keep.INPUT,),
        "softsign": (Keep.INPUT, Keep.NEW),
    }

    @property
    def torch_view(self) -> bool:
        """nn.Identity returns its input."""
        return self.type_name == "identity"

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        if self.type_name not in Activation.KEEPS:
            return super().saved(shapes, facts, layout, grads)
        return tuple(Saved(keep, product(shapes[0])) for keep in Activation.KEEPS[self.type_name])

    def options(self) -> dict:
        """The attributes set to something other than their default (PyTorch's keywords)."""
        return {a.name: self[a.name] for a in self.attributes if self[a.name] != a.default}

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call(f"nn.{self.torch_names[0]}", **self.options()))

    def torch_function(self, tensor: str, file_last_axis: int) -> str:
        """This activation applied to `tensor` (a fused activation), its attributes that
        differ from the defaults as keywords; file_last_axis is where the file's last axis
        is in that tensor."""
        function = self.torch_names[1]
        options = "".join(f", {key}={value!r}" for key, value in self.options().items())
        return tensor if function is None else f"{function}({tensor}{options})"

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Its registered form (`onnx=`), at any opset from 13."""
        return type(self).onnx_form(graph, inputs[0], self.values)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", self.keras_layer()),))

    def keras_string(self) -> str | None:
        """Keras's `activation=` name for this exact function, if it has one."""
        return self.keras_name

    def keras_layer(self) -> Call:
        name = self.keras_string()
        if name is not None:
            return call("layers.Activation", name)
        return self.keras_build(self.values)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        if owned and self.in_place:
            return type(self).function(inputs[0], self.values, out=inputs[0])
        return type(self).function(inputs[0], self.values)

    def epilogue_bytes(self, elements: int, itemsize: int) -> int:
        """A piece of `elements` values computed beside the output, with its function's
        temporaries; nothing for a function in place."""
        if self.in_place:
            return 0
        scratch = type(self).scratch
        return elements * itemsize + (scratch(elements, itemsize, self.values) if scratch else elements * (itemsize + 1))

    def epilogue(self):
        """Its function over a part of an array, in place; a function without out= runs on
        pieces of the part (in_pieces), each computed beside it and copied in."""
        function, values = type(self).function, self.values  # its pieces' memory: epilogue_workspace
        if self.in_place:
            return lambda part: function(part, values, out=part)

        def apply(part):
            in_pieces(part, lambda piece: np.copyto(piece, function(piece, values)))

        apply.pieces = True  # a product about to make a large part for it takes the cores first (kernels.matmul)
        return apply

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The temporaries of its function, as registered (`scratch`); by default one array
        of the output's size and a boolean mask: np.where over a comparison, or a formula
        keeping one intermediate beside the one being computed."""
        elements = batch * product(out)
        if type(self).scratch is None:
            return elements * (itemsize + 1)
        return type(self).scratch(elements, itemsize, self.values)

    def shares_input(self) -> bool:
        """The identity returns its input; an in-place function overwrites it."""
        return self.in_place or self.per_element == 0


def in_pieces(part, apply) -> None:
    """`apply` to pieces of `part` of at most EPILOGUE_VALUES values (slabs along its first
    axis, or stretches of a long last axis), on the kernels' threads; a large part takes
    the cores from BLAS for the rest of the pass (kernels.take_cores)."""
    numeric.take_cores(part.nbytes)
    if part.size <= EPILOGUE_VALUES:
        apply(part)
        return
    if part.ndim == 1:
        for start in range(0, part.size, EPILOGUE_VALUES):
            apply(part[start : start + EPILOGUE_VALUES])
        return
    inner = product(part.shape[1:])
    if inner > EPILOGUE_VALUES:
        for i in range(part.shape[0]):
            in_pieces(part[i], apply)
        return
    step = EPILOGUE_VALUES // inner
    # an activation makes several passes over its values (exp, add, divide, ...): worth a thread sooner
    numeric.parallel(lambda i: apply(part[i : i + step]), range(0, part.shape[0], step), part.nbytes * 8)


def activation(
    name: str, *aliases: str, per_element: int, formula: str, summary: str, function, attributes=(), in_place=False, torch, keras,
    onnx, scratch=None, convention=None, from_keras=None,
):
    """Register an activation. torch: (its nn module, its functional form); keras: the name
    Keras's `activation=` takes for exactly this function, or None where there is none;
    onnx: (graph, x, values) -> the output value, the function as ONNX nodes at the graph's
    opset (13 or later); scratch: the bytes its function allocates besides the output,
    (elements, itemsize, values) -> int, when not one array and a mask (Activation.workspace)."""
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
        torch_names=torch,
        convention=convention,
        keras_name=keras,
        scratch=staticmethod(scratch) if scratch is not None else None,
        onnx_form=staticmethod(onnx),
        **({"from_keras": classmethod(from_keras)} if from_keras is not None else {}),
    )


def _keras_relu(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
    """Keras's ReLU layer (max_value, negative_slope, threshold) as the type computing the
    same function: relu, relu6 (max_value 6, as MobileNetV2 writes it) or leaky_relu (a
    slope), each with threshold 0."""
    own = ("max_value", "negative_slope", "threshold")
    Layer.from_keras.__func__(cls, {k: v for k, v in config.items() if k not in own}, shapes, layout)
    top, slope, threshold = config.get("max_value"), config.get("negative_slope") or 0, config.get("threshold") or 0
    if threshold == 0 and slope == 0 and top is None:
        return cls, {}
    if threshold == 0 and slope == 0 and top == 6:
        return REGISTRY.get("relu6"), {}
    if threshold == 0 and top is None and isinstance(slope, (int, float)) and slope > 0:
        return REGISTRY.get("leaky_relu"), {"negative_slope": slope}
    raise AttrError(
        f"ReLU with max_value={show(top)}, negative_slope={show(slope)}, threshold={show(threshold)} has no cnncalc type; "
        "allowed: threshold 0 with max_value null (relu), 6 (relu6), or null and a negative_slope (leaky_relu)"
    )


def _sigmoid(x):
    """1 / (1 + exp(-x)), as PyTorch computes it (exp(-x) overflows to inf below about -88
    in float32, giving 0), in one array: NumPy's exp is twice as fast as its tanh in float32
    and four times in float64."""
    t = np.negative(x)
    np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


def _silu(x):
    """x / (1 + exp(-x)), in one array beside x."""
    t = np.negative(x)
    np.exp(t, out=t)
    t += 1
    return np.divide(x, t, out=t)


def _softplus(x):
    return np.where(x > 20, x, np.logaddexp(0, x))  # PyTorch: threshold 20


def _relu(x, out=None):
    """max(x, 0) as NumPy's clip: its float32 maximum against a scalar is not vectorised
    (1.2 ns a value here, against 0.25 for clip with two bounds, which NaN and -0.0 leave
    as PyTorch's relu does)."""
    return np.clip(x, 0, np.inf, out=out)


def _relu6(x):
    return np.clip(x, 0, 6)


def _no_temporaries(elements: int, itemsize: int, values: dict) -> int:
    """One ufunc call: nothing besides the output."""
    return 0


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(x.dtype.type(0.7978845608028654) * (x + x.dtype.type(0.044715) * x**3)))
    return 0.5 * x * (1 + numeric.erf(x / x.dtype.type(1.4142135623730951)))


def _gelu_scratch(elements: int, itemsize: int, values: dict) -> int:
    """0.5 * x and one more array (x / sqrt 2 and erf of it, or tanh's chain) beside the
    one being computed; the exact form's chunk of Python floats (kernels.erf)."""
    return 2 * elements * itemsize + (numeric.ERF_WORKSPACE if values["approximate"] == "none" else 0)


def _onnx_op(op_type: str, **attrs):
    """The form of a function ONNX has as one operator."""
    return lambda graph, x, values: graph.op(op_type, [x], **attrs)


def _onnx_gelu(graph, x, values):
    """Gelu from opset 20; before, (x (1 + erf(x / sqrt 2))) 0.5 in the order PyTorch's
    exporter writes it (so readers that know its pattern read this one), or the tanh
    approximation."""
    approximate = values["approximate"]
    if graph.opset >= 20:
        return graph.op("Gelu", [x], approximate=approximate)
    op, number = graph.op, lambda value: graph.const(value, "float32")
    if approximate == "tanh":
        cube = op("Mul", [number(0.044715), op("Mul", [x, op("Mul", [x, x])])])
        inner = op("Tanh", [op("Mul", [number(0.7978845608028654), op("Add", [x, cube])])])
    else:
        inner = op("Erf", [op("Div", [x, number(1.4142135623730951)])])
    return op("Mul", [op("Mul", [x, op("Add", [inner, number(1.0)])]), number(0.5)])


def _onnx_hardswish(graph, x, values):
    """HardSwish from opset 14; before, x * HardSigmoid(x) (relu6(x + 3) / 6)."""
    if graph.opset >= 14:
        return graph.op("HardSwish", [x])
    return graph.op("Mul", [x, graph.op("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])


def _onnx_mish(graph, x, values):
    """Mish from opset 18; before, x * tanh(softplus(x))."""
    if graph.opset >= 18:
        return graph.op("Mish", [x])
    return graph.op("Mul", [x, graph.op("Tanh", [graph.op("Softplus", [x])])])


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


activation("identity", "Identity", per_element=0, formula="", summary="passes its input through", function=lambda x, v: x, torch=("Identity", None), keras="linear", scratch=_no_temporaries,
           onnx=_onnx_op("Identity"))
activation(
    "relu",
    "ReLU",
    per_element=1,
    formula="max(x, 0)",
    summary="max(x, 0)",
    function=lambda x, v, out=None: _relu(x, out),
    in_place=True,
    scratch=_no_temporaries,
    torch=("ReLU", "F.relu"),
    keras="relu",
    onnx=_onnx_op("Relu"),
    from_keras=_keras_relu,
)
activation(
    "relu6",
    "ReLU6",
    per_element=2,
    formula="min(max(x, 0), 6)",
    summary="min(max(x, 0), 6)",
    function=lambda x, v, out=None: np.clip(x, 0, 6, out=out),
    in_place=True,
    torch=("ReLU6", "F.relu6"),
    keras="relu6",
    scratch=_no_temporaries,
    onnx=lambda graph, x, v: graph.op("Clip", [x, graph.const(0.0, "float32"), graph.const(6.0, "float32")]),
)
activation(
    "leaky_relu",
    "LeakyReLU",
    per_element=2,
    formula="compare, multiply",
    summary="x if x > 0 else slope * x",
    function=lambda x, v: np.where(x > 0, x, x * x.dtype.type(v["negative_slope"])),
    attributes=[Attr("negative_slope", Number(0), 0.01, ("alpha", "slope"), "slope below zero (PyTorch's default; Keras's LeakyReLU: 0.3)")],
    torch=("LeakyReLU", "F.leaky_relu"),
    convention="pytorch",
    keras=lambda values: call("layers.LeakyReLU", negative_slope=values["negative_slope"]),
    onnx=lambda graph, x, values: graph.op("LeakyRelu", [x], alpha=float(values["negative_slope"])),
)
activation(
    "elu",
    "ELU",
    per_element=4,
    formula="compare, exp, subtract, multiply",
    summary="x if x > 0 else alpha * (exp(x) - 1)",
    function=lambda x, v: np.where(x > 0, x, x.dtype.type(v["alpha"]) * np.expm1(np.minimum(x, 0))),
    attributes=[Attr("alpha", Number(0), 1.0, (), "scale of the negative part")],
    torch=("ELU", "F.elu"),
    keras=lambda values: call("layers.ELU", alpha=values["alpha"]),
    onnx=lambda graph, x, values: graph.op("Elu", [x], alpha=float(values["alpha"])),
)
activation(
    "gelu",
    "GELU",
    per_element=5,
    formula="x * 0.5 * (1 + erf(x / sqrt 2)): divide, erf, add, two multiplies",
    summary="x * Phi(x), exact (erf) or tanh approximation",
    function=lambda x, v: _gelu(x, v["approximate"]),
    scratch=_gelu_scratch,
    attributes=[Attr("approximate", Choice("none", "tanh"), "none", (), "PyTorch's approximation switch")],
    torch=("GELU", "F.gelu"),
    keras=lambda values: call("layers.Activation", "gelu" if values["approximate"] == "tanh" else Raw("gelu_exact")),
    onnx=_onnx_gelu,
)
activation(
    "sigmoid",
    "Sigmoid",
    per_element=3,
    formula="1 / (1 + exp(-x)): exp, add, divide",
    summary="1 / (1 + exp(-x))",
    function=lambda x, v: _sigmoid(x),
    torch=("Sigmoid", "torch.sigmoid"),
    keras="sigmoid",
    onnx=_onnx_op("Sigmoid"),
)
activation(
    "hardsigmoid",
    "Hardsigmoid",
    "hard_sigmoid",
    per_element=4,
    formula="min(max(x + 3, 0), 6) / 6: add, max, min, divide",
    summary="relu6(x + 3) / 6",
    function=lambda x, v: _relu6(x + 3) / 6,
    torch=("Hardsigmoid", "F.hardsigmoid"),
    keras="hard_sigmoid",
    onnx=_onnx_op("HardSigmoid", alpha=1 / 6, beta=0.5),
)
activation("tanh", "Tanh", per_element=1, formula="tanh", summary="tanh(x)", function=lambda x, v: np.tanh(x), torch=("Tanh", "torch.tanh"), keras="tanh", scratch=_no_temporaries,
           onnx=_onnx_op("Tanh"))
activation(
    "softplus",
    "Softplus",
    per_element=3,
    formula="log(1 + exp(x)): exp, add, log",
    summary="log(1 + exp(x))",
    function=lambda x, v: _softplus(x),
    torch=("Softplus", "F.softplus"),
    keras="softplus",
    onnx=_onnx_op("Softplus"),
)
activation(
    "softsign",
    "Softsign",
    per_element=3,
    formula="x / (1 + |x|): abs, add, divide",
    summary="x / (1 + |x|)",
    function=lambda x, v: x / (1 + np.abs(x)),
    torch=("Softsign", "F.softsign"),
    keras="softsign",
    onnx=_onnx_op("Softsign"),
)
activation(
    "selu",
    "SELU",
    per_element=5,
    formula="scale * (x if x > 0 else alpha * (exp(x) - 1)): compare, exp, subtract, two multiplies",
    summary="scaled ELU with fixed constants (Klambauer et al. 2017)",
    function=lambda x, v: x.dtype.type(SELU_SCALE) * np.where(x > 0, x, x.dtype.type(SELU_ALPHA) * np.expm1(np.minimum(x, 0))),
    torch=("SELU", "F.selu"),
    keras="selu",
    onnx=_onnx_op("Selu"),  # its default alpha and gamma are SELU's constants
)
activation(
    "mish",
    "Mish",
    per_element=5,
    formula="x * tanh(softplus(x)): softplus (3), tanh, multiply",
    summary="x * tanh(log(1 + exp(x)))",
    function=lambda x, v: x * np.tanh(_softplus(x)),
    torch=("Mish", "F.mish"),
    keras="mish",
    onnx=_onnx_mish,
)
activation(
    "silu",
    "SiLU",
    "swish",
    per_element=4,
    formula="x * sigmoid(x): sigmoid (3), multiply",
    summary="x * sigmoid(x)",
    function=lambda x, v: _silu(x),
    torch=("SiLU", "F.silu"),
    keras="silu",
    onnx=lambda graph, x, values: graph.op("Mul", [x, graph.op("Sigmoid", [x])]),
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
    torch=("Hardswish", "F.hardswish"),
    keras="hard_silu",
    onnx=_onnx_hardswish,
)


@REGISTRY.register("prelu", "PReLU")
class PReLU(Activation):
    """max(x, 0) + a * min(x, 0) with a learnt slope a: one shared (PyTorch's default) or one per channel."""

    per_element = 2
    formula = "compare, multiply"
    summary = "leaky ReLU with a learnt slope, one shared or one per channel"
    convention = "pytorch"  # Keras's PReLU learns one slope per value unless shared_axes says otherwise
    roles = {"weight": Role.SCALE}
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

    def epilogue(self):
        """None: its slopes are weights, per channel."""
        return None

    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout):
        """Keras's PReLU learns a slope per value, except along its shared_axes: all of them
        shared is one slope, all but the channels one per channel (num_parameters)."""
        shape = shapes[0]
        Layer.from_keras.__func__(cls, {k: v for k, v in config.items() if k != "shared_axes"}, shapes, layout)
        shared = config.get("shared_axes")
        shared = set(keras_axes(shared, shape)) if shared is not None else set()
        channel = layout.channel_axis(len(shape)) if len(shape) > 1 else 0
        if shared == set(range(len(shape))):
            return cls, {"num_parameters": 1}
        if shared == set(range(len(shape))) - {channel}:
            return cls, {"num_parameters": shape[channel]}
        raise AttrError(
            f"shared_axes={show(config.get('shared_axes'))} on a {format_shape(shape)} input learns a slope per "
            "position; allowed: every axis shared (one slope) or every axis but the channels (one per channel)"
        )

    def keras_tensors(self, arrays: list, facts: Facts) -> dict:
        """Keras's alpha, its shared axes of size 1, is the slopes as a vector."""
        return self.keras_arrays([a.reshape(-1) for a in arrays], ("weight",), facts)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x, weight = inputs[0], params["weight"]
        if weight.size > 1:
            shape = [1] * x.ndim
            shape[channel_axis(x, layout)] = weight.size
            weight = weight.reshape(shape)
        return np.where(x >= 0, x, weight * x)

    autocast = "lower"  # on torch.autocast's CPU list of ops run in the half type

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """PReluKernelBackward keeps its input and its slopes."""
        return (Saved(Keep.INPUT), Saved(Keep.WEIGHT, tensor="weight"))

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        """nn.PReLU's slopes run along dim 1, the channels."""
        count = self["num_parameters"]
        return TorchOp(call("nn.PReLU", count if count != 1 else None).named("num_parameters"), wants=CHANNELS_FIRST if count != 1 else ANY)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        """Keras's PReLU learns one slope per element unless axes are shared: share all
        of them (one slope) or all but the channels (one per channel)."""
        rank = len(shapes[0])
        channel = layout.channel_axis(rank) + 1 if rank > 1 else 1
        shared = [axis for axis in range(1, rank + 1) if self["num_parameters"] == 1 or axis != channel]
        return KerasOp((("", call("layers.PReLU", shared_axes=shared or None)),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """PRelu with its slopes broadcasting along the channels."""
        slope = graph.along_channels(graph.tensor("weight"), len(shapes[0]) + 1, layout)
        return graph.op("PRelu", [inputs[0], graph.weight("weight", slope)])


class Softmax(Activation):
    """exp(x) normalised to sum to 1 along an axis (stable form: the maximum is subtracted first)."""

    onnx_op: ClassVar[str] = "Softmax"

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

    def epilogue(self):
        """None: each value depends on the others along its axis."""
        return None

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        x = inputs[0]
        axis = sample_axis(self, "dim", x.ndim - 1) + 1
        shifted = x - x.max(axis=axis, keepdims=True)
        exp = np.exp(shifted)
        return self.normalise(shifted, exp, exp.sum(axis=axis, keepdims=True))

    def normalise(self, shifted, exp, total):
        return exp / total

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The shifted input and its exponential beside the output, and two arrays of one
        value per slice along the axis (the sum, and its logarithm for log_softmax)."""
        shape = shapes[0]
        slices = product(shape) // shape[sample_axis(self, "dim", len(shape))]
        return (2 * product(out) + 2 * slices) * batch * itemsize

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """(Log)SoftmaxBackward keeps the result."""
        return (Saved(Keep.OUTPUT),)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        return TorchOp(call(f"nn.{self.torch_names[0]}", dim=self["dim"]), wants=FILE)

    def torch_function(self, tensor: str, file_last_axis: int) -> str:
        """Fused (Keras's activation='softmax'): along the file's last axis."""
        return f"{self.torch_names[1]}({tensor}, dim={file_last_axis})"

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Softmax", axis=self["dim"])),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """Softmax (LogSoftmax) along its axis: one axis since opset 13."""
        axis = sample_axis(self, "dim", len(shapes[0])) + 1
        return graph.op(self.onnx_op, [inputs[0]], axis=axis)


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
    torch_names=("Softmax", "F.softmax"),
    keras_name="softmax",
)


@REGISTRY.register("log_softmax", "LogSoftmax")
class LogSoftmax(Softmax):
    """x - log(sum(exp(x))) along an axis."""

    per_element = 5
    formula = "max, subtract, exp, sum, subtract; plus one log per slice"
    flops_rule = "5 per element (max, subtract, exp, sum, subtract) + 1 log per slice along the axis"
    summary = "log of softmax along an axis"
    torch_names = ("LogSoftmax", "F.log_softmax")
    keras_name = "log_softmax"
    onnx_op = "LogSoftmax"

    def cost(self, shape: Shape, axis: int) -> int:
        return self.per_element * product(shape) + product(shape) // shape[axis]

    def normalise(self, shifted, exp, total):
        return shifted - np.log(total)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        if self["dim"] != -1:
            raise self.fail(
                f"Keras has log_softmax only along the last axis; received dim={self['dim']}; allowed for "
                "export to Keras: dim=-1",
                "dim",
            )
        return KerasOp((("", call("layers.Activation", "log_softmax")),))



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
        fused = FusedActivation.fused(self)
        return None if fused is None else fused.infer((shape,), layout)


    def apply_activation(self: Layer, y, layout: Layout):
        """The folded activation applied to the layer's output (in the file's layout)."""
        fused = FusedActivation.fused(self)
        return y if fused is None else fused.forward([y], {}, layout)


    def with_activation(self: Layer, kernel: int, out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The workspace of a layer computing its result with `kernel` bytes besides it, then
        its fused activation: that result stays while the activation makes the output; or,
        for an element-wise one applied to each part as it is written, the epilogue's."""
        fused = FusedActivation.fused(self)
        if fused is None:
            return kernel
        if fused.epilogue() is not None and self.takes_epilogue:  # applied to each part as it is written
            return kernel + epilogue_workspace([fused], batch * product(out), itemsize)
        return max(kernel, nbytes(out, batch, itemsize) + fused.workspace((out,), out, layout, batch, itemsize))

    def fused(self: Layer) -> Activation | None:
        """The folded activation as a layer: Keras's `activation=` argument, so a Keras
        function name means what Keras computes by it (leaky_relu: slope 0.2); other type
        names take their type's defaults."""
        name = self["activation"]
        if name.lower() in FusedActivation.NONE:
            return None
        entry = KERAS_FUNCTIONS.get(Registry.key(name))
        cls = REGISTRY.get(entry[1] if entry else name)
        values = {a.name: a.default for a in cls.attributes} | (entry[2] if entry else {})
        return cls(f"{self.name}.activation", values, self.where, (self.name,))

    def fused_saved(self: Layer, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """What the fused activation keeps, applied to the layer's result: its input is the
        result before the activation (a tensor of its own), its output the layer's."""
        fused = FusedActivation.fused(self)
        if fused is None:
            return ()
        out = facts.output_shape
        kept = fused.saved((out,), fused.infer((out,), layout), layout, Grads((True,), False))
        return tuple(Saved(Keep.NEW, item.elements, item.dtype) if item.keep is Keep.INPUT else item for item in kept)

    def torch_activation(self: Layer, expression: str, file_last_axis: int) -> str:
        """The forward expression with the fused activation applied (PyTorch has no fused form)."""
        fused = FusedActivation.fused(self)
        return expression if fused is None else fused.torch_function(expression, file_last_axis)

    def keras_activation(self: Layer) -> tuple[str | None, tuple[tuple[str, Call], ...]]:
        """(Keras's `activation=` string, extra layers after the layer) for the fused activation."""
        fused = FusedActivation.fused(self)
        if fused is None:
            return None, ()
        if fused.keras_string() is not None:
            return fused.keras_string(), ()
        return None, (("_activation", fused.keras_layer()),)


def fusable() -> list[type[Activation]]:
    """Activations without weights, which Keras accepts as a string `activation`."""
    return [c for c in REGISTRY.types if issubclass(c, Activation) and not issubclass(c, PReLU)]


# Keras's activation functions by name (keras.activations, with its aliases swish and
# hard_swish): the cnncalc type computing exactly that function, and the attribute values
# Keras's function uses where they differ from the type's defaults (Keras's leaky_relu has
# slope 0.2; its softmax and log_softmax act on the last axis; its gelu is the exact one).
# Keys are compared as the registry compares names: case, '_' and '-' do not matter.
KERAS_FUNCTIONS: dict[str, tuple[str, str, dict]] = {
    Registry.key(keras): (keras, type_name, values)
    for keras, type_name, values in (
        ("linear", "identity", {}),
        ("relu", "relu", {}),
        ("relu6", "relu6", {}),
        ("leaky_relu", "leaky_relu", {"negative_slope": 0.2}),
        ("elu", "elu", {"alpha": 1.0}),
        ("selu", "selu", {}),
        ("gelu", "gelu", {"approximate": "none"}),
        ("sigmoid", "sigmoid", {}),
        ("hard_sigmoid", "hardsigmoid", {}),
        ("tanh", "tanh", {}),
        ("softplus", "softplus", {}),
        ("softsign", "softsign", {}),
        ("mish", "mish", {}),
        ("silu", "silu", {}),
        ("swish", "silu", {}),
        ("hard_silu", "hardswish", {}),
        ("hard_swish", "hardswish", {}),
        ("softmax", "softmax", {"dim": -1}),
        ("log_softmax", "log_softmax", {"dim": -1}),
    )
}
# keras.activations that cnncalc has no type for: named in the error, not guessed at.
KERAS_UNSUPPORTED = ("celu", "exponential", "glu", "hard_shrink", "hard_tanh", "log_sigmoid", "soft_shrink",
                     "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink", "threshold")


@REGISTRY.register("activation", "Activation")
class KerasActivation(Layer):
    """Keras's Activation layer: an activation function given by its Keras name
    (`- activation: relu`), computed as Keras's function of that name computes it."""

    family = "activation"
    convention = "keras"  # the function as Keras computes it (leaky_relu: slope 0.2)
    primary = "function"
    summary = "a Keras activation function by name (Keras Activation): relu, swish, hard_sigmoid, softmax ..."
    flops_rule = "that of the function's own layer type"
    attributes = (Attr("function", Word(), REQUIRED, ("activation",), "Keras's name of the function: "
                       + ", ".join(sorted({keras for keras, _, _ in KERAS_FUNCTIONS.values()}))),)

    def check(self) -> None:
        self.function = self.resolve()

    def resolve(self) -> Layer:
        """The layer computing the named function with Keras's values for it."""
        name = self["function"]
        entry = KERAS_FUNCTIONS.get(Registry.key(name))
        if entry is None:
            from ..errors import did_you_mean

            known = sorted({keras for keras, _, _ in KERAS_FUNCTIONS.values()})
            if Registry.key(name) in map(Registry.key, KERAS_UNSUPPORTED):
                raise self.fail(
                    f"Keras has the activation '{name}', but cnncalc has no layer type computing it; allowed: "
                    + ", ".join(known),
                    "function",
                )
            raise self.fail(f"unknown activation '{name}'{did_you_mean(name, known)}; allowed: " + ", ".join(known), "function")
        _, type_name, values = entry
        cls = REGISTRY.get(type_name)
        defaults = {a.name: a.default for a in cls.attributes}
        return cls(self.name, {**defaults, **values}, self.where, self.sources)

    @property
    def keras_function(self) -> str:
        """Keras's own spelling of the function (hard_silu, not hardswish)."""
        return KERAS_FUNCTIONS[Registry.key(self["function"])][0]

    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        return self.function.infer(shapes, layout)

    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        return self.function.forward(inputs, params, layout, owned)

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        return self.function.working(shapes, facts, layout, batch)

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """The function's own."""
        return self.function.workspace(shapes, out, layout, batch, itemsize)

    def shares_input(self) -> bool:
        return self.function.shares_input()

    # training: the function's own rules
    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        return self.function.saved(shapes, facts, layout, grads)

    def autocast_for(self, shapes: tuple[Shape, ...]) -> str:
        return self.function.autocast_for(shapes)

    def torch_view_of(self, shapes: tuple[Shape, ...], layout: Layout) -> bool:
        return self.function.torch_view_of(shapes, layout)

    def backward_flops(self, shapes: tuple[Shape, ...], facts: Facts, grads: Grads) -> int:
        return self.function.backward_flops(shapes, facts, grads)

    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> TorchOp:
        """The function's own module, with Keras's values (nn.LeakyReLU(negative_slope=0.2))."""
        return self.function.torch(shapes, out, layout)

    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> KerasOp:
        return KerasOp((("", call("layers.Activation", self.keras_function)),))

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """The function's own form, with Keras's values (LeakyRelu alpha 0.2)."""
        return self.function.onnx(graph, inputs, shapes, out, layout)


def onnx_fused(layer, graph, y: str, out: Shape, layout: Layout) -> str:
    """A conv or linear layer's fused activation (Keras's activation=) after its output y,
    of sample shape `out`."""
    fused = layer.fused()
    return y if fused is None else fused.onnx(graph, [y], (out,), out, layout)
