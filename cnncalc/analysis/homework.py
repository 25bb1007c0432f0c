"""Homework mode: one layer's output size with the working, inverse design, and checking
a student's answers against the computed figures.

Every number comes from the same window arithmetic as the analysis (windows.py); this
module only writes the working out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..errors import CnnError, CnnWarning, WarningKind, kind_of, silenced, visible
from ..i18n import tr
from ..layers.base import SPATIAL_NAMES, product
from ..numbers import per_axis
from ..layers.windows import AXIS_NOUNS, TransposedWindow, Window, effective_kernel, keras_transposed_size, same_padding, unread_phrases


@dataclass(frozen=True)
class Size:
    """One dimension's output size, the lines of working, and warnings."""

    output: int
    working: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def conv_size(n: int, k: int, s: int = 1, p: int | str = 0, d: int = 1, *, pool: bool = False, ceil: bool = False,
              axis: str | None = None) -> Size:
    """A convolution's or pooling's output size (PyTorch's integer padding, TensorFlow's
    'same' and 'valid'), worked out step by step."""
    ke = effective_kernel(k, d)
    lines = []
    if p == "same":
        before, after = same_padding(n, k, s, d)
        out = -(-n // s)
        lines += [
            tr("size.same.rule"),
            tr("size.same.numbers", n=n, s=s, out=out),
            tr("size.same.padding_rule"),
            tr("size.same.padding_numbers", out1=out - 1, s=s, d=d, k1=k - 1, n=n, total=before + after, before=before, after=after),
        ]
        window = Window(k, s, d, before, after)
    else:
        pad = 0 if p == "valid" else p
        window = Window(k, s, d, pad, pad, ceil)
        rounding = "ceil" if ceil else "floor"
        padding = f"2*{pad}" if pad else "0"
        span = n + 2 * pad - ke
        lines += [
            tr("size.conv.rule" if p != "valid" else "size.valid.rule", rounding=rounding),
            f"    = {rounding}(({n} + {padding} - {d}*({k} - 1) - 1) / {s}) + 1",
            f"    = {rounding}({span} / {s}) + 1",
        ]
        if span < 0 and not ceil:
            raise CnnError(tr("size.no_fit", padded=n + 2 * pad, span=ke))
        out = (-(-span // s) if ceil else span // s) + 1
        lines.append(f"    = {out - 1} + 1 = {out}")
        if ceil and (out - 1) * s >= n + pad:
            lines.append(tr("size.ceil.dropped", last=out - 1, s=s, start=(out - 1) * s, limit=n + pad, out=out - 1))
            out -= 1
    if out < 1:
        raise CnnError(tr("size.empty", out=out))
    return Size(out, tuple(lines), unread_warnings(window, n, axis))


def unread_warnings(window: Window, n: int, axis: str | None) -> tuple[CnnWarning, ...]:
    """The input positions no window reads, in words about the axis (windows.unread_phrases);
    leftovers at the end are the inexact division's remainder, and say so."""
    unread = window.unread(n)
    warnings = []
    for kind, phrase in unread_phrases(unread, window, axis, whose="the") if unread.total else ():
        if kind is WarningKind.UNREACHED and unread.only_a_tail:
            count, noun = len(unread.last), tr(f"axis.{axis if axis in AXIS_NOUNS else 'L'}")
            phrase = tr("size.tail.one" if count == 1 else "size.tail.many", count=count, n=n, noun=noun, first=unread.last[0],
                        last=unread.last[-1], padded=window.padded(n), span=window.extent,
                        rest=window.padded(n) - window.extent, s=window.stride)
        warnings.append(CnnWarning(kind, phrase))
    return tuple(warnings)


def transposed(n: int, k: int, s: int = 1, p: int | str = 0, d: int = 1, output_padding: int | None = None) -> Size:
    """A transposed convolution's output size: PyTorch's for integer padding, Keras's for
    'same' and 'valid'."""
    ke = effective_kernel(k, d)
    if output_padding and output_padding >= (s if isinstance(p, str) else max(s, d)):
        key = "size.output_padding_large.keras" if isinstance(p, str) else "size.output_padding_large.torch"
        raise CnnError(tr(key, value=output_padding, s=s, d=d))
    if isinstance(p, str):
        out = keras_transposed_size(n, k, s, d, p, output_padding)
        if output_padding is None:
            formula = tr("size.keras_transposed.same" if p == "same" else "size.keras_transposed.valid")
            numbers = f"    = {n}*{s}" if p == "same" else f"    = ({n} - 1)*{s} + max({ke}, {s})"
        else:
            pad = ke // 2 if p == "same" else 0
            rule = tr("size.keras_transposed.span") if p == "same" else "0"
            formula = tr("size.keras_transposed.padded", padding=p, pad_rule=rule)
            numbers = f"    = ({n} - 1)*{s} + {ke} - 2*{pad} + {output_padding}"
        lines = [formula, f"{numbers} = {out}"]
    else:
        extra = output_padding or 0
        out = TransposedWindow(k, s, d, p, p, extra).output_size(n)
        lines = [
            tr("size.transposed.rule"),
            f"    = ({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {extra} + 1",
            f"    = {out}",
        ]
    if out < 1:
        raise CnnError(tr("size.empty_transposed", out=out))
    return Size(out, tuple(lines))


@dataclass(frozen=True)
class SizeAnswer:
    """`cnncalc size`: the output size per axis, each with its working, and the warnings."""

    axes: tuple[Size, ...]
    warnings: tuple[str, ...]

    @property
    def outputs(self) -> tuple[int, ...]:
        return tuple(axis.output for axis in self.axes)


def size(n: str, kernel: str, stride: str | None = None, padding: str | None = None, dilation: str | None = None, *,
         transposed_conv: bool = False, output_padding: int | None = None, pool: bool = False, ceil: bool = False,
         strict: bool = False, ignore: Iterable[WarningKind] = ()) -> SizeAnswer:
    """One layer's output size for N or HxW, each option '3' or one value per axis ('3x3').
    Warnings of the kinds in `ignore` are dropped (--no-warn), and --strict does not see them."""
    sizes = per_axis(n, "N", len(n.split("x")))
    if any(v is None or v < 1 for v in sizes):
        raise CnnError(tr("size.bad_n", n=n))
    axes = len(sizes)
    names = SPATIAL_NAMES.get(axes, (None,) * axes) if axes > 1 else (None,)
    ks = per_axis(kernel, "-k", axes)
    ss = per_axis(stride, "-s", axes) if stride else (ks if pool else [1] * axes)
    ps = per_axis(padding, "-p", axes, ("same", "valid")) if padding else [0] * axes
    ds = per_axis(dilation, "-d", axes) if dilation else [1] * axes
    for name, values, low in (("-k", ks, 1), ("-s", ss, 1), ("-d", ds, 1)):
        if any(v < low for v in values):
            raise CnnError(tr("size.at_least", option=name, low=low, value="x".join(map(str, values))))
    if ceil and not pool:
        raise CnnError(tr("size.ceil_without_pool"))
    if transposed_conv and pool:
        raise CnnError(tr("size.transposed_and_pool"))
    if output_padding is not None and not transposed_conv:
        raise CnnError(tr("size.output_padding_alone"))
    results = []
    for i in range(axes):
        if transposed_conv:
            results.append(transposed(sizes[i], ks[i], ss[i], ps[i], ds[i], output_padding))
        else:
            results.append(conv_size(sizes[i], ks[i], ss[i], ps[i], ds[i], pool=pool, ceil=ceil, axis=names[i]))
    warnings = [w if axes == 1 else w.reworded(tr("size.axis_warning", axis=names[i], warning=w)) for i, r in enumerate(results) for w in r.warnings]
    warnings = list(silenced(warnings, ignore=ignore))
    if strict and warnings:
        raise CnnError(tr("size.strict", warning=warnings[0]))
    return SizeAnswer(tuple(results), tuple(warnings))


# -- inverse design ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One layer setting that turns the input size into the output size."""

    kernel: int
    stride: int
    padding: int | str
    dilation: int = 1
    output_padding: int | None = None  # transposed convolutions (PyTorch's; None for Keras's words)
    inexact: bool = False  # input rows never under a window
    convention: str = field(default="PyTorch", compare=False)

    @property
    def holes(self) -> bool:
        """A kernel span shorter than the stride: a convolution skips inputs, a transposed
        convolution leaves output positions that no input reaches (zeros, 'holes')."""
        return effective_kernel(self.kernel, self.dilation) < self.stride

    def rank(self) -> tuple:
        """Standard, hole-free designs first: exact division, kernel >= stride, no dilation,
        numeric padding before the words, then the smallest stride, kernel, padding,
        output_padding (so k3 s2 p1 op1 comes before k5 s2 p2 op1)."""
        return (self.inexact, self.holes, self.dilation != 1, isinstance(self.padding, str), self.stride, self.kernel,
                str(self.padding).zfill(12), self.dilation, self.output_padding or 0)

    def describe(self) -> str:
        parts = [tr("solve.setting", kernel=self.kernel, stride=self.stride, padding=self.padding)]
        if self.output_padding:
            parts.append(tr("solve.output_padding", value=self.output_padding))
        if self.dilation != 1:
            parts.append(tr("solve.dilation", dilation=self.dilation))
        flags = [self.convention]
        if self.inexact:
            flags.append(tr("solve.flag.inexact"))
        if self.holes:
            flags.append(tr("solve.flag.checkerboard" if self.output_padding is not None else "solve.flag.holes"))
        return ", ".join(parts) + f"  ({', '.join(flags)})"


@dataclass(frozen=True)
class Ranges:
    """What `solve` searches: kernel 1..kernels, stride 1..strides, dilation 1..dilations
    (only for kernels up to 11), padding 0..kernel span - 1, 'same' and 'valid', and for a
    transposed convolution every output_padding below max(stride, dilation)."""

    kernels: int
    strides: int
    dilations: int

    @staticmethod
    def of(n_in: int, n_out: int, transposed_conv: bool, pool: bool) -> "Ranges":
        """As large as the sizes call for: a stride up to twice the ratio of the sizes (at
        least 4), a kernel up to twice the stride plus one (at least 11)."""
        ratio = -(-n_out // n_in) if transposed_conv else -(-n_in // n_out)
        strides = max(4, 2 * ratio)
        return Ranges(max(11, 2 * strides + 1), strides, 1 if pool else 3)

    def dilations_for(self, kernel: int) -> range:
        return range(1, self.dilations + 1) if kernel <= 11 else range(1, 2)


SEARCH_LIMIT = 200_000  # settings tried (about 1 s); beyond, fix -k or -s


def solve(n_in: int, n_out: int, kernel=None, stride=None, padding=None, dilation=None,
          transposed_conv: bool = False, pool: bool = False, output_padding: int | None = None) -> list[Setting]:
    """Every setting within `Ranges.of(...)` (or with the given values fixed) that turns
    n_in into n_out, standard designs first. `padding` may be text as typed ('1', 'same')."""
    if isinstance(padding, str):
        if padding.lower() in ("same", "valid"):
            padding = padding.lower()
        elif padding.strip().isdigit():
            padding = int(padding)
        else:
            raise CnnError(tr("solve.bad_padding", value=padding))
    ranges = Ranges.of(n_in, n_out, transposed_conv, pool)
    kernels = [kernel] if kernel else range(1, ranges.kernels + 1)
    strides = [stride] if stride else range(1, ranges.strides + 1)
    dilated = 1 if dilation or pool else ranges.dilations
    count = len(strides) * sum(len(ranges.dilations_for(k)) if dilated > 1 else 1 for k in kernels[:12]) + len(strides) * max(len(kernels) - 12, 0)
    if count > SEARCH_LIMIT:
        raise CnnError(tr("solve.too_large", count=count, limit=SEARCH_LIMIT))
    found = set()
    for k in kernels:
        for s in strides:
            for d in [dilation] if dilation else ([1] if pool else ranges.dilations_for(k)):
                ke = effective_kernel(k, d)
                if transposed_conv:
                    found.update(_transposed_settings(n_in, n_out, k, s, d, padding, output_padding))
                    continue
                pads = [padding] if padding is not None else [*candidate_paddings(n_in, n_out, ke, s), "same", "valid"]
                for p in pads:
                    if pool and isinstance(p, int) and p > k // 2:
                        continue
                    if isinstance(p, str) and s > 1 and d > 1:
                        continue  # TensorFlow and Keras refuse a stride with a dilation
                    window = Window(k, s, d, *same_padding(n_in, k, s, d)) if p == "same" else Window(k, s, d, *([0, 0] if p == "valid" else [p, p]))
                    if window.output_size(n_in) == n_out:
                        convention = "TensorFlow" if isinstance(p, str) else "PyTorch"
                        found.add(Setting(k, s, p, d, None, bool(window.unused_inputs(n_in)), convention))
    return sorted(found, key=Setting.rank)


def _transposed_settings(n_in: int, n_out: int, k: int, s: int, d: int, padding, output_padding):
    """PyTorch: out = (n_in - 1)*s - 2p + ke + output_padding, output_padding < max(s, d);
    Keras's 'same' and 'valid' (without output_padding)."""
    ke = effective_kernel(k, d)
    extras = [output_padding] if output_padding is not None else range(max(s, d))
    for extra in extras:
        if extra >= max(s, d):
            continue
        if padding is None or isinstance(padding, int):
            twice = (n_in - 1) * s + ke + extra - n_out
            if twice >= 0 and twice % 2 == 0 and (padding is None or padding == twice // 2) and twice // 2 <= ke - 1:
                yield Setting(k, s, twice // 2, d, extra)
    if output_padding is None and not (s > 1 and d > 1):  # Keras refuses a stride with a dilation
        for word in ["same", "valid"] if padding is None else [padding] if isinstance(padding, str) else []:
            if keras_transposed_size(n_in, k, s, d, word, None) == n_out:
                yield Setting(k, s, word, d, None, convention="Keras")


def candidate_paddings(n_in: int, n_out: int, ke: int, s: int) -> range:
    """The paddings from 0 to ke - 1 that can give n_out (each is then checked exactly): a
    handful, found from the size rule instead of trying every one. n_out = floor((n_in + 2p
    - ke) / s) + 1, so 2p lies in [(n_out - 1)*s + ke - n_in, that + s - 1]."""
    base = (n_out - 1) * s + ke - n_in
    low, high = -(-base // 2), (base + s - 1) // 2
    return range(max(low, 0), min(high, ke - 1) + 1)


@dataclass(frozen=True)
class Solution:
    """`cnncalc solve` for one axis: the sizes, the ranges searched and the settings."""

    n_in: int
    n_out: int
    ranges: Ranges
    settings: tuple[Setting, ...]


def solve_axes(n_in: str, n_out: str, kernel=None, stride=None, padding=None, dilation=None,
               transposed_conv: bool = False, pool: bool = False, output_padding: int | None = None) -> list[Solution]:
    """`solve` for N or HxW: one solution per distinct (in, out) pair of axes."""
    ins, outs = _sizes(n_in, "--in"), _sizes(n_out, "--out")
    if len(ins) != len(outs):
        raise CnnError(tr("solve.axes_differ", n_in=n_in, n_out=n_out))
    if transposed_conv and pool:
        raise CnnError(tr("size.transposed_and_pool"))
    if output_padding is not None and not transposed_conv:
        raise CnnError(tr("size.output_padding_alone"))
    pairs = list(dict.fromkeys(zip(ins, outs)))
    return [Solution(a, b, Ranges.of(a, b, transposed_conv, pool),
                     tuple(solve(a, b, kernel, stride, padding, dilation, transposed_conv, pool, output_padding)))
            for a, b in pairs]


def _sizes(text: str, option: str) -> list[int]:
    parts = str(text).lower().replace("×", "x").split("x")
    if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise CnnError(tr("solve.bad_size", option=option, value=text))
    return [int(part) for part in parts]


# -- the working of one layer of a network -------------------------------------------------------
def layer_working(node, row, in_shapes, layout, batch: int) -> dict[str, list[str]]:
    """Lines of working per quantity (output_shape, params, macs, receptive_field): the
    layer's own (Layer.working), then what every layer shares."""
    facts = node.layer.infer(tuple(in_shapes), layout)
    own = node.layer.working(tuple(in_shapes), facts, layout, batch)
    work = {
        "output_shape": [*own.output_shape, tr("work.output_shape", shape=tuple(row.output_shape))],
        "params": list(own.params),
        "macs": list(own.macs) or [tr("work.no_macs")],
        "receptive_field": [],
    }
    if row.running_stats:
        work["params"].append(tr("work.running_stats", count=row.running_stats))
    field_ = row.receptive_field
    if field_ is None:
        status = row.field_status
        work["receptive_field"].append(tr("work.global" if status == "global" else "work.undefined", note=row.field_note))
    else:
        from ..units import per_dim_text as text

        work["receptive_field"].append(tr("work.field", size=text(field_.size), stride=text(field_.stride), padding=text(field_.padding)))
        if field_.context:
            work["receptive_field"].append(row.field_note)
    return work


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' in the current language, or ''."""
    from ..errors import did_you_mean as english

    hint = english(word, choices)
    return tr("hint.did_you_mean", word=hint.split("'")[1]) if hint else ""


def explain(network, summary, name: str | None) -> str:
    rows = {row.name: row for row in summary.layers}
    if name is not None and name not in rows:
        raise CnnError(tr("work.no_layer", name=name, hint=did_you_mean(name, rows)))
    shapes = {"input": network.input_shape, **{row.name: row.output_shape for row in summary.layers}}
    blocks = []
    titles = (("work.title.output", "output_shape"), ("work.title.params", "params"), ("work.title.macs", "macs"),
              ("work.title.field", "receptive_field"))
    for node, row in zip(network.nodes, summary.layers):
        if name is not None and row.name != name:
            continue
        work = layer_working(node, row, [shapes[i] for i in node.inputs], network.layout, summary.batch)
        inputs = " + ".join(str(tuple(shapes[i])) for i in node.inputs)
        lines = [tr("work.header", name=row.name, type=row.type, inputs=inputs)]
        for key, quantity in titles:
            title = tr(key)
            lines += [f"  {title}: {work[quantity][0]}"] + [f"  {' ' * _width(title)}  {line}" for line in work[quantity][1:]]
        blocks.append("\n".join(visible(line) for line in lines))  # names from the file, shown inert
    return "\n\n".join(blocks) + "\n"


def _width(text: str) -> int:
    """Columns a text takes on a terminal (Hangul syllables take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


# -- reading a student's answers -----------------------------------------------------------------
FIELDS = ("output_shape", "params", "macs", "flops", "receptive_field")
TOTAL_FIELDS = ("params", "trainable_params", "non_trainable_params", "macs", "flops")
CONVENTIONS = ("cnncalc", "2macs")
SEPARATORS = re.compile(r"\s*(?:x|×|\*|,)\s*|\s+")


@dataclass(frozen=True)
class Answer:
    """A student's answer as read: the value, and how it was read when that is worth saying."""

    value: object
    read_as: str = ""


def read_number(given) -> int | None:
    """401536, 401536.0, '401536', '401,536', '401_536', '401 536' as 401536; else None."""
    if isinstance(given, bool):
        return None
    if isinstance(given, int):
        return given
    if isinstance(given, float) and given.is_integer():
        return int(given)
    if isinstance(given, str):
        digits = re.sub(r"[,_\s]", "", given.strip())
        if digits.isdigit() and re.fullmatch(r"\d{1,3}(,\d{3})*|\d+|\d{1,3}(_\d{3})*|\d{1,3}( \d{3})*", given.strip()):
            return int(digits)
    return None


def read_sizes(given) -> list[int] | None:
    """A shape or a size written any usual way: [32, 26, 26], 32x26x26, '32 x 26 x 26',
    '(32, 26, 26)', '[32, 26, 26]', 32×26×26, {size: ...}, {shape: ...}; None if not one."""
    if isinstance(given, dict) and len(given) == 1 and next(iter(given)) in ("size", "shape"):
        return read_sizes(next(iter(given.values())))
    number = read_number(given)
    if number is not None:
        return [number]
    if isinstance(given, list):
        values = [read_number(item) for item in given]
        return values if values and all(v is not None for v in values) else None
    if isinstance(given, str):
        inner = given.strip()
        if inner[:1] + inner[-1:] in ("()", "[]"):
            inner = inner[1:-1]
        parts = [part for part in SEPARATORS.split(inner.lower().strip()) if part]
        if parts and all(part.isdigit() for part in parts):
            return [int(part) for part in parts]
    return None


def read_answer(field_name: str, given) -> Answer | None:
    """The answer for a field, or None when it cannot be read as one."""
    if field_name in ("output_shape", "receptive_field"):
        sizes = read_sizes(given)
        if sizes is None:
            return None
        value = sizes if field_name == "output_shape" or len(sizes) > 1 else sizes[0]
        return Answer(value, "" if isinstance(given, (int, list)) and given == value else str(value))
    number = read_number(given)
    return None if number is None else Answer(number, "" if given == number and not isinstance(given, float) else f"{number:,}")


# -- checking a student's answers ----------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    layer: str
    field: str
    given: object
    right: object
    ok: bool
    note: str = ""
    working: tuple[str, ...] = ()
    read_as: str = ""


def check(network, summary, answers_text: str, answers_path: str) -> list[Mark]:
    """Every answer against the computed figure; unknown layers and fields, and answers that
    cannot be read, are bad input (all of them reported at once)."""
    from ..errors import CnnErrors
    from ..source.yamltree import load

    root = load(answers_text, answers_path, tuples_as_lists=True)
    if not root.is_mapping:
        raise CnnError(tr("check.not_mapping"), root.location)
    rows = {row.name: row for row in summary.layers}
    shapes = {"input": network.input_shape, **{row.name: row.output_shape for row in summary.layers}}
    nodes = {node.name: node for node in network.nodes}
    convention = "cnncalc"
    if "flops_convention" in root.value:
        node = root.value["flops_convention"]
        convention = str(node.plain()).lower()
        if convention not in CONVENTIONS:
            raise CnnError(tr("check.bad_convention", value=node.plain(), hint=did_you_mean(str(node.plain()), CONVENTIONS),
                              allowed=", ".join(CONVENTIONS)), node.location)
    marks, errors = [], []
    for name, node in root.value.items():
        if name == "flops_convention":
            continue
        if name != "total" and name not in rows:
            errors.append(CnnError(tr("check.no_layer", name=name, hint=did_you_mean(name, [*rows, "total"])), node.key_location))
            continue
        if not node.is_mapping:
            errors.append(CnnError(tr("check.layer_not_mapping", name=name), node.location))
            continue
        allowed = TOTAL_FIELDS if name == "total" else FIELDS
        for field_name, answer in node.value.items():
            if field_name not in allowed:
                errors.append(CnnError(tr("check.unknown_field", field=field_name, hint=did_you_mean(field_name, allowed),
                                          allowed=", ".join(allowed)), answer.key_location))
                continue
            read = read_answer(field_name, answer.plain())
            if read is None:
                kind = {"output_shape": "check.allowed.shape", "receptive_field": "check.allowed.field"}.get(field_name, "check.allowed.number")
                errors.append(CnnError(tr("check.unreadable", name=name, field=field_name, given=answer.plain(), allowed=tr(kind)),
                                       answer.location))
                continue
            if errors:
                continue
            if name == "total":
                mark = _total_mark(summary, field_name, read.value, convention, _bias_counts(network, shapes))
            else:
                node_ = nodes[name]
                in_shapes = tuple(shapes[i] for i in node_.inputs)
                work = layer_working(node_, rows[name], in_shapes, network.layout, summary.batch)
                mark = _layer_mark(node_.layer, rows[name], field_name, read.value, work, network.layout, in_shapes, convention)
            marks.append(replace(mark, given=answer.plain(), read_as=read.read_as))
    if errors:
        raise errors[0] if len(errors) == 1 else CnnErrors(errors)
    return marks


def _bias_counts(network, shapes) -> dict[str, int]:
    """Learnable parameters named 'bias' per layer (a total without them is a slip)."""
    counts = {}
    for node in network.nodes:
        facts = node.layer.infer(tuple(shapes[i] for i in node.inputs), network.layout)
        counts[node.name] = sum(product(shape) for name, shape in facts.params.items() if name.endswith("bias"))
    return counts


def _flops_mark(layer: str, given, macs: int, flops: int, convention: str, working: tuple[str, ...]) -> Mark:
    if convention == "2macs":
        line = tr("note.flops_convention", macs=macs, flops=2 * macs)
        return Mark(layer, "flops", given, 2 * macs, given == 2 * macs, "" if given == 2 * macs else line, (line,))
    note = ""
    if given != flops and given == 2 * macs:
        note = tr("note.flops_2macs", macs=macs)
    elif given != flops and given == macs:
        note = tr("note.flops_is_macs")
    return Mark(layer, "flops", given, flops, given == flops, note, working)


def _total_mark(summary, field_name: str, given, convention: str, biases: dict[str, int]) -> Mark:
    right = getattr(summary.totals, field_name)
    working = tuple(f"{row.name}: {getattr(row, field_name):,}" for row in summary.layers if getattr(row, field_name))
    working += (f"= {right:,}",)
    if field_name == "flops":
        return _flops_mark("total", given, summary.totals.macs, right, convention, working)
    note = ""
    if given != right:
        if field_name == "params" and given == summary.totals.params + summary.totals.running_stats:
            note = tr("note.keras_total")
        elif field_name == "macs" and given == 2 * right:
            note = tr("note.macs_is_flops")
        elif field_name == "params" and sum(biases.values()) and given == right - sum(biases.values()):
            note = tr("note.total_no_bias", biases=sum(biases.values()))
        elif field_name == "params":
            alone = next((row.name for row in summary.layers if row.params == given), None)
            bare = next((row.name for row in summary.layers if biases.get(row.name) and row.params - biases[row.name] == given), None)
            note = tr("note.total_one_layer", layer=alone) if alone else tr("note.total_one_layer_no_bias", layer=bare) if bare else ""
    return Mark("total", field_name, given, right, given == right, note, working)


def _layer_mark(layer, row, field_name: str, given, work, layout, in_shapes, convention: str) -> Mark:
    if field_name == "output_shape":
        right = list(row.output_shape)
        ok = given == right
        note = "" if ok else _shape_note(layer, right, given, layout, in_shapes)
        if not ok and len(given) == len(right) - 1 and given == list(layout.split(tuple(right))[1]):
            ok, note = True, tr("note.spatial_only", spatial="x".join(map(str, given)), right=right)
        return Mark(row.name, field_name, given, right, ok, note, tuple(work["output_shape"]))
    if field_name == "receptive_field":
        field_ = row.receptive_field
        right = None if field_ is None else (field_.size[0] if len(set(field_.size)) == 1 else list(field_.size))
        sizes = None if field_ is None else list(field_.size)
        wrote = [given] * len(sizes or []) if isinstance(given, int) else given  # 5 means 5 along every axis
        ok = sizes is not None and wrote == sizes
        return Mark(row.name, field_name, given, right, ok, "", tuple(work["receptive_field"]))
    if field_name == "flops":
        return _flops_mark(row.name, given, row.macs, row.flops, convention, ())
    right = getattr(row, field_name)
    note = ""
    if field_name == "params" and given != right:
        note = layer.params_note(given, layer.infer(in_shapes, layout), in_shapes)
    if field_name == "macs" and given != right and given == 2 * right:
        note = tr("note.macs_is_flops")
    return Mark(row.name, field_name, given, right, given == right, note, tuple(work["params" if field_name == "params" else "macs"]))


def _shape_note(layer, right: list, given: list, layout, in_shapes) -> str:
    """What a wrong output shape suggests: the layout order swapped, a batch axis, the
    padding ('same' for 'valid' and back) or the stride or padding off by one."""
    if len(given) == len(right) + 1 and given[1:] == right:
        return tr("note.batch")
    if len(given) == len(right) > 1:
        moved = right[1:] + right[:1] if not layout.channels_last else right[-1:] + right[:-1]
        if given == moved:
            return tr("note.layout_cf" if layout.channels_last else "note.layout_cl", right=right)
        if len(in_shapes) == 1 and len(in_shapes[0]) == len(right):
            (channels, spatial), (wrote, wrote_spatial) = layout.split(tuple(right)), layout.split(tuple(given))
            arriving = layout.split(tuple(in_shapes[0]))[0]
            if wrote_spatial == spatial and wrote == arriving != channels:
                return tr("note.channels_from_input", out=channels, channels=arriving)
    for attribute, value, key in _variants(layer):
        try:
            shape = layer.replaced(**{attribute: value}).infer(tuple(in_shapes), layout).output_shape
        except CnnError:
            continue
        if list(shape) == given:
            return tr(key, other=_text(value), actual=_text(layer.values.get(attribute)))
    return ""


def _variants(layer):
    """The classic slips on a windowed layer's attributes: 'same' for 'valid' and back, the
    padding or the stride one off (as (attribute, other value, message key))."""
    values = layer.values
    padding = values.get("padding")
    if "padding" in values:
        if padding != "same":
            yield "padding", "same", "note.padding_swapped"
        if padding not in (0, "valid"):
            yield "padding", "valid" if padding == "same" else 0, "note.padding_swapped"
        if isinstance(padding, int) and not isinstance(padding, bool):
            for other in (padding - 1, padding + 1):
                if other >= 0:
                    yield "padding", other, "note.padding_off"
    stride = values.get("stride")
    if "stride" in values and isinstance(stride, int) and not isinstance(stride, bool):
        for other in (stride - 1, stride + 1):
            if other >= 1:
                yield "stride", other, "note.stride_off"


def _text(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
