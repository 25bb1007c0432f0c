"""The layer registry and the base class every layer type derives from.

A layer type is one class holding all its rules: the attributes it accepts, its output
shape, its weights (named and shaped as in PyTorch's `state_dict`, from which the
parameter counts follow), its MACs and FLOPs, and its receptive-field step. The parser,
`cnncalc layers` and the tests all read the registry; nothing else switches on names.

Shapes are per sample (no batch) and in the file's layout; `Layout` tells a layer where
the channels are.
"""

from __future__ import annotations

import abc
import enum
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence, Union

from .attrs import Attr, AttrError, LayerName, show
from ..errors import CnnError, Location, did_you_mean, format_shape

if TYPE_CHECKING:
    from .code import KerasOp, TorchOp
    from .windows import Taps

Shape = tuple[int, ...]

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def product(values: Sequence[int]) -> int:
    return math.prod(values)


def nbytes(shape: Sequence[int], batch: int, itemsize: int) -> int:
    """Bytes of a batch of arrays of this sample shape."""
    return batch * math.prod(shape) * itemsize


@dataclass(frozen=True)
class Layout:
    """Where the channel axis is: first (PyTorch) or last (Keras's default)."""

    channels_last: bool = False

    @property
    def name(self) -> str:
        return "channels_last" if self.channels_last else "channels_first"

    def split(self, shape: Shape) -> tuple[int, Shape]:
        """(channels, spatial sizes) of a sample shape."""
        if self.channels_last:
            return shape[-1], tuple(shape[:-1])
        return shape[0], tuple(shape[1:])

    def join(self, channels: int, spatial: Sequence[int]) -> Shape:
        spatial = tuple(spatial)
        return (*spatial, channels) if self.channels_last else (channels, *spatial)

    def channel_axis(self, rank: int) -> int:
        """Index of the channel axis in a sample shape of `rank` dimensions."""
        return rank - 1 if self.channels_last else 0

    def describe(self, spatial_rank: int | None) -> str:
        if spatial_rank is None:
            return "(C, ...)" if not self.channels_last else "(..., C)"
        names = ", ".join(SPATIAL_NAMES[spatial_rank])
        return f"({names}, C)" if self.channels_last else f"(C, {names})"


class Field(enum.Enum):
    """Receptive-field steps that need no taps (see analysis/field.py)."""

    PASS = "pass"  # every output position sees exactly its own input position
    GLOBAL = "global"  # every output position sees every input position
    MERGE = "merge"  # each output position reads the same position of every input
    UNDEFINED = "undefined"  # positions are rearranged: no field from here on
    FLATTEN = "flatten"  # positions become the features of a vector: each keeps its field, the vector sees them all


PASS, GLOBAL, MERGE, UNDEFINED, FLATTEN = Field.PASS, Field.GLOBAL, Field.MERGE, Field.UNDEFINED, Field.FLATTEN
# A layer's step: one of the above, or one windows.Taps per spatial dimension.
FieldStep = Union[Field, tuple["Taps", ...]]


class Role(enum.Enum):
    """What a weight does, which decides how it is drawn when no value is given (as
    PyTorch initialises it), and its value when receptive fields are probed."""

    KERNEL = "kernel"  # a conv or linear weight, (out, fan_in...): uniform(+-1/sqrt(fan_in))
    SCALE = "scale"  # a per-channel multiplier (norm gamma, PReLU slope): near 1
    SHIFT = "shift"  # an added bias: small
    MEAN = "mean"  # running mean: small
    VARIANCE = "variance"  # running variance: positive, near 1
    COUNT = "count"  # how many samples statistics were gathered from (Keras's Normalization): 0, read by nothing

    def initial(self, shape: Shape, rng):
        """A seeded stand-in, scaled as PyTorch initialises it; float32 whatever the run's
        precision, so one seed gives one network in float32 and float64."""
        from .lazy import np

        dtype = np.float32

        def uniform(low: float, high: float):
            values = rng.random(shape, dtype=dtype)
            values *= dtype(high - low)
            values += dtype(low)
            return values

        if self is Role.COUNT:
            return np.zeros(shape, dtype=dtype)
        if self is Role.MEAN:
            return rng.standard_normal(shape, dtype=dtype) * dtype(0.1)
        if self is Role.KERNEL:
            bound = 1.0 / math.sqrt(product(shape[1:]))
            return uniform(-bound, bound)
        if self in (Role.SCALE, Role.VARIANCE):
            return uniform(0.5, 1.5)
        return uniform(-0.1, 0.1)

    def workspace(self, elements: int, itemsize: int) -> int:
        """Bytes `initial` and its conversion to the run's type allocate besides the tensor:
        the float32 draw while it is converted to another type, a mean's draw while it is
        scaled."""
        return 4 * elements if self is Role.MEAN or itemsize != 4 else 0

    def probe(self, shape: Shape):
        """The value under `rf --verify`: kernels average what they read, scales and
        variances are one, shifts and means zero (nothing overflows, nothing cancels)."""
        from .lazy import np

        if self is Role.KERNEL:
            return np.full(shape, 1.0 / product(shape[1:]))
        return np.ones(shape) if self in (Role.SCALE, Role.VARIANCE) else np.zeros(shape)  # COUNT: 0


# Keys of a Keras layer's config (config.json) that change nothing cnncalc computes: how
# weights start, are regularised or constrained, seeds, training-only noise, the dtype policy
# (cnncalc computes in its own --dtype), the name and trainable (read by the reader).
KERAS_INERT = frozenset({"name", "trainable", "dtype", "seed", "noise_shape", "activity_regularizer", "synchronized",
                         "renorm_clipping", "renorm_momentum", "lora_alpha"})
KERAS_INERT_ENDINGS = ("_initializer", "_regularizer", "_constraint")
# Keras features cnncalc does not compute: refused unless off (null or false).
KERAS_OFF = frozenset({"lora_rank", "quantization_config", "renorm", "mask_zero", "rms_scaling"})


@dataclass(frozen=True)
class Working:
    """The working of one layer's figures, each a list of lines with its numbers."""

    output_shape: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What a layer does to one sample: plain numbers only, no formatting."""

    output_shape: Shape
    params: dict[str, Shape] = field(default_factory=dict)  # learnable, PyTorch names
    buffers: dict[str, Shape] = field(default_factory=dict)  # running statistics
    macs: int = 0
    flops: int = 0
    field: FieldStep = PASS
    warnings: tuple[str, ...] = ()
    outputs: tuple[Shape, ...] = ()  # every output, for a layer with several (output_shape is the first)

    @property
    def param_count(self) -> int:
        return sum(product(s) for s in self.params.values())

    @property
    def buffer_count(self) -> int:
        return sum(product(s) for s in self.buffers.values())


class Undeclared(CnnError):
    """A layer type that has not declared what its backward keeps (Layer.saved)."""


class Keep(enum.Enum):
    """Which tensor a layer's backward keeps (what PyTorch's autograd saves in train mode)."""

    INPUT = "input"  # one of the layer's inputs, as the layer received it (its storage)
    OUTPUT = "output"  # the layer's own output (its storage)
    NEW = "new"  # a tensor made inside the layer (a mask, indices, statistics, an intermediate)
    WEIGHT = "weight"  # one of its weights: not counted, unless autocast keeps a half-precision copy


@dataclass(frozen=True)
class Saved:
    """One tensor a layer's backward keeps.

    `elements` is per sample when `batched`, else in all. `dtype` is "compute" (the type
    the layer computes in: its inputs' under fp32 and bf16, the half type for the ops
    torch.autocast lowers), "stats" (normalisation statistics: the type of the layer's
    weights or running statistics when it has any, else its input's), or a fixed type
    ("float32", "int64"). `tensor` names the weight for WEIGHT.
    """

    keep: Keep
    elements: int = 0
    dtype: str = "compute"
    index: int = 0  # which input, for INPUT
    batched: bool = True
    tensor: str = ""
    reshaped: bool = False  # an INPUT PyTorch reshapes first: a copy when the input is part of a larger storage


@dataclass(frozen=True)
class Grads:
    """Which gradients a layer's backward computes: per input, whether it needs one (some
    trainable weight lies before it), and whether its own weights are trained."""

    inputs: tuple[bool, ...]
    weights: bool

    @property
    def any_input(self) -> bool:
        return any(self.inputs)

    @property
    def active(self) -> bool:
        """Whether autograd records the layer at all (else it keeps nothing)."""
        return self.any_input or self.weights


@dataclass(frozen=True)
class Where:
    """Where a layer and each of its attributes were written."""

    layer: Location
    attrs: dict[str, Location] = field(default_factory=dict)


EPILOGUE_VALUES = 16384  # values an epilogue's function takes at a time (activation.in_pieces)


def chained(*steps):
    """The epilogue applying each of these epilogues (None: none) in turn; None for none."""
    steps = [step for step in steps if step is not None]
    if len(steps) < 2:
        return steps[0] if steps else None

    def each(part):
        for step in steps:
            step(part)

    each.pieces = any(getattr(step, "pieces", False) for step in steps)  # see Activation.epilogue
    return each


def epilogue_workspace(layers, elements: int, itemsize: int) -> int:
    """Bytes the epilogues of these layers allocate at most while a layer writes its output
    of `elements` values: on each of the kernels' threads, one piece of at most
    EPILOGUE_VALUES values (Layer.epilogue_bytes)."""
    from .kernels import THREADS

    piece = min(EPILOGUE_VALUES, elements)
    most = max((layer.epilogue_bytes(piece, itemsize) for layer in layers), default=0)
    return min(THREADS, -(-elements // max(piece, 1))) * most


class Layer(abc.ABC):
    """Base of all layer types. Subclasses set the class variables and `infer`."""

    type_name: ClassVar[str] = ""  # canonical name, set by the registry
    aliases: ClassVar[tuple[str, ...]] = ()
    attributes: ClassVar[tuple[Attr, ...]] = ()
    primary: ClassVar[str | None] = None  # attribute set by `type: value`
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # fewest and most inputs
    rank: ClassVar[int | None] = None  # spatial rank fixed by the type name
    family: ClassVar[str] = "other"
    summary: ClassVar[str] = ""
    flops_rule: ClassVar[str] = "0"
    roles: ClassVar[dict[str, Role]] = {}  # what each weight and buffer does, by PyTorch name
    # Whose defaults the attributes take, for a type whose defaults PyTorch and Keras set
    # differently ("pytorch" or "keras"; None where they agree or one framework lacks it).
    convention: ClassVar[str | None] = None

    def __init__(self, name: str, values: dict[str, Any], where: Where, sources: tuple[str, ...] = ()):
        self.name = name
        self.values = values
        self.where = where
        self.sources = sources  # names of the layers feeding this one
        self.check()

    # -- to override -------------------------------------------------------------------
    def check(self) -> None:
        """Shape-free checks across attributes (raise self.fail(...))."""

    @abc.abstractmethod
    def infer(self, shapes: tuple[Shape, ...], layout: Layout) -> Facts:
        """Output shape, weights and costs for inputs of these shapes."""

    @abc.abstractmethod
    def forward(self, inputs: list, params: dict, layout: Layout, owned: bool = False):
        """The output for these batched NumPy inputs and weights (PyTorch's semantics).

        `owned`: nothing reads inputs[0] after this layer, so it may be overwritten.
        """

    @abc.abstractmethod
    def torch(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> "TorchOp":
        """This layer in PyTorch for inputs of these shapes (file layout), exactly, or a
        self.fail(...) saying why PyTorch cannot express it."""

    @abc.abstractmethod
    def keras(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout) -> "KerasOp":
        """This layer in Keras 3 (functional API), exactly, or a self.fail(...)."""

    def references(self) -> tuple[str, ...]:
        """The values this layer reads for their shape only, named in an attribute (an
        upsampling's `like:`): inputs of the graph, not of the data it computes on."""
        return tuple(self.values[a.name] for a in self.attributes
                     if isinstance(a.kind, LayerName) and self.values.get(a.name) is not None)

    def mixes_samples(self) -> bool:
        """Does its output for a sample depend on the batch's other samples? Shapes are per
        sample and no layer may take the batch axis, so none does but a normalisation by
        the batch's own statistics. runner.execute then keeps the batch whole."""
        return False

    def index_range(self) -> tuple[int, int] | None:
        """(low, high) when its input holds integer indices from low to high - 1 (an
        embedding's), which `run` then draws for a network input it reads; None for values."""
        return None

    def onnx(self, graph, inputs: list[str], shapes: tuple[Shape, ...], out: Shape, layout: Layout):
        """This layer as ONNX nodes added to `graph` (export/onnx.OnnxGraph), reading the
        batched values named `inputs` (file layout); returns its output value (a list for
        several). A type without an exact ONNX form says so."""
        raise self.fail(
            f"{self.type_name} has no ONNX form in cnncalc yet; allowed for export --to onnx: the other layer types "
            "(export --to pytorch or --to keras writes this one)"
        )

    def output_count(self) -> int:
        """How many values the layer returns (split and chunk: several, read as NAME.i)."""
        return 1

    # -- reading Keras files (source/kerasformat.py) --------------------------------------
    @classmethod
    def from_keras(cls, config: dict, shapes: tuple[Shape, ...], layout: Layout) -> tuple[type["Layer"], dict[str, Any]]:
        """A Keras layer's config (from a .keras archive's config.json) as a cnncalc type and
        its attribute values as written (the parser then checks them), for inputs of these
        shapes. By default this type, with every config key that is one of its attribute
        names or aliases (they are Keras's spellings; null is not given): keys that change nothing at inference
        are dropped (initialisers, regularisers, seeds ...), a feature cnncalc lacks must be
        off, data_format must be the network's layout, and any other key is refused
        (raise AttrError with the reason). A type whose Keras options need their own rule
        overrides this."""
        names = {spelling: attr.name for attr in cls.attributes for spelling in (attr.name, *attr.aliases)}
        values: dict[str, Any] = {}
        for key, value in config.items():
            if key in KERAS_INERT or key.endswith(KERAS_INERT_ENDINGS):
                continue
            if key == "data_format":
                if value != layout.name:
                    raise AttrError(
                        f"data_format={show(value)} in a network whose layers are {layout.name}; allowed: one "
                        "data_format for every layer of the model"
                    )
                continue
            if key in KERAS_OFF:
                if value not in (None, False):
                    raise AttrError(f"{key}={show(value)}: cnncalc computes this layer without it; allowed: {key} off (null or false)")
                continue
            if key not in names:
                known = sorted(names)
                raise AttrError(
                    f"the option {key}={show(value)} has no cnncalc attribute in {cls.type_name}; supported: "
                    + (", ".join(known) if known else "no options")
                )
            if value is not None:  # null: not given (the type's default, as Keras's)
                values[names[key]] = value
        return cls, values

    def keras_tensors(self, arrays: list, facts: Facts) -> dict[str, Any]:
        """The Keras layer's variables (model.weights.h5, in the order Keras creates them) in
        cnncalc's names and layouts (PyTorch's). A type with weights declares its own."""
        if not arrays and not facts.params and not facts.buffers:
            return {}
        raise self.fail(
            f"cnncalc does not know how Keras lays out the weights of a {self.type_name} layer "
            f"({len(arrays)} arrays in the file); allowed: a layer type whose Keras weights cnncalc reads"
        )

    def keras_arrays(self, arrays: list, names: Sequence[str], facts: Facts) -> dict[str, Any]:
        """Keras's arrays, in order, as the tensors `names` of the shapes cnncalc computes:
        each array's elements as they are, or an error naming what differs."""
        wanted = {**facts.params, **facts.buffers}
        if len(arrays) != len(wanted) or len(names) != len(wanted):
            raise self.fail(
                f"the weights file holds {len(arrays)} array{'s' if len(arrays) != 1 else ''} for this layer, but it has {len(wanted)} "
                f"({', '.join(wanted) or 'none'}); allowed: the weights Keras saved with this config"
            )
        tensors = {}
        for name, array in zip(names, arrays):
            if tuple(array.shape) != tuple(wanted[name]):
                raise self.fail(
                    f"the weights file's {name} has the shape {format_shape(array.shape)} once in cnncalc's layout, "
                    f"but the layer needs {format_shape(wanted[name])}; allowed: the weights Keras saved with this config"
                )
            tensors[name] = array
        return tensors

    def role(self, tensor: str) -> Role:
        """What the weight or buffer named `tensor` does (every type declares its own)."""
        try:
            return self.roles[tensor]
        except KeyError:
            raise RuntimeError(f"{type(self).__name__} declares no role for its tensor {tensor!r}") from None

    def working(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, batch: int) -> Working:
        """The working of the output size, the parameters and the MACs, with the numbers
        substituted (homework mode). By default: each weight's shape and count."""
        from ..i18n import tr

        if not facts.params:
            return Working(params=(tr("work.no_params"),))
        parts = [tr("work.weight", name=name, shape=tuple(shape), count=product(shape)) for name, shape in facts.params.items()]
        return Working(params=(tr("work.weights", parts="; ".join(parts), total=facts.param_count),))

    def params_note(self, given: int, facts: Facts, shapes: tuple[Shape, ...]) -> str:
        """What a wrong parameter count `given` suggests about the student's working ("" when
        nothing specific)."""
        return ""

    def for_probing(self, tensors: dict) -> "Layer":
        """This layer under `rf --verify`'s conventions (see forward/fieldcheck.py): the same
        layer unless it must change to be measured (statistics over positions, padding that
        copies the input)."""
        return self

    def absorb_affine(self, tensors: dict, scale, shift, layout: Layout) -> dict | None:
        """This layer's tensors with a per-output-channel y*scale + shift applied after it
        folded in, or None when it cannot absorb one (inference BatchNorm folding)."""
        return None

    def inference_affine(self, tensors: dict, layout: Layout):
        """(scale, shift) per channel when this layer is, at inference, y = x*scale + shift
        over the channels, else None."""
        return None

    def epilogue(self):
        """This layer at inference as a function applied in place to an array of its input
        (one part of it at a time), when it is element-wise and has no weights: what the
        layer before it can apply to each part of its output as it is written
        (forward_fused), while that part is in the cache. None otherwise."""
        return None

    takes_epilogue: ClassVar[bool] = False  # forward_fused applies another layer's epilogue

    def epilogue_bytes(self, elements: int, itemsize: int) -> int:
        """Bytes its epilogue allocates for a piece of `elements` values."""
        return 0

    def forward_fused(self, inputs: list, params: dict, layout: Layout, epilogue, owned: bool = False):
        """forward, with `epilogue` (the next layer's Layer.epilogue) applied in place to its
        output as it is made (where takes_epilogue); by default to the whole output after."""
        out = self.forward(inputs, params, layout, owned)
        epilogue(out)
        return out

    def workspace(self, shapes: tuple[Shape, ...], out: Shape, layout: Layout, batch: int, itemsize: int) -> int:
        """Bytes the NumPy forward pass allocates besides its output, at its busiest, for a
        batch of `batch` inputs of these shapes in elements of `itemsize` bytes: padded
        copies, gathered windows, temporaries of its formula (cnncalc run's memory estimate;
        tests/test_peak_memory.py holds every type to it under tracemalloc). By default one
        array of the output's size, as for a formula with one intermediate."""
        return nbytes(out, batch, itemsize)

    # -- training (analysis/training.py) --------------------------------------------------
    # How torch.autocast treats the layer's op on CPU: "lower" runs it in the half type
    # (convolutions, matmuls, prelu), "float32" in float32 (its float32 list), "keep" in
    # the widest type of its inputs (everything else), "promote" in the widest type of its
    # inputs and its weights (an elementwise product with a parameter: type promotion, no cast).
    autocast: ClassVar[str] = "keep"
    # Whether PyTorch's output is the first input's storage (a view or the tensor itself).
    torch_view: ClassVar[bool] = False

    def torch_view_of(self, shapes: tuple[Shape, ...], layout: Layout) -> bool:
        """`torch_view` for inputs of these shapes in this layout."""
        return self.torch_view

    def inference_view(self, shapes: tuple[Shape, ...], layout: Layout) -> bool:
        """Whether, at inference, the output is the first input's memory (a view, or the
        input itself: dropout in eval mode)."""
        return self.torch_view_of(shapes, layout)

    def extra_buffer_bytes(self) -> int:
        """Bytes of PyTorch buffers besides the running statistics (BatchNorm's int64
        num_batches_tracked), part of the weights a training step holds."""
        return 0

    def autocast_for(self, shapes: tuple[Shape, ...]) -> str:
        """`autocast` for inputs of these shapes (a type whose list entry depends on its rank)."""
        return self.autocast

    def torch_storage(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout) -> int | None:
        """Elements per sample of the storage PyTorch's output lives in when the output is a
        view into a larger result (a transposed convolution cropped after it); None: the
        output's own size (or, with torch_view, its input's storage)."""
        return None

    def saved(self, shapes: tuple[Shape, ...], facts: Facts, layout: Layout, grads: Grads) -> tuple[Saved, ...]:
        """The tensors this layer's backward keeps in train mode, as PyTorch's autograd saves
        them (tests/test_training.py checks every type against saved_tensors_hooks).
        Called only when grads.active. Every type declares its own: there is no default."""
        error = self.fail(
            f"cnncalc does not know yet what PyTorch keeps for the backward pass of a {self.type_name} layer, "
            "so it cannot account for training it; allowed: a network without this layer type, until the type declares it"
        )
        raise Undeclared(error.message, error.location, error.layer)

    def backward_flops(self, shapes: tuple[Shape, ...], facts: Facts, grads: Grads) -> int:
        """FLOPs of the backward pass per sample. A layer with MACs (convolution, linear)
        costs 2 x MACs for the gradient of its input and 2 x MACs for the gradient of its
        weights, each only when needed (what torch.utils.flop_counter counts; bias
        gradients are sums, not counted). A layer without MACs costs its forward FLOPs
        again for its input's gradient (a convention: PyTorch counts none there)."""
        if facts.macs:
            return 2 * facts.macs * (grads.any_input + grads.weights)
        return facts.flops if grads.any_input else 0

    def shares_input(self) -> bool:
        """Whether the output may be the first input itself, a view of it or the input
        overwritten in place: it then keeps the input's memory alive for as long as it
        lives (a crop keeps all of its input)."""
        return False

    def replaced(self, **values: Any) -> "Layer":
        """The same layer with some attribute values changed (no checks re-run)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.values = {**self.values, **values}
        return clone

    # -- helpers for subclasses --------------------------------------------------------
    @property
    def label(self) -> str:
        return f"layer '{self.name}' ({self.type_name})"

    def fail(self, message: str, attr: str | None = None) -> CnnError:
        location = self.where.attrs.get(attr, self.where.layer) if attr else self.where.layer
        return CnnError(message, location, self.label)

    def __getitem__(self, attr: str) -> Any:
        return self.values[attr]

    def given(self, attr: str) -> bool:
        return attr in self.where.attrs

    def received(self, shape: Shape, index: int = 0) -> str:
        """'(128,) from 'fc1'' for messages about an input."""
        source = f" from '{self.sources[index]}'" if index < len(self.sources) else ""
        return f"{format_shape(shape)}{source}"

    def per_dim(self, attr: str, rank: int) -> tuple:
        """An attribute expanded to one value per spatial dimension."""
        value = self.values[attr]
        if not isinstance(value, tuple):
            return (value,) * rank
        if len(value) != rank:
            dims = ", ".join(SPATIAL_NAMES.get(rank, ()))
            raise self.fail(
                f"{attr} has {len(value)} values but the input has {rank} spatial "
                f"dimension{'s' if rank != 1 else ''} ({dims}); received {attr}={show(list(value))}; "
                f"allowed: one value, or {rank}",
                attr,
            )
        return value

    def spatial_input(self, shape: Shape, layout: Layout, index: int = 0) -> tuple[int, Shape]:
        """(channels, spatial) of an input that must have this type's spatial rank."""
        want = self.rank
        got = len(shape) - 1
        if (want is not None and got != want) or got < 1:
            allowed = layout.describe(want) if want else "a (C, ...) input with spatial dimensions"
            raise self.fail(
                f"needs a {allowed} input; received {self.received(shape, index)}; "
                f"allowed: {want + 1 if want else 'at least 2'} dimensions"
            )
        return layout.split(shape)

    def check_in(self, channels: int) -> None:
        """Compare a user-given `in` (in_channels / in_features) with the inferred one."""
        expected = self.values.get("in")
        if expected is not None and expected != channels:
            raise self.fail(
                f"in={expected} was given, but the input has {channels} "
                f"(received {self.received_input_text()}); channels coming in are inferred, "
                "so 'in' can be left out",
                "in",
            )

    def received_input_text(self) -> str:
        return f"from '{self.sources[0]}'" if self.sources else "from the input"


def keras_axes(axis: Any, shape: Shape) -> tuple[int, ...]:
    """Keras's `axis` (an int or a list, counted with the batch: 0 is the batch, -1 the
    last) as a sorted tuple of axes of a sample of this shape (0 its first)."""
    rank = len(shape) + 1
    axes = axis if isinstance(axis, list) else [axis]
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) and -rank <= a < rank for a in axes):
        raise AttrError(f"axis={show(axis)} is not an axis of its {format_shape(shape)} input; allowed: 1 to {rank - 1} or -1 to {-rank + 1}")
    found = sorted({a % rank for a in axes})
    if found[0] == 0:
        raise AttrError(f"axis={show(axis)} includes the batch axis; allowed: axes of a sample, 1 to {rank - 1} or -1 to {-rank + 1}")
    return tuple(a - 1 for a in found)


def channels_first(x, layout: Layout):
    """A batched tensor in PyTorch's (N, C, *spatial) order (a view, no copy)."""
    return x if not layout.channels_last or x.ndim < 3 else x.transpose(0, x.ndim - 1, *range(1, x.ndim - 1))


def channels_back(y, layout: Layout):
    """The inverse of channels_first: back to the file's layout."""
    return y if not layout.channels_last or y.ndim < 3 else y.transpose(0, *range(2, y.ndim), 1)


def channel_axis(x, layout: Layout) -> int:
    """The channel axis of a batched tensor in the file's layout."""
    return x.ndim - 1 if layout.channels_last and x.ndim > 2 else 1


class Registry:
    """Layer types by every spelling: case, '_' and '-' do not matter."""

    def __init__(self) -> None:
        self._by_key: dict[str, type[Layer]] = {}
        self.types: list[type[Layer]] = []

    @staticmethod
    def key(name: str) -> str:
        return re.sub(r"[_\-\s]", "", name.lower())

    def register(self, name: str, *aliases: str, **settings: Any):
        """Decorator: register a class under a canonical name and aliases."""

        def decorate(cls: type[Layer]) -> type[Layer]:
            return self.variant(cls, name, *aliases, **settings)

        return decorate

    def variant(self, base: type[Layer], name: str, *aliases: str, **settings: Any) -> type[Layer]:
        """A registered subclass of base with fixed settings (rank=2, primary=...)."""
        title = "".join(part.capitalize() for part in re.split(r"[_\d]+", name) if part) + re.sub(r"\D", "", name)
        cls = type(
            title,
            (base,),
            {"type_name": name, "aliases": aliases, **settings, "__doc__": base.__doc__, "__module__": base.__module__},
        )
        for spelling in (name, *aliases):
            key = self.key(spelling)
            if self._by_key.get(key, cls) is not cls:
                raise RuntimeError(f"layer name {spelling!r} registered twice")
            self._by_key[key] = cls
        self.types.append(cls)
        return cls

    def get(self, name: str) -> type[Layer] | None:
        return self._by_key.get(self.key(name))

    def spellings(self) -> list[str]:
        return [s for cls in self.types for s in (cls.type_name, *cls.aliases)]

    def suggest(self, name: str) -> str:
        hint = did_you_mean(name, self.spellings())
        if hint:
            return hint
        # A typo in the rank digit or a missing one (conv2 → conv2d) is common.
        stem = self.key(name).rstrip("0123456789d")
        near = [cls.type_name for cls in self.types if self.key(cls.type_name).startswith(stem) and stem]
        return f" (did you mean '{near[0]}'?)" if near else ""


REGISTRY = Registry()
