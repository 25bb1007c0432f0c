"""From a path, standard input or text to a built network: the one load pipeline.

Every command and the Python API load through here: read the text, pick the reader
(YAML for .yaml/.yml paths and YAML-looking standard input, the DSL otherwise), expand
the blocks, build the graph. Texts read are remembered by display path so that an error
can quote the offending line.
"""

from __future__ import annotations

import codecs
import re
import sys
from dataclasses import dataclass, replace

from ..errors import CnnError, Location
from ..files import open_input, read_limited
from ..graph import Network, NetworkSpec, build, parse_shape
from . import dsl, kerasformat, onnxformat, yamlformat
from .blocks import expand
from .yamltree import check_printable, location_of

SOURCES: dict[str, str] = {}  # texts read so far, by display path, so errors can quote them


@dataclass(frozen=True)
class Source:
    """What the user pointed at: a path (or '-'), or DSL text given with -e."""

    path: str | None
    expression: str | None = None


MAX_TEXT_BYTES = 16 * 2**20  # a network or answers file; the largest example is under 100 KiB
TEXT_FILES = "a YAML (.yaml) or DSL file, or '-' for standard input"


def read_text(source: Source) -> tuple[str, str]:
    """(text, display path) of a FILE argument, '-' or -e TEXT.

    A file must be a regular file (files.open_input: devices, FIFOs, directories and
    sockets are refused without being opened) of at most MAX_TEXT_BYTES; standard input is
    read up to that size and no further. The bytes must be UTF-8 (a BOM is dropped)."""
    if source.expression is not None:
        return remember(source.expression, "<expression>"), "<expression>"
    if source.path is None:
        raise CnnError("no network given; allowed: a FILE, '-' for standard input, or -e TEXT")
    if source.path == "-":
        data = read_limited(sys.stdin.buffer, None, MAX_TEXT_BYTES, "standard input", "a network or answers text")
        return remember(decode(data, "<stdin>"), "<stdin>"), "<stdin>"
    stream, size = open_input(source.path, "file", TEXT_FILES)
    try:
        with stream:
            data = read_limited(stream, size, MAX_TEXT_BYTES, source.path, "a network or answers file")
    except OSError as exc:
        raise CnnError(f"cannot read {source.path}: {exc.strerror or exc}") from None
    return remember(decode(data, source.path), source.path), source.path


def decode(data: bytes, path: str) -> str:
    """UTF-8 bytes as text with newlines as Python's text files give them ('\\r\\n' and
    '\\r' become '\\n'), without a leading BOM. A byte that is not UTF-8 is an error at
    its own line and column."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return newlines(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        remember(newlines(data.decode("utf-8", errors="replace")), path)  # so the error can quote the line
        before = newlines(data[: exc.start].decode("utf-8"))
        raise CnnError(
            f"byte 0x{data[exc.start]:02X} is not UTF-8 text; allowed: UTF-8 (save the file with that encoding)",
            location_of(before, len(before), path),
        ) from None


def newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def remember(text: str, path: str) -> str:
    SOURCES[path] = text
    return text


def looks_like_yaml(text: str) -> bool:
    """Standard input is YAML when it has a top-level 'layers:' key; otherwise DSL."""
    return re.search(r"^layers\s*:", text, re.MULTILINE) is not None


def parse(text: str, path: str, is_yaml: bool | None = None) -> NetworkSpec:
    """The network as written (blocks not yet expanded). `is_yaml=None` decides from the
    path's ending, then from the text."""
    text = text.removeprefix("\ufeff")  # a BOM, as editors on Windows write it
    remember(text, path)
    if is_yaml is None:
        is_yaml = path.endswith((".yaml", ".yml")) or (not path.endswith(".dsl") and looks_like_yaml(text))
    if is_yaml:
        return yamlformat.read(text, path)  # which refuses unprintable characters, located
    check_printable(text, path)
    return dsl.read(text, path)


def read_spec(source: Source) -> NetworkSpec:
    """The network as written in a FILE argument, '-' or -e TEXT. An ONNX model's is its
    layers without their weights (`convert` of a model prints what `import` does)."""
    if source.expression is None and onnxformat.is_onnx(source.path):
        spec, _ = onnxformat.read(source.path)
        return replace(spec, layers=[replace(layer, tensors={}) for layer in spec.layers])
    if source.expression is None and kerasformat.is_keras(source.path):
        spec, _ = kerasformat.read(source.path, weights=False)
        return spec
    text, path = read_text(source)
    if source.expression is not None:
        return parse(text, path, is_yaml=False)
    is_yaml = path.endswith((".yaml", ".yml")) or (source.path == "-" and looks_like_yaml(text))
    return parse(text, path, is_yaml)


def input_override(text: str | None) -> tuple[int, ...] | None:
    """The --input option as a shape (None when not given)."""
    return None if text is None else parse_shape(text, Location("--input", 1, 1), "--input")


def load_spec(spec: NetworkSpec, input_shape: tuple[int, ...] | None = None) -> Network:
    """The network, with a warning for an input whose axes look written in the other
    layout (source/hints.py)."""
    from dataclasses import replace

    from .hints import layout_hints

    network = build(expand(spec, input_shape), input_shape)
    hints = layout_hints(network)
    return replace(network, warnings=network.warnings + hints) if hints else network


def load_source(source: Source, input_shape: str | None = None, weights: bool | None = None) -> Network:
    """The built network of a FILE argument, '-' or -e TEXT, with --input applied. An ONNX
    model (.onnx) is read by onnxformat, its weights inline and its inputs already shaped;
    a Keras model (.keras) by kerasformat, its weights inline when `weights` is True (h5py
    needed) or None and h5py is installed."""
    if source.expression is None and onnxformat.is_onnx(source.path):
        spec, _ = onnxformat.read(source.path, input_override(input_shape))
        return build(spec)
    if source.expression is None and kerasformat.is_keras(source.path):
        spec, _ = kerasformat.read(source.path, input_override(input_shape), weights)
        return build(spec)
    return load_spec(read_spec(source), input_override(input_shape))
