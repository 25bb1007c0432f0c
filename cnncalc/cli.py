"""The command line. Only this module imports click; it turns options into calls and
outcomes into exit codes: 0 success, 1 a difference found, 2 bad input or usage.
"""

from __future__ import annotations

import gc
import os
import re
import sys

import click

from .errors import CnnError
from .source.reading import SOURCES, Source, load_source as load_network, read_spec, read_text as read_source

EXIT_OK, EXIT_DIFFERENCE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
FORMATS = ("table", "json", "csv", "markdown")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")


def run_safely(action) -> None:
    """Run a command body; map its outcome to an exit code, user errors without traceback."""
    # A command is a short-lived process whose objects make no garbage cycles worth
    # collecting: without the cyclic collector re-scanning the growing heap, analysing
    # 100,000 layers takes half the time (measured).
    gc.disable()
    try:
        code = action() or EXIT_OK
    except CnnError as exc:
        click.echo(exc.render(SOURCES), err=True)
        code = EXIT_BAD_INPUT
    except (KeyboardInterrupt, BrokenPipeError):
        code = EXIT_BAD_INPUT
    except Exception as exc:  # a bug: say so plainly, with the traceback only on request
        if os.environ.get("CNNCALC_DEBUG"):
            raise
        click.echo(f"cnncalc: internal error: {type(exc).__name__}: {exc} (set CNNCALC_DEBUG=1 for the traceback)", err=True)
        code = EXIT_INTERNAL
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="cnncalc")
def main() -> None:
    """Shapes, parameters, MACs, FLOPs, memory and receptive fields of a CNN.

    FILE is a .yaml/.yml file (YAML), any other file (the DSL), '-' for standard input
    (either), or -e TEXT for DSL text on the command line.
    """


def network_options(command):
    command = click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True, help="Element type for memory figures.")(command)
    command = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")(command)
    command = click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size for costs and memory.")(command)
    command = click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224 (file's layout).")(command)
    command = click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")(command)
    command = click.argument("file", required=False)(command)
    return command


@main.command()
@network_options
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Fold block instances nested deeper than this into one row (0: every top-level instance).")
@click.option("--explain", "explain_layer", is_flag=False, flag_value="*", default=None, metavar="[LAYER]",
              help="Show the working (output size, params, MACs, receptive field) of LAYER, or of every layer.")
def summary(file, expression, input_shape, batch, fmt, dtype, depth, explain_layer) -> None:
    """Per-layer table: output shape, params, MACs, receptive field; totals below.

    FILE is a .yaml file, a DSL file, '-' for standard input, or -e TEXT.
    """

    def act():
        from .analysis.summary import analyse
        from .output.tables import RENDERERS, Format

        net = load_network(Source(file, expression), input_shape)
        result = analyse(net, batch, dtype)
        if explain_layer is not None:
            from .analysis.homework import explain

            click.echo(explain(net, result, None if explain_layer == "*" else explain_layer), nl=False)
            return
        click.echo(RENDERERS[Format(fmt)](result, depth), nl=False)
        if fmt == "table":
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)

    run_safely(act)


@main.command()
@network_options
@click.option("--verify", is_flag=True, help="Also measure every field by propagation through the NumPy forward pass.")
def rf(file, expression, input_shape, batch, fmt, dtype, verify) -> None:
    """Receptive field of every layer: size r, effective stride S, padding P and centre.

    With --verify, each field is also measured by running the network on inputs that are
    zero but for one slice, and checked against the formula at every output position
    (exit 1 on any difference).
    """

    def act():
        from .analysis.summary import analyse
        from .output.tables import RF_RENDERERS, Format

        net = load_network(Source(file, expression), input_shape)
        result = analyse(net, batch, dtype)
        measured = None
        if verify:
            from .forward.fieldcheck import measure

            measured = measure(net, result)
        click.echo(RF_RENDERERS[Format(fmt)](result, measured), nl=False)
        if fmt == "table":
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
        if measured is not None and not all(agrees for _, agrees in measured.values()):
            return EXIT_DIFFERENCE

    run_safely(act)


@main.command()
@click.argument("file")
@click.argument("answers")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def check(file, answers, input_shape, batch, fmt) -> None:
    """Mark a student's ANSWERS.yaml (figures by layer name, 'total' for totals) against FILE.

    Each wrong answer shows the right value and the working. Exit 0 if all are right, 1 if
    any is wrong.
    """

    def act():
        import json

        from .analysis.summary import analyse
        from .analysis.homework import check as mark

        net = load_network(Source(file, None), input_shape)
        result = analyse(net, batch)
        text, path = read_source(Source(answers, None))
        SOURCES[path] = text
        marks = mark(net, result, text, path)
        right = sum(m.ok for m in marks)
        if fmt == "json":
            click.echo(json.dumps({"score": right, "total": len(marks), "answers": [
                {"layer": m.layer, "field": m.field, "given": m.given, "right": m.right, "ok": m.ok, "note": m.note,
                 "working": list(m.working)} for m in marks]}, indent=2))
        else:
            for m in marks:
                if m.ok:
                    click.echo(f"right  {m.layer} {m.field}: {m.given}")
                    continue
                click.echo(f"WRONG  {m.layer} {m.field}: you wrote {m.given}, the network gives {m.right}")
                if m.note:
                    click.echo(f"       {m.note}")
                for line in m.working:
                    click.echo(f"       {line}")
            click.echo(f"score: {right}/{len(marks)}")
        return EXIT_OK if right == len(marks) else EXIT_DIFFERENCE

    run_safely(act)


def per_axis(text: str | None, option: str, axes: int, words: tuple[str, ...] = ()) -> list:
    """'3' or '3x3' (one per axis) as a list of ints; also the given words (same, valid)."""
    if text is None:
        return [None] * axes
    if text.lower() in words:
        return [text.lower()] * axes
    parts = text.lower().split("x")
    if not all(part.strip().isdigit() for part in parts) or len(parts) not in (1, axes):
        example = "x".join(["3"] * max(axes, 2))
        several = f", or {axes} of them like {example}" if axes > 1 else f", or one per axis like {example}"
        allowed = "a non-negative integer" + (", " + " or ".join(words) if words else "") + several
        raise CnnError(f"{option} must be {allowed}; received '{text}'")
    values = [int(part) for part in parts]
    return values * axes if len(values) == 1 else values


@main.command()
@click.argument("n", metavar="N")
@click.option("-k", "--kernel", required=True, help="Kernel size (3 or 3x3).")
@click.option("-s", "--stride", help="Stride (default 1; for --pool the kernel).")
@click.option("-p", "--padding", help="Padding: an integer, or same / valid (TensorFlow; Keras for --transposed).")
@click.option("-d", "--dilation", help="Dilation (default 1).")
@click.option("--transposed", is_flag=True, help="A transposed convolution.")
@click.option("--output-padding", type=click.IntRange(min=0), help="Transposed convolution's output_padding.")
@click.option("--pool", is_flag=True, help="Pooling (stride defaults to the kernel; --ceil allowed).")
@click.option("--ceil", is_flag=True, help="Pooling's ceil_mode.")
@click.option("--strict", is_flag=True, help="Make an inexact division an error.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def size(n, kernel, stride, padding, dilation, transposed, output_padding, pool, ceil, strict, fmt) -> None:
    """One layer's output size for an input of N (or HxW), with the formula and the numbers."""

    def act():
        import json

        from .analysis import homework

        sizes = per_axis(n, "N", len(n.split("x")))
        if any(v is None or v < 1 for v in sizes):
            raise CnnError(f"N must be a positive size such as 28 or 224x224; received '{n}'")
        axes = len(sizes)
        ks = per_axis(kernel, "-k", axes)
        ss = per_axis(stride, "-s", axes) if stride else (ks if pool else [1] * axes)
        ps = per_axis(padding, "-p", axes, ("same", "valid")) if padding else [0] * axes
        ds = per_axis(dilation, "-d", axes) if dilation else [1] * axes
        for name, values, low in (("-k", ks, 1), ("-s", ss, 1), ("-d", ds, 1)):
            if any(v < low for v in values):
                raise CnnError(f"{name} must be at least {low}; received {'x'.join(map(str, values))}")
        if ceil and not pool:
            raise CnnError("--ceil goes with --pool (PyTorch's ceil_mode is a pooling option)")
        if output_padding is not None and not transposed:
            raise CnnError("--output-padding goes with --transposed")
        results = []
        for i in range(axes):
            if transposed:
                results.append(homework.transposed(sizes[i], ks[i], ss[i], ps[i], ds[i], output_padding))
            else:
                results.append(homework.conv_size(sizes[i], ks[i], ss[i], ps[i], ds[i], pool=pool, ceil=ceil))
        warnings = [w if axes == 1 else f"axis {i + 1}: {w}" for i, r in enumerate(results) for w in r.warnings]
        if strict and warnings:
            raise CnnError(warnings[0] + " (--strict)")
        outputs = [r.output for r in results]
        if fmt == "json":
            formula = "\n".join(results[0].working) if axes == 1 else [("\n".join(r.working)) for r in results]
            click.echo(json.dumps({"output": outputs[0] if axes == 1 else outputs, "formula": formula, "warnings": warnings}, indent=2))
            return
        for i, result in enumerate(results):
            if axes > 1:
                click.echo(f"axis {i + 1}:")
            click.echo("\n".join(result.working))
        click.echo(f"output: {'x'.join(map(str, outputs))}")
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)

    run_safely(act)


@main.command()
@click.option("--in", "n_in", type=click.IntRange(min=1), required=True, help="Input size.")
@click.option("--out", "n_out", type=click.IntRange(min=1), required=True, help="Wanted output size.")
@click.option("-k", "--kernel", type=click.IntRange(min=1), help="Fix the kernel.")
@click.option("-s", "--stride", type=click.IntRange(min=1), help="Fix the stride.")
@click.option("-p", "--padding", help="Fix the padding (an integer, same or valid).")
@click.option("-d", "--dilation", type=click.IntRange(min=1), help="Fix the dilation.")
@click.option("--transposed", is_flag=True, help="Search transposed convolutions.")
@click.option("--pool", is_flag=True, help="Search pooling layers.")
@click.option("--all", "show_all", is_flag=True, help="List every setting found, not only the ten simplest.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def solve(n_in, n_out, kernel, stride, padding, dilation, transposed, pool, show_all, fmt) -> None:
    """Which kernel, stride, padding and dilation turn size --in into size --out, simplest first."""

    def act():
        import json

        from .analysis import homework

        pad = None
        if padding is not None:
            pad = padding.lower() if padding.lower() in ("same", "valid") else per_axis(padding, "-p", 1)[0]
        found = homework.solve(n_in, n_out, kernel, stride, pad, dilation, transposed, pool)
        shown = found if show_all else found[:10]
        if fmt == "json":
            click.echo(json.dumps([
                {"kernel": s.kernel, "stride": s.stride, "padding": s.padding, "dilation": s.dilation,
                 "convention": s.convention, "exact": not s.inexact} for s in shown], indent=2))
        elif not found:
            click.echo(f"no setting within kernel 1-11, stride 1-4, dilation 1-3 turns {n_in} into {n_out}")
        else:
            kind = "transposed convolution" if transposed else "pooling" if pool else "convolution"
            click.echo(f"{kind} settings turning {n_in} into {n_out}, simplest first:")
            for setting in shown:
                click.echo(f"  {setting.describe()}")
            if len(found) > len(shown):
                click.echo(f"  ... {len(found) - len(shown)} more (--all)")
        return EXIT_OK if found else EXIT_DIFFERENCE

    run_safely(act)


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GiB' or a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)(i?[bB])?\s*", text)
    if not match:
        raise CnnError(f"--max-memory must be a size such as 4G or 512M; received '{text}'")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size of the random input.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random weights and input.")
@click.option("--weights", metavar="FILE.npz", help="Weights keyed LAYER.weight, LAYER.bias, ... in PyTorch's layouts.")
@click.option("--data", metavar="FILE.npy", help="The input, with or without the batch axis.")
@click.option("--save", metavar="FILE.npz", help="Write every layer's output, keyed by layer name.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@click.option("--dtype", type=click.Choice(("float32", "float64")), default="float32", show_default=True)
@click.option("--max-memory", metavar="SIZE", help="Refuse to run above this estimated peak (default: half the machine's memory).")
def run(file, expression, input_shape, batch, seed, weights, data, save, fmt, dtype, max_memory) -> None:
    """Run the network in NumPy and check every layer's real output shape (exit 1 on a mismatch)."""

    def act():
        from .forward import runner
        from .analysis.summary import analyse
        from .output.tables import run_json, run_table

        net = load_network(Source(file, expression), input_shape)
        inline = net.data
        from .units import human_bytes

        given = runner.load_npz(weights) if weights else {}
        values = runner.load_input(data) if data else (inline.value if inline is not None else None)
        batch_size = runner.batch_of(net, values, batch)
        summary = analyse(net, batch_size, dtype)
        limit = parse_size(max_memory) if max_memory else runner.machine_memory() // 2
        itemsize = 4 if dtype == "float32" else 8
        peak = runner.estimate_peak(summary, net, batch_size, itemsize, keep=bool(save))
        if peak > limit:
            raise CnnError(
                f"running this network needs about {human_bytes(peak)} at its peak, more than the limit of "
                f"{human_bytes(limit)}; allowed: a smaller --input or --batch, or a higher --max-memory"
            )
        result = execute_with_progress(runner, net, summary, batch_size, dtype, seed, given, values, inline, bool(save))
        if save:
            runner.save_npz(save, result.outputs)
        click.echo(run_json(result) if fmt == "json" else run_table(result, net.name), nl=False)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        return EXIT_OK if result.ok else EXIT_DIFFERENCE

    run_safely(act)


def execute_with_progress(runner, net, summary, batch, dtype, seed, given, values, inline, keep):
    """The run, with a progress bar on a terminal's stderr when it should take over a second."""
    stream = click.get_text_stream("stderr")
    slow = summary.totals.flops > 10**10  # about a second at this machine's rate
    options = dict(batch=batch, dtype=dtype, seed=seed, weights=given, data=values,
                   data_location=inline.location if inline is not None else None, keep=keep)
    if not (slow and stream.isatty()):
        return runner.run(net, summary, **options)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=stream), transient=True) as progress:
        task = progress.add_task("forward", total=len(net.nodes))
        return runner.run(net, summary, on_layer=lambda node, out: progress.advance(task), **options)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--to", "target", type=click.Choice(("yaml", "dsl")), required=True, help="The format to write.")
def convert(file, expression, target) -> None:
    """Write the same network in the other format (blocks, names and inputs kept)."""

    def act():
        from .source.writers import to_dsl, to_yaml

        spec = read_spec(Source(file, expression))
        click.echo(to_yaml(spec) if target == "yaml" else to_dsl(spec), nl=False)

    run_safely(act)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--to", "target", type=click.Choice(("pytorch", "keras")), required=True, help="The framework.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
def export(file, expression, target, input_shape) -> None:
    """Python code that builds the same network in PyTorch (class Net) or Keras (build_model())."""

    def act():
        from .export.writer import to_keras, to_pytorch

        network = load_network(Source(file, expression), input_shape)
        click.echo(to_pytorch(network) if target == "pytorch" else to_keras(network), nl=False)

    run_safely(act)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option(
    "-o", "--output", "output", metavar="FILE", help="Write FILE.svg, or FILE.png with cnncalc[png] (default: SVG to standard output)."
)
@click.option(
    "--view", type=click.Choice(("graph", "funnel")), default="graph", show_default=True,
    help="graph: layers as boxes with shapes and skips; funnel: sizes, channels and receptive field per layer.",
)
@click.option("--depth", type=click.IntRange(min=0), help="Fold block instances nested deeper (default: at most 40 boxes).")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
def diagram(file, expression, output, view, depth, input_shape) -> None:
    """An SVG picture of the network: its graph, or its funnel of sizes."""

    def act():
        from .analysis.summary import analyse
        from .output.diagram import funnel_svg, graph_svg, save_picture

        network = load_network(Source(file, expression), input_shape)
        svg = (graph_svg if view == "graph" else funnel_svg)(network, analyse(network), depth)
        if output:
            save_picture(output, svg)
        else:
            click.echo(svg, nl=False)

    run_safely(act)


@main.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def layers(name, fmt) -> None:
    """Every supported layer type with its aliases, attributes and defaults (or one type)."""

    def act():
        from .output import catalogue

        click.echo(catalogue.render(name, fmt), nl=False)

    run_safely(act)
