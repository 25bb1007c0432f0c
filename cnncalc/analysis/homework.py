"""Homework mode: one layer's output size with the working, inverse design, and checking
a student's answers against the computed figures.

Every number comes from the same window arithmetic as the analysis (windows.py); this
module only writes the working out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import CnnError, CnnWarning, WarningKind, kind_of, silenced, visible
from ..layers.base import SPATIAL_NAMES
from ..numbers import per_axis
from ..layers.windows import TransposedWindow, Window, effective_kernel, keras_transposed_size, same_padding, unread_phrases


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
            "TensorFlow 'same': out = ceil(in / stride)",
            f"    = ceil({n} / {s}) = {out}",
            "padding = max((out - 1)*stride + dilation*(kernel - 1) + 1 - in, 0)",
            f"    = max({out - 1}*{s} + {d}*{k - 1} + 1 - {n}, 0) = {before + after}: {before} before, {after} after",
        ]
        window = Window(k, s, d, before, after)
    else:
        pad = 0 if p == "valid" else p
        window = Window(k, s, d, pad, pad, ceil)
        rounding = "ceil" if ceil else "floor"
        padding = f"2*{pad}" if pad else "0"
        span = n + 2 * pad - ke
        lines += [
            f"out = {rounding}((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1"
            + ("   (PyTorch)" if p != "valid" else "   ('valid': no padding)"),
            f"    = {rounding}(({n} + {padding} - {d}*({k} - 1) - 1) / {s}) + 1",
            f"    = {rounding}({span} / {s}) + 1",
        ]
        if span < 0 and not ceil:
            raise CnnError(
                f"the window does not fit: the padded input has {n + 2 * pad} positions but the kernel spans {ke}; "
                "allowed: a smaller kernel or dilation, or more padding"
            )
        out = (-(-span // s) if ceil else span // s) + 1
        lines.append(f"    = {out - 1} + 1 = {out}")
        if ceil and (out - 1) * s >= n + pad:
            lines.append(
                f"the last window would start at {out - 1}*{s} = {(out - 1) * s}, in the right padding "
                f"(>= in + padding = {n + pad}): dropped, so out = {out - 1}   (PyTorch's ceil_mode rule)"
            )
            out -= 1
    if out < 1:
        raise CnnError(f"the output would have {out} positions; allowed: a smaller kernel or stride, or more padding")
    return Size(out, tuple(lines), unread_warnings(window, n, axis))


def unread_warnings(window: Window, n: int, axis: str | None) -> tuple[CnnWarning, ...]:
    """The input positions no window reads, in words about the axis (windows.unread_phrases);
    leftovers at the end are the inexact division's remainder, and say so."""
    unread = window.unread(n)
    warnings = []
    for kind, phrase in unread_phrases(unread, window, axis, whose="the") if unread.total else ():
        if kind is WarningKind.UNREACHED and unread.only_a_tail:
            span, s = window.padded(n) - window.extent, window.stride
            phrase = f"the division is not exact: {phrase} ({window.padded(n)} - {window.extent} = {span} is not a multiple of {s})"
        warnings.append(CnnWarning(kind, phrase))
    return tuple(warnings)


def transposed(n: int, k: int, s: int = 1, p: int | str = 0, d: int = 1, output_padding: int | None = None) -> Size:
    """A transposed convolution's output size: PyTorch's for integer padding, Keras's for
    'same' and 'valid'."""
    ke = effective_kernel(k, d)
    if output_padding and output_padding >= (s if isinstance(p, str) else max(s, d)):
        allowed = f"less than the stride {s} (Keras)" if isinstance(p, str) else f"less than the stride {s} or the dilation {d} (PyTorch)"
        raise CnnError(f"output_padding {output_padding} is too large; allowed: {allowed}")
    if isinstance(p, str):
        out = keras_transposed_size(n, k, s, d, p, output_padding)
        if output_padding is None:
            formula = "out = in * stride" if p == "same" else "out = (in - 1)*stride + max(dilation*(kernel - 1) + 1, stride)"
            numbers = f"    = {n}*{s}" if p == "same" else f"    = ({n} - 1)*{s} + max({ke}, {s})"
        else:
            pad = ke // 2 if p == "same" else 0
            formula = "out = (in - 1)*stride + dilation*(kernel - 1) + 1 - 2*pad + output_padding, pad = " + (
                "kernel span // 2" if p == "same" else "0"
            )
            numbers = f"    = ({n} - 1)*{s} + {ke} - 2*{pad} + {output_padding}"
        lines = [f"Keras '{p}': {formula}", f"{numbers} = {out}"]
    else:
        extra = output_padding or 0
        out = TransposedWindow(k, s, d, p, p, extra).output_size(n)
        lines = [
            "out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1   (PyTorch)",
            f"    = ({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {extra} + 1",
            f"    = {out}",
        ]
    if out < 1:
        raise CnnError(f"the output would have {out} positions; allowed: less padding")
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
        raise CnnError(f"N must be a positive size such as 28 or 224x224; received '{n}'")
    axes = len(sizes)
    names = SPATIAL_NAMES.get(axes, (None,) * axes) if axes > 1 else (None,)
    ks = per_axis(kernel, "-k", axes)
    ss = per_axis(stride, "-s", axes) if stride else (ks if pool else [1] * axes)
    ps = per_axis(padding, "-p", axes, ("same", "valid")) if padding else [0] * axes
    ds = per_axis(dilation, "-d", axes) if dilation else [1] * axes
    for name, values, low in (("-k", ks, 1), ("-s", ss, 1), ("-d", ds, 1)):
        if any(v < low for v in values):
            raise CnnError(f"{name} must be at least {low}; received {'x'.join(map(str, values))}")
    if ceil and not pool:
        raise CnnError("--ceil goes with --pool (PyTorch's ceil_mode is a pooling option)")
    if transposed_conv and pool:
        raise CnnError("--transposed and --pool are different layers; allowed: one of them")
    if output_padding is not None and not transposed_conv:
        raise CnnError("--output-padding goes with --transposed")
    results = []
    for i in range(axes):
        if transposed_conv:
            results.append(transposed(sizes[i], ks[i], ss[i], ps[i], ds[i], output_padding))
        else:
            results.append(conv_size(sizes[i], ks[i], ss[i], ps[i], ds[i], pool=pool, ceil=ceil, axis=names[i]))
    warnings = [w if axes == 1 else w.reworded(f"along {names[i]}: {w}") for i, r in enumerate(results) for w in r.warnings]
    warnings = list(silenced(warnings, ignore=ignore))
    if strict and warnings:
        raise CnnError(warnings[0] + " (--strict)")
    return SizeAnswer(tuple(results), tuple(warnings))


# -- inverse design ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """A layer setting, ordered simplest first: exact division, no dilation, small stride,
    small kernel, small padding."""

    inexact: bool
    dilation: int
    stride: int
    kernel: int
    padding: int | str
    convention: str = field(compare=False)

    def describe(self) -> str:
        parts = [f"kernel {self.kernel}", f"stride {self.stride}", f"padding {self.padding}"]
        if self.dilation != 1:
            parts.append(f"dilation {self.dilation}")
        return ", ".join(parts) + f"  ({self.convention}" + (", inexact division" if self.inexact else "") + ")"


KERNELS, STRIDES, DILATIONS = range(1, 12), range(1, 5), range(1, 4)


def solve(n_in: int, n_out: int, kernel=None, stride=None, padding=None, dilation=None,
          transposed_conv: bool = False, pool: bool = False) -> list[Setting]:
    """Every setting within the searched ranges (kernel 1-11, stride 1-4, dilation 1-3,
    padding 0 to the kernel span) that turns n_in into n_out, simplest first. `padding` may
    be text as typed ('1', 'same', 'valid')."""
    if isinstance(padding, str):
        padding = padding.lower() if padding.lower() in ("same", "valid") else per_axis(padding, "-p", 1)[0]
    found = set()
    for k in [kernel] if kernel else KERNELS:
        for s in [stride] if stride else STRIDES:
            for d in [dilation] if dilation else ([1] if pool else DILATIONS):
                ke = effective_kernel(k, d)
                pads = [padding] if padding is not None else [*candidate_paddings(n_in, n_out, ke, s, transposed_conv), "same", "valid"]
                for p in pads:
                    if pool and isinstance(p, int) and p > k // 2:
                        continue
                    try:
                        result = transposed(n_in, k, s, p, d) if transposed_conv else conv_size(n_in, k, s, p, d, pool=pool)
                    except CnnError:
                        continue
                    if result.output == n_out:
                        convention = ("Keras" if transposed_conv else "TensorFlow") if isinstance(p, str) else "PyTorch"
                        leftovers = any(kind_of(w) is WarningKind.UNREACHED for w in result.warnings)
                        found.add(Setting(leftovers, d, s, k, p, convention))
    return sorted(found, key=lambda x: (x.inexact, x.dilation, x.stride, x.kernel, isinstance(x.padding, str), str(x.padding)))


def candidate_paddings(n_in: int, n_out: int, ke: int, s: int, transposed_conv: bool) -> range:
    """The paddings from 0 to ke - 1 that can give n_out (each is then checked exactly): a
    handful, found from the size rule instead of trying every one (a kernel of 10^9 would
    mean 10^9 tries). Convolution: n_out = floor((n_in + 2p - ke) / s) + 1, so 2p lies in
    [(n_out - 1)*s + ke - n_in, that + s - 1]; transposed: 2p = (n_in - 1)*s + ke - n_out."""
    if transposed_conv:
        low = high = ((n_in - 1) * s + ke - n_out) // 2
    else:
        base = (n_out - 1) * s + ke - n_in
        low, high = -(-base // 2), (base + s - 1) // 2
    return range(max(low - 1, 0), min(high + 1, ke - 1) + 1)


# -- the working of one layer of a network -------------------------------------------------------
def layer_working(node, row, in_shapes, layout, batch: int) -> dict[str, list[str]]:
    """Lines of working per quantity (output_shape, params, macs, receptive_field): the
    layer's own (Layer.working), then what every layer shares."""
    facts = node.layer.infer(tuple(in_shapes), layout)
    own = node.layer.working(tuple(in_shapes), facts, layout, batch)
    work = {
        "output_shape": [*own.output_shape, f"output shape {tuple(row.output_shape)}"],
        "params": list(own.params),
        "macs": list(own.macs) or ["0: only convolutions and linear layers count multiply-accumulates"],
        "receptive_field": [],
    }
    if row.running_stats:
        work["params"].append(f"plus {row.running_stats:,} running statistics (not parameters; Keras counts them as non-trainable)")
    field = row.receptive_field
    if field is None:
        work["receptive_field"].append(f"{row.field_status}: {row.field_note}")
    else:
        from ..units import per_dim_text as text

        work["receptive_field"].append(
            f"r = {text(field.size)}, stride S = {text(field.stride)}, padding P = {text(field.padding)}"
            " (r_out = r_in + (effective kernel - 1) x S_in, S_out = S_in x stride)"
        )
        if field.context:
            work["receptive_field"].append(row.field_note)
    return work


def explain(network, summary, name: str | None) -> str:
    rows = {row.name: row for row in summary.layers}
    if name is not None and name not in rows:
        from ..errors import did_you_mean

        raise CnnError(f"no layer named '{name}'{did_you_mean(name, rows)}; 'cnncalc summary' lists them")
    shapes = {"input": network.input_shape, **{row.name: row.output_shape for row in summary.layers}}
    blocks = []
    for node, row in zip(network.nodes, summary.layers):
        if name is not None and row.name != name:
            continue
        work = layer_working(node, row, [shapes[i] for i in node.inputs], network.layout, summary.batch)
        lines = [f"{row.name} ({row.type}), input {' + '.join(str(tuple(shapes[i])) for i in node.inputs)}"]
        for title, key in (("output", "output_shape"), ("params", "params"), ("MACs", "macs"), ("receptive field", "receptive_field")):
            lines += [f"  {title}: {work[key][0]}"] + [f"  {' ' * len(title)}  {line}" for line in work[key][1:]]
        blocks.append("\n".join(visible(line) for line in lines))  # names from the file, shown inert
    return "\n\n".join(blocks) + "\n"


# -- checking a student's answers ----------------------------------------------------------------
FIELDS = ("output_shape", "params", "macs", "flops", "receptive_field")
TOTAL_FIELDS = ("params", "trainable_params", "non_trainable_params", "macs", "flops")


@dataclass(frozen=True)
class Mark:
    layer: str
    field: str
    given: object
    right: object
    ok: bool
    note: str = ""
    working: tuple[str, ...] = ()


def check(network, summary, answers_text: str, answers_path: str) -> list[Mark]:
    """Every answer against the computed figure; unknown layers and fields are bad input."""
    from ..errors import did_you_mean
    from ..source.yamltree import load

    root = load(answers_text, answers_path)
    if not root.is_mapping:
        raise CnnError("the answers must map layer names (and 'total') to their figures", root.location)
    rows = {row.name: row for row in summary.layers}
    shapes = {"input": network.input_shape, **{row.name: row.output_shape for row in summary.layers}}
    nodes = {node.name: node for node in network.nodes}
    marks = []
    for name, node in root.value.items():
        if name != "total" and name not in rows:
            raise CnnError(
                f"no layer named '{name}'{did_you_mean(name, [*rows, 'total'])}; allowed: a layer name or 'total'",
                node.key_location,
            )
        if not node.is_mapping:
            raise CnnError(f"the answers for '{name}' must be a mapping such as {{params: 320}}", node.location)
        allowed = TOTAL_FIELDS if name == "total" else FIELDS
        for field_name, answer in node.value.items():
            if field_name not in allowed:
                raise CnnError(
                    f"unknown field '{field_name}'{did_you_mean(field_name, allowed)}; allowed: {', '.join(allowed)}",
                    answer.key_location,
                )
            given = answer.plain()
            if isinstance(given, bool) or not isinstance(given, (int, float, str, list, type(None))):
                raise CnnError(
                    f"the answer for {name} {field_name} must be a number, a shape or a size; received "
                    f"{type(given).__name__} {given!s}",
                    answer.location,
                )
            if name == "total":
                marks.append(_total_mark(summary, field_name, given))
            else:
                node_ = nodes[name]
                in_shapes = tuple(shapes[i] for i in node_.inputs)
                work = layer_working(node_, rows[name], in_shapes, network.layout, summary.batch)
                marks.append(_layer_mark(node_.layer, rows[name], field_name, given, work, network.layout, in_shapes))
    return marks


def _total_mark(summary, field_name: str, given) -> Mark:
    right = getattr(summary.totals, field_name)
    note = ""
    if field_name == "params" and given == summary.totals.params + summary.totals.running_stats and given != right:
        note = "that is Keras's total, which counts BatchNorm's running statistics; PyTorch's parameters() does not"
    working = tuple(f"{row.name}: {getattr(row, field_name):,}" for row in summary.layers if getattr(row, field_name))
    return Mark("total", field_name, given, right, given == right, note, working + (f"sum: {right:,}",))


def _layer_mark(layer, row, field_name: str, given, work, layout, in_shapes) -> Mark:
    if field_name == "output_shape":
        right = list(row.output_shape)
        ok = isinstance(given, list) and given == right
        note = ""
        if not ok and isinstance(given, list) and len(given) == len(right) > 1:
            moved = right[1:] + right[:1] if not layout.channels_last else right[-1:] + right[:-1]
            if given == moved:
                note = (f"layout mix-up: these are the right sizes in {'channels_last (H, W, C)' if not layout.channels_last else 'channels_first (C, H, W)'} "
                        f"order, but the file is {layout.name}")
        if not ok and isinstance(given, list) and len(given) == len(right) + 1 and given[1:] == right:
            note = "this includes a batch dimension; shapes here are per sample"
        return Mark(row.name, field_name, given, right, ok, note, tuple(work["output_shape"]))
    if field_name == "receptive_field":
        field = row.receptive_field
        right = None if field is None else (field.size[0] if len(set(field.size)) == 1 else list(field.size))
        ok = given == right or (isinstance(given, int) and isinstance(right, list) and all(v == given for v in right))
        return Mark(row.name, field_name, given, right, ok, "", tuple(work["receptive_field"]))
    right = getattr(row, field_name)
    note = ""
    if field_name == "params" and given != right and isinstance(given, int) and not isinstance(given, bool):
        note = layer.params_note(given, layer.infer(in_shapes, layout), in_shapes)
    key = "params" if field_name == "params" else "macs"
    return Mark(row.name, field_name, given, right, given == right, note, tuple(work[key]) if field_name != "flops" else ())
