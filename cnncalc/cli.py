"""The command line. Only this module imports click; it turns options into calls and
outcomes into exit codes: 0 success, 1 a difference found, 2 bad input or usage.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

import click

from .errors import CnnError, Location

EXIT_OK, EXIT_DIFFERENCE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
FORMATS = ("table", "json", "csv", "markdown")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")


@dataclass(frozen=True)
class Source:
    """What the user pointed at: a path (or '-'), or DSL text given with -e."""

    path: str | None
    expression: str | None


SOURCES: dict[str, str] = {}  # texts read so far, by path, so errors can quote the offending line


def read_source(source: Source) -> tuple[str, str]:
    """(text, display path) of a FILE argument, '-' or -e TEXT."""
    if source.expression is not None:
        return source.expression, "<expression>"
    if source.path is None:
        raise CnnError("no network given; allowed: a FILE, '-' for standard input, or -e TEXT")
    if source.path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(source.path, encoding="utf-8") as handle:
            return handle.read(), source.path
    except FileNotFoundError:
        raise CnnError(f"no such file: {source.path}") from None
    except IsADirectoryError:
        raise CnnError(f"{source.path} is a directory; allowed: a .yaml file") from None
    except UnicodeDecodeError as exc:
        raise CnnError(f"{source.path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CnnError(f"cannot read {source.path}: {exc.strerror}") from None


def load_network(source: Source, input_shape: str | None):
    from . import network
    from .blocks import expand

    spec = read_spec(source)
    override = None
    if input_shape is not None:
        override = network.parse_shape(input_shape, Location("--input", 1, 1), "--input")
    return network.build(expand(spec), override)


def read_spec(source: Source):
    """The network as written (blocks not yet expanded): YAML for .yaml/.yml files and
    YAML-looking standard input, the DSL for -e TEXT and any other file."""
    from . import dsl, yamlformat

    text, path = read_source(source)
    SOURCES[path] = text
    is_yaml = source.expression is None and (
        path.endswith((".yaml", ".yml")) or (source.path == "-" and looks_like_yaml(text))
    )
    return yamlformat.read(text, path) if is_yaml else dsl.read(text, path)


def looks_like_yaml(text: str) -> bool:
    """Standard input is YAML when it has a top-level 'layers:' key; otherwise DSL."""
    return re.search(r"^layers\s*:", text, re.MULTILINE) is not None


def run_safely(action) -> None:
    """Run a command body; map its outcome to an exit code, user errors without traceback."""
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
def summary(file, expression, input_shape, batch, fmt, dtype, depth) -> None:
    """Per-layer table: output shape, params, MACs, receptive field; totals below.

    FILE is a .yaml file, a DSL file, '-' for standard input, or -e TEXT.
    """

    def act():
        from .analysis import analyse
        from .render import RENDERERS, Format

        net = load_network(Source(file, expression), input_shape)
        result = analyse(net, batch, dtype)
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
        from .analysis import analyse
        from .render import RF_RENDERERS, Format

        net = load_network(Source(file, expression), input_shape)
        result = analyse(net, batch, dtype)
        measured = None
        if verify:
            from .fieldcheck import measure

            measured = measure(net, result)
        click.echo(RF_RENDERERS[Format(fmt)](result, measured), nl=False)
        if fmt == "table":
            for warning in result.warnings:
                click.echo(f"warning: {warning}", err=True)
        if measured is not None and not all(agrees for _, agrees in measured.values()):
            return EXIT_DIFFERENCE

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
        from . import runner
        from .analysis import analyse
        from .render import run_json, run_table

        net = load_network(Source(file, expression), input_shape)
        inline = net.data
        given = runner.load_npz(weights) if weights else {}
        values = runner.load_input(data) if data else (inline.value if inline is not None else None)
        if values is not None and getattr(values, "ndim", None) == len(net.input_shape) + 1:
            batch_size = values.shape[0]
        elif values is not None and len(getattr(values, "shape", ())) == len(net.input_shape):
            batch_size = 1
        else:
            batch_size = batch
        summary = analyse(net, batch_size, dtype)
        limit = parse_size(max_memory) if max_memory else runner.machine_memory() // 2
        itemsize = 4 if dtype == "float32" else 8
        peak = runner.estimate_peak(summary, net, batch_size, itemsize, keep=bool(save))
        if peak > limit:
            raise CnnError(
                f"running this network needs about {peak / 2**30:.2f} GiB at its peak, more than the limit of "
                f"{limit / 2**30:.2f} GiB; allowed: a smaller --input or --batch, or a higher --max-memory"
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
        from .writers import to_dsl, to_yaml

        spec = read_spec(Source(file, expression))
        click.echo(to_yaml(spec) if target == "yaml" else to_dsl(spec), nl=False)

    run_safely(act)


@main.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def layers(name, fmt) -> None:
    """Every supported layer type with its aliases, attributes and defaults (or one type)."""

    def act():
        from . import catalogue

        click.echo(catalogue.render(name, fmt), nl=False)

    run_safely(act)
