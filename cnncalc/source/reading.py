"""From a path, standard input or text to a built network: the one load pipeline.

Every command and the Python API load through here: read the text, pick the reader
(YAML for .yaml/.yml paths and YAML-looking standard input, the DSL otherwise), expand
the blocks, build the graph. Texts read are remembered by display path so that an error
can quote the offending line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from ..errors import CnnError, Location
from ..graph import Network, NetworkSpec, build, parse_shape
from . import dsl, yamlformat
from .blocks import expand

SOURCES: dict[str, str] = {}  # texts read so far, by display path, so errors can quote them


@dataclass(frozen=True)
class Source:
    """What the user pointed at: a path (or '-'), or DSL text given with -e."""

    path: str | None
    expression: str | None = None


def read_text(source: Source) -> tuple[str, str]:
    """(text, display path) of a FILE argument, '-' or -e TEXT."""
    if source.expression is not None:
        return remember(source.expression, "<expression>"), "<expression>"
    if source.path is None:
        raise CnnError("no network given; allowed: a FILE, '-' for standard input, or -e TEXT")
    if source.path == "-":
        return remember(sys.stdin.read(), "<stdin>"), "<stdin>"
    try:
        with open(source.path, encoding="utf-8") as handle:
            return remember(handle.read(), source.path), source.path
    except FileNotFoundError:
        raise CnnError(f"no such file: {source.path}") from None
    except IsADirectoryError:
        raise CnnError(f"{source.path} is a directory; allowed: a .yaml file") from None
    except UnicodeDecodeError as exc:
        raise CnnError(f"{source.path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CnnError(f"cannot read {source.path}: {exc.strerror}") from None


def remember(text: str, path: str) -> str:
    SOURCES[path] = text
    return text


def looks_like_yaml(text: str) -> bool:
    """Standard input is YAML when it has a top-level 'layers:' key; otherwise DSL."""
    return re.search(r"^layers\s*:", text, re.MULTILINE) is not None


def parse(text: str, path: str, is_yaml: bool | None = None) -> NetworkSpec:
    """The network as written (blocks not yet expanded). `is_yaml=None` decides from the
    path's ending, then from the text."""
    remember(text, path)
    if is_yaml is None:
        is_yaml = path.endswith((".yaml", ".yml")) or (not path.endswith(".dsl") and looks_like_yaml(text))
    return yamlformat.read(text, path) if is_yaml else dsl.read(text, path)


def read_spec(source: Source) -> NetworkSpec:
    """The network as written in a FILE argument, '-' or -e TEXT."""
    text, path = read_text(source)
    if source.expression is not None:
        return parse(text, path, is_yaml=False)
    is_yaml = path.endswith((".yaml", ".yml")) or (source.path == "-" and looks_like_yaml(text))
    return parse(text, path, is_yaml)


def input_override(text: str | None) -> tuple[int, ...] | None:
    """The --input option as a shape (None when not given)."""
    return None if text is None else parse_shape(text, Location("--input", 1, 1), "--input")


def load_spec(spec: NetworkSpec, input_shape: tuple[int, ...] | None = None) -> Network:
    return build(expand(spec), input_shape)


def load_source(source: Source, input_shape: str | None = None) -> Network:
    """The built network of a FILE argument, '-' or -e TEXT, with --input applied."""
    return load_spec(read_spec(source), input_override(input_shape))
