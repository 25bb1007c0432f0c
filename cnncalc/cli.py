"""The command line. Only this module imports click; it turns options into calls and
outcomes into exit codes: 0 success, 1 a difference found, 2 bad input or usage.
"""

from __future__ import annotations

import gc
import os
import sys

import click

from . import api
from .errors import CnnError, WarningKind, silenced, visible
from .numbers import parse_bytes
from .source.reading import SOURCES, Source, load_source as load_network, read_spec, read_text

EXIT_OK, EXIT_DIFFERENCE, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FORMATS = ("table", "json", "csv", "markdown")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")


def source_of(file: str | None, expression: str | None) -> Source:
    """FILE or -e TEXT: one network, so not both."""
    if file is not None and expression is not None:
        raise CnnError(f"give the network as FILE or as -e TEXT, not both; received FILE '{file}' and -e")
    return Source(file, expression)


def emit(text: str, warnings=()) -> None:
    """The result on standard output, then each warning on standard error (shown escaped:
    a warning may quote a name from the file)."""
    click.echo(text, nl=False)
    for warning in warnings:
        click.echo(f"warning: {visible(warning)}", err=True)


def quieted(result, quiet: bool, no_warn) -> api.Summary:
    """The summary with the warnings --quiet and --no-warn leave."""
    from dataclasses import replace

    return replace(result, warnings=silenced(result.warnings, quiet, no_warn))


def run_safely(action) -> None:
    """Run a command body; map its outcome to an exit code, user errors without traceback."""
    # A command is a short-lived process whose objects make no garbage cycles worth
    # collecting: without the cyclic collector re-scanning the growing heap, analysing
    # 100,000 layers takes half the time (measured).
    gc.disable()
    from .i18n import set_language

    set_language("en")  # commands without --lang speak English; those with it choose below
    try:
        code = action() or EXIT_OK
    except CnnError as exc:
        click.echo(exc.render(SOURCES), err=True)
        code = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        click.echo("cnncalc: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
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


def lang_option(command):
    """--lang en|ko for the homework commands (default: from LC_ALL / LC_MESSAGES / LANG)."""
    return click.option("--lang", type=click.Choice(("en", "ko")), default=None,
                        help="Language of the working and messages (default: ko when LANG is ko_*, else en).")(command)


def use_language(lang: str | None) -> None:
    from .i18n import set_language

    set_language(lang)


def warning_options(command):
    """--quiet and --no-warn KIND: which warnings a command prints (stderr or the document)."""
    kinds = [kind.value for kind in WarningKind if kind is not WarningKind.OTHER]
    command = click.option("--no-warn", "no_warn", multiple=True, type=click.Choice(kinds), metavar="KIND",
                           help=f"Silence warnings of this kind (repeatable): {', '.join(kinds)}.")(command)
    command = click.option("-q", "--quiet", is_flag=True, help="Print no warnings.")(command)
    return command


def network_options(command):
    command = warning_options(command)
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
@lang_option
def summary(file, expression, input_shape, batch, fmt, dtype, quiet, no_warn, depth, explain_layer, lang) -> None:
    """Per-layer table: output shape, params, MACs, receptive field; totals below.

    FILE is a .yaml file, a DSL file, '-' for standard input, or -e TEXT.
    """

    def act():
        from .analysis.homework import explain
        from .output.formats import RENDERERS, Format, stderr_warnings

        if explain_layer is not None:
            use_language(lang)
        net = load_network(source_of(file, expression), input_shape)
        result = quieted(api.summary(net, batch, dtype), quiet, no_warn)
        if explain_layer is not None:
            return emit(explain(net, result, None if explain_layer == "*" else explain_layer))
        emit(RENDERERS[Format(fmt)](result, depth), stderr_warnings(Format(fmt), result.warnings))

    run_safely(act)


@main.command()
@network_options
@click.option("--verify", is_flag=True, help="Also measure every field by propagation through the NumPy forward pass.")
def rf(file, expression, input_shape, batch, fmt, dtype, quiet, no_warn, verify) -> None:
    """Receptive field of every layer: size r, effective stride S, padding P and centre.

    With --verify, each field is also measured by running the network on inputs that are
    zero but for one slice, and checked against the formula at every output position
    (exit 1 on any difference).
    """

    def act():
        from .output.formats import RF_RENDERERS, Format, stderr_warnings

        net = load_network(source_of(file, expression), input_shape)
        result = quieted(api.summary(net, batch, dtype), quiet, no_warn)
        measured = None
        if verify:
            from .forward.fieldcheck import measure

            measured = measure(net, result)
        emit(RF_RENDERERS[Format(fmt)](result, measured), stderr_warnings(Format(fmt), result.warnings))
        if measured is not None and not all(agrees for _, agrees in measured.values()):
            return EXIT_DIFFERENCE

    run_safely(act)


@main.command()
@click.argument("paths", nargs=-1, metavar="[FILE] ANSWERS")
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@lang_option
def check(paths, expression, input_shape, batch, fmt, lang) -> None:
    """Mark a student's ANSWERS.yaml (figures by layer name, 'total' for totals) against FILE
    (or -e TEXT).

    Shapes and sizes may be written [32, 26, 26], 32x26x26, '(32, 26, 26)', 5x5 or {size: 5};
    numbers 401536 or '401,536'. Each wrong answer shows the right value, the likely slip
    and the working. 'flops_convention: 2macs' in the answers marks FLOPs as 2 x MACs. Exit 0
    if all are right, 1 if any is wrong.
    """

    def act():
        from .analysis.homework import check as mark
        from .i18n import tr
        from .output.homework import marks_json, marks_text

        use_language(lang)
        wanted = 1 if expression is not None else 2
        if len(paths) != wanted:
            if expression is not None and len(paths) == 2:
                raise CnnError(tr("check.one_network", file=paths[0]))
            raise CnnError(tr("check.usage", count=len(paths)))
        file, answers = (None, paths[0]) if expression is not None else paths
        net = load_network(Source(file, expression), input_shape)
        text, path = read_text(Source(answers, None))
        marks = mark(net, api.summary(net, batch), text, path)
        emit((marks_json if fmt == "json" else marks_text)(marks))
        return EXIT_OK if all(m.ok for m in marks) else EXIT_DIFFERENCE

    run_safely(act)


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
@warning_options
@lang_option
def size(n, kernel, stride, padding, dilation, transposed, output_padding, pool, ceil, strict, fmt, quiet, no_warn, lang) -> None:
    """One layer's output size for an input of N (or HxW), with the formula and the numbers."""

    def act():
        from dataclasses import replace

        from .analysis import homework
        from .output.formats import warning_line
        from .output.homework import size_json, size_text

        use_language(lang)
        answer = homework.size(n, kernel, stride, padding, dilation, transposed_conv=transposed,
                               output_padding=output_padding, pool=pool, ceil=ceil, strict=strict, ignore=no_warn)
        answer = replace(answer, warnings=silenced(answer.warnings, quiet))
        if fmt == "json":
            return emit(size_json(answer))
        emit(size_text(answer), tuple(map(warning_line, answer.warnings)))

    run_safely(act)


@main.command()
@click.option("--in", "n_in", metavar="N", required=True, help="Input size: N or HxW.")
@click.option("--out", "n_out", metavar="N", required=True, help="Wanted output size: N or HxW.")
@click.option("-k", "--kernel", type=click.IntRange(min=1), help="Fix the kernel.")
@click.option("-s", "--stride", type=click.IntRange(min=1), help="Fix the stride.")
@click.option("-p", "--padding", help="Fix the padding (an integer, same or valid).")
@click.option("-d", "--dilation", type=click.IntRange(min=1), help="Fix the dilation.")
@click.option("--transposed", is_flag=True, help="Search transposed convolutions (output_padding included).")
@click.option("--output-padding", type=click.IntRange(min=0), help="Fix a transposed convolution's output_padding.")
@click.option("--pool", is_flag=True, help="Search pooling layers.")
@click.option("--all", "show_all", is_flag=True, help="List every setting found, not only the first ten.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@lang_option
def solve(n_in, n_out, kernel, stride, padding, dilation, transposed, output_padding, pool, show_all, fmt, lang) -> None:
    """Which kernel, stride, padding, dilation (and output_padding) turn size --in into size
    --out: standard, hole-free designs first (kernel >= stride, exact division).

    Strides are searched up to twice the ratio of the sizes (at least 4), kernels up to twice
    that plus one (at least 11), dilation 1-3 for kernels up to 11.
    """

    def act():
        from .analysis import homework
        from .output.homework import solve_json, solve_text

        use_language(lang)
        solutions = homework.solve_axes(n_in, n_out, kernel, stride, padding, dilation, transposed, pool, output_padding)
        kind = "transposed" if transposed else "pool" if pool else "conv"
        emit((solve_json if fmt == "json" else solve_text)(solutions, show_all, kind))
        return EXIT_OK if all(solution.settings for solution in solutions) else EXIT_DIFFERENCE

    run_safely(act)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size of the random input.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True, help="Seed for random weights and input.")
@click.option("--weights", metavar="FILE.npz", help="Weights keyed LAYER.weight, LAYER.bias, ... in PyTorch's layouts.")
@click.option("--data", metavar="FILE", help="The input (.npy), with or without the batch axis; for several inputs an .npz keyed by input name.")
@click.option("--save", metavar="FILE.npz", help="Write every layer's output, keyed by layer name.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@click.option("--dtype", type=click.Choice(("float32", "float64")), default=None, help="Precision (default float32; float64 with --target).")
@click.option("--max-memory", metavar="SIZE", help="Refuse to run above this estimated peak (default: half the machine's memory).")
@click.option("--target", type=click.IntRange(min=0), default=None, metavar="CLASS",
              help="Also print the cross-entropy of the output for this class (from 0), with its working.")
@warning_options
@lang_option
def run(file, expression, input_shape, batch, seed, weights, data, save, fmt, dtype, max_memory, target, quiet, no_warn, lang) -> None:
    """Run the network in NumPy and check every layer's real output shape (exit 1 on a mismatch).

    With --target CLASS, the cross-entropy -ln softmax(z)[CLASS] of the output (or -ln p[CLASS]
    when the network ends in a softmax) is printed with its working, in float64.
    """

    def act():
        nonlocal dtype
        use_language(lang)
        dtype = dtype or ("float64" if target is not None else "float32")
        from .forward import arrays, runner
        from .output.json import run_json
        from .output.text import run_table

        if save == "":
            raise CnnError("--save needs a file name; received ''")
        net = load_network(source_of(file, expression), input_shape, weights=None if weights is not None else True)
        limit = parse_bytes(max_memory, "--max-memory") if max_memory is not None else None
        given = arrays.load_weights(weights, dtype) if weights is not None else {}
        if data is not None:  # one array, or one per input (an .npz keyed by input name)
            values = arrays.load_data(data, dtype) if net.single_input else arrays.load_weights(data, dtype)
        else:
            values = net.data.value if net.data is not None else None
        batch_size = runner.batch_of(net, values, batch)
        result = api.summary(net, batch_size, dtype)
        if weights is not None:
            arrays.check_weight_keys(given, arrays.weight_keys(result), weights)
        runner.check_memory(result, net, batch_size, dtype, keep=save is not None, limit=limit)
        options = dict(batch=batch_size, dtype=dtype, seed=seed, weights=given, data=values,
                       data_location=net.data.location if net.data is not None else None, keep=save is not None)
        outcome = with_progress(lambda on_layer: runner.run(net, result, on_layer=on_layer, **options),
                                len(net.nodes), slow=result.totals.flops > SLOW_FLOPS)
        if save is not None:
            arrays.save_outputs(save, outcome.outputs, protect=tuple(p for p in (file, weights, data) if p))
        from dataclasses import replace

        from .output.formats import warning_line

        outcome = replace(outcome, warnings=silenced(outcome.warnings, quiet, no_warn))
        shown = tuple(map(warning_line, outcome.warnings))
        if target is not None and outcome.ok:
            import json

            from .forward.loss import cross_entropy
            from .i18n import tr
            from .output.homework import loss_json, loss_text

            if len(net.outputs) != 1:
                raise CnnError(tr("loss.one_output", count=len(net.outputs)))
            loss = cross_entropy(outcome.output, target)
            if fmt == "json":
                return emit(json.dumps({**json.loads(run_json(outcome)), "loss": loss_json(loss)}, indent=2) + "\n", shown)
            return emit(run_table(outcome, net.name) + loss_text(loss), shown)
        emit(run_json(outcome) if fmt == "json" else run_table(outcome, net.name), shown)
        return EXIT_OK if outcome.ok else EXIT_DIFFERENCE

    run_safely(act)


SLOW_FLOPS = 10**10  # a forward pass above this takes about a second on a 2-core machine


def with_progress(action, steps: int, slow: bool):
    """action(on_layer), with a progress bar on a terminal's stderr when it is slow."""
    stream = click.get_text_stream("stderr")
    if not (slow and stream.isatty()):
        return action(None)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=stream), transient=True) as progress:
        task = progress.add_task("forward", total=steps)
        return action(lambda node, out: progress.advance(task))


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224 (file's layout).")
@click.option("--batch", "batches", metavar="N[,N...]", default="1", show_default=True, help="Batch size, or several (1,8,32,128) for a sweep.")
@click.option("--optimizer", default="adam", show_default=True, help="sgd, momentum, adam or adamw.")
@click.option("--precision", default="fp32", show_default=True, help="fp32, amp-fp16, amp-bf16 (torch.autocast) or bf16.")
@click.option("--memory", metavar="SIZE", help="Print the largest batch whose total fits (24G, 512M or bytes), and the step at it.")
@click.option("--plot", metavar="OUT.svg", help="Draw the total by batch (the sweep, or batches up to --memory's) as SVG.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def train(file, expression, input_shape, batches, optimizer, precision, memory, plot, fmt) -> None:
    """What one training step holds (weights, gradients, optimizer state, what autograd
    keeps) and costs (forward and backward FLOPs), layer by layer."""

    def act():
        from .analysis import training
        from .files import save_text
        from .output import training as render

        training.check_choice(optimizer, training.OPTIMIZERS, "optimizer")
        training.check_choice(precision, training.PRECISIONS, "precision")
        sizes = batch_list(batches)
        limit = parse_bytes(memory, "--memory") if memory is not None else None
        if plot == "":
            raise CnnError("--plot needs a file name; received ''")
        if limit is not None and len(sizes) > 1:
            raise CnnError(f"--memory finds the batch itself; received --batch {batches} as well; allowed: one of them")
        net = load_network(source_of(file, expression), input_shape)
        if limit is not None:
            step = training.fitting_batch(net, limit, optimizer, precision)
            if plot is not None:
                top = step.max_batch
                marks = sorted({1, *(2**i for i in range(top.bit_length())), top, top + max(1, top // 4)})
                steps = training.sweep(net, marks, optimizer, precision)
                save_text(plot, render.sweep_svg(steps, limit), protect=(file,))
            return emit(render.training_json(step) if fmt == "json" else render.training_table(step))
        steps = training.sweep(net, sizes, optimizer, precision)
        if plot is not None:
            save_text(plot, render.sweep_svg(steps), protect=(file,))
        if len(steps) == 1:
            return emit(render.training_json(steps[0]) if fmt == "json" else render.training_table(steps[0]))
        emit(render.sweep_json(steps) if fmt == "json" else render.sweep_table(steps))

    run_safely(act)


def batch_list(text: str) -> list[int]:
    """'1,8,32' as batch sizes: positive integers."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1 or len(part) > 12:
            raise CnnError(f"--batch must be a positive integer or a comma-separated list of them; received '{text}'")
        sizes.append(int(part))
    return sizes


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--to", "target", type=click.Choice(("yaml", "dsl")), required=True, help="The format to write.")
def convert(file, expression, target) -> None:
    """Write the same network in the other format (blocks, names and inputs kept)."""

    def act():
        from .source.writers import to_dsl, to_yaml

        spec = read_spec(source_of(file, expression))
        click.echo(to_yaml(spec) if target == "yaml" else to_dsl(spec), nl=False)

    run_safely(act)


@main.command("import")
@click.argument("file")
@click.option("--to", "target", type=click.Choice(("yaml", "dsl")), default="yaml", show_default=True, help="The format to write.")
@click.option("--input", "input_shape", metavar="SHAPE", help="The input shape when the model's is dynamic, e.g. 3x224x224.")
@click.option("--weights", "weights_out", metavar="W.npz", help="Also write the model's weights, for run --weights W.npz.")
def import_(file, target, input_shape, weights_out) -> None:
    """Print an ONNX (.onnx) or Keras (.keras) model as a cnncalc file: its layers, names and
    shapes (the weights stay in the model, or go to --weights W.npz)."""

    def act():
        from dataclasses import replace

        from .forward.arrays import save_outputs
        from .source import kerasformat, onnxformat
        from .source.reading import input_override
        from .source.writers import to_dsl, to_yaml

        if kerasformat.is_keras(file):
            spec, weights = kerasformat.read(file, input_override(input_shape), weights=weights_out is not None)
        elif not onnxformat.is_onnx(file):
            raise CnnError(f"import reads an ONNX (.onnx) or Keras (.keras) model; received '{file}' (cnncalc's own files "
                           "need no import)")
        else:
            spec, weights = onnxformat.read(file, input_override(input_shape))
        bare = replace(spec, layers=[replace(layer, tensors={}) for layer in spec.layers])
        if weights_out is not None:
            save_outputs(weights_out, weights, protect=(file,))
        click.echo(to_yaml(bare) if target == "yaml" else to_dsl(bare), nl=False)

    run_safely(act)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("--to", "target", type=click.Choice(("pytorch", "keras", "onnx")), required=True, help="The framework.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
@click.option("-o", "--output", "output", metavar="OUT.onnx", help="--to onnx: the model file to write.")
@click.option("--weights", metavar="W.npz", help="--to onnx: weights keyed LAYER.weight, ... (others as cnncalc run draws them).")
@click.option("--opset", type=int, metavar="N", help="--to onnx: the ONNX opset, 13 or later (default 17).")
def export(file, expression, target, input_shape, output, weights, opset) -> None:
    """Python code that builds the same network in PyTorch (class Net) or Keras (build_model());
    with --to onnx, an ONNX model with weights, written to -o OUT.onnx."""

    def act():
        from .export import to_keras, to_pytorch

        network = load_network(source_of(file, expression), input_shape)
        if target == "onnx":
            from .export.onnx import OPSET, export_onnx
            from .forward.arrays import load_weights

            if not output:
                raise CnnError("--to onnx writes a file: give it with -o OUT.onnx")
            given = load_weights(weights, "float32") if weights else {}
            export_onnx(network, given, output, protect=(file, weights), opset=OPSET if opset is None else opset)
            return None
        if output is not None or weights is not None or opset is not None:
            raise CnnError(f"-o, --weights and --opset are for --to onnx; --to {target} prints code on standard output")
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
@click.option("--depth", type=click.IntRange(min=0), help="Fold block instances nested deeper, and every instance of their blocks (default: at most 40 boxes).")
@click.option("--direction", type=click.Choice(("tb", "lr")), default="tb", show_default=True, help="Layers top to bottom, or left to right.")
@click.option("--labels", type=click.Choice(("full", "shape", "name")), default="full", show_default=True,
              help="full: name, type, kernel, stride, output shape, params; shape: name, type, output shape; name: name and type.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
def diagram(file, expression, output, view, depth, direction, labels, input_shape) -> None:
    """An SVG picture of the network: its graph, or its funnel of sizes."""

    def act():
        from .output.diagram import Direction, Labels, funnel_svg, graph_svg, save_picture

        network = load_network(source_of(file, expression), input_shape)
        summary = api.summary(network)
        if view == "graph":
            svg = graph_svg(network, summary, depth, Direction(direction), Labels(labels))
        else:
            svg = funnel_svg(network, summary, depth)
        if output is not None:
            save_picture(output, svg)
        else:
            click.echo(svg, nl=False)

    run_safely(act)


@main.command()
@click.argument("file", required=False)
@click.option("-e", "expression", metavar="TEXT", help="The network as DSL text instead of FILE.")
@click.option("-o", "--output", "output", metavar="REPORT.html", required=True, help="The page to write.")
@click.option("--input", "input_shape", metavar="SHAPE", help="Override the input shape, e.g. 3x224x224.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size for costs and memory.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True, help="Element type for memory figures.")
def report(file, expression, output, input_shape, batch, dtype) -> None:
    """One self-contained HTML page: totals, warnings, a sortable layer table, the graph,
    the funnel and the receptive field's growth (no network access needed to view it)."""

    def act():
        from .files import save_text
        from .output.report import report_html, training_section

        network = load_network(source_of(file, expression), input_shape)
        result = api.summary(network, batch, dtype)
        save_text(output, report_html(network, result, [training_section(network, batch)]), protect=(file,))
        for warning in result.warnings:
            click.echo(f"warning: {visible(warning)}", err=True)

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


def entry() -> None:
    """The console script: temporary files are removed on SIGTERM and SIGHUP, and SIGINT
    exits 130 with a word (files.install_signal_handlers), then the commands run."""
    from .files import install_signal_handlers

    install_signal_handlers()
    main()
