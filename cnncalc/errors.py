"""The one exception type a user can cause, and where in their file it points.

Every error a user can provoke (a typo, a kernel too large, a malformed file) is a
`CnnError` carrying the `Location` of the offending text. The CLI prints it as

    PATH:LINE:COL: error: layer 'conv2' (conv2d): MESSAGE
        7 |   - conv2d: {out: 64, kernel: 7}
          |                               ^

and exits with code 2. Anything else that escapes is a bug.

What does not stop the analysis is a `CnnWarning`: a sentence (a `str`, so it prints and
serialises as one) with a `WarningKind`, which `--no-warn KIND` silences.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Iterable


@dataclass(frozen=True)
class Location:
    """A position in a source: 1-based line and column."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class CnnError(Exception):
    """A problem with the user's input, pointing at where it is."""

    def __init__(self, message: str, location: Location | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.layer = layer  # "layer 'conv2' (conv2d)", already worded
        self.notes: tuple[str, ...] = ()  # what may have caused it (a layout hint), shown after

    def headline(self) -> str:
        where = str(self.location) if self.location else "cnncalc"
        subject = f"{self.layer}: " if self.layer else ""
        return visible(f"{where}: error: {subject}{self.message}")

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The headline, then the source line with a caret under the column."""
        text = self.headline()
        notes = "".join(f"\nnote: {visible(note)}" for note in self.notes)
        loc = self.location
        if loc is None or not sources or loc.path not in sources:
            return text + notes
        lines = sources[loc.path].splitlines()
        if not 1 <= loc.line <= len(lines):
            return text
        raw = lines[loc.line - 1].rstrip("\n").replace("\t", " ")
        gutter = f"{loc.line:>5} | "
        caret = " " * (len(gutter) - 2) + "| " + " " * len(visible(raw[: loc.column - 1])) + "^"
        source_line = visible(raw)
        return f"{text}\n{gutter}{source_line}\n{caret}{notes}"


class CnnErrors(CnnError):
    """Several independent mistakes found in one run, reported together (in order)."""

    def __init__(self, errors: list[CnnError]):
        super().__init__(errors[0].message, errors[0].location, errors[0].layer)
        self.errors = list(errors)

    def headline(self) -> str:
        return "\n".join(error.headline() for error in self.errors)

    def render(self, sources: dict[str, str] | None = None) -> str:
        return "\n".join(CnnError.render(error, sources) for error in self.errors)


class WarningKind(str, Enum):
    """What a warning is about: the name `--no-warn` takes to silence every warning of it."""

    STRIDE_SKIP = "stride-skip"  # a stride longer than the kernel's reach: some positions between windows are never read
    UNREACHED = "unreached"  # positions past the last window (or before the first) that no window reaches
    FIELD = "field"  # the receptive field is undefined from a layer on, or not shift-invariant
    MISALIGNED = "misaligned"  # the paths into a merge have different effective strides or centres
    UNUSED = "unused"  # a layer or an input on no path to an output; arrays of --weights no layer reads
    LEFT_OUT = "left-out"  # a name read where if: leaves that layer out
    MISMATCH = "mismatch"  # run: a layer's real output differs from the computed shape
    LAYOUT = "layout"  # an input that looks written for the other layout; a dense layer on a spatial tensor
    OTHER = "other"  # anything not given a kind (silenced only by --quiet)

    @property
    def meaning(self) -> str:
        return KIND_MEANINGS[self]


KIND_MEANINGS = {
    WarningKind.STRIDE_SKIP: "a stride longer than the kernel's reach skips positions between windows (1x1 stride-2 projections)",
    WarningKind.UNREACHED: "input positions past the last window (or before the first) that no window reaches",
    WarningKind.FIELD: "the receptive field is undefined from a layer on, or not shift-invariant",
    WarningKind.MISALIGNED: "the paths into a merge have different effective strides or field centres",
    WarningKind.UNUSED: "a layer or input on no path to an output; arrays in --weights that no layer reads",
    WarningKind.LEFT_OUT: "a layer read by name where if: leaves it out",
    WarningKind.MISMATCH: "run: a layer's real output differs from the computed shape",
    WarningKind.LAYOUT: "an input that looks written for the other layout; a dense layer on a spatial tensor",
    WarningKind.OTHER: "anything else",
}


class CnnWarning(str):
    """A warning: its sentence, as a `str`, and its `kind`."""

    kind: WarningKind

    def __new__(cls, kind: WarningKind | str, text: str) -> CnnWarning:
        warning = super().__new__(cls, text)
        warning.kind = WarningKind(kind)
        return warning

    def __getnewargs__(self):  # copy and pickle rebuild it with its kind
        return (self.kind, str(self))

    def reworded(self, text: str) -> CnnWarning:
        """Another sentence of the same kind."""
        return CnnWarning(self.kind, text)


def kind_of(warning: str) -> WarningKind:
    return getattr(warning, "kind", WarningKind.OTHER)


def silenced(warnings: Iterable[str], quiet: bool = False, ignore: Iterable[WarningKind | str] = ()) -> tuple[str, ...]:
    """The warnings left once `--quiet` (all) or `--no-warn KIND` (those of a kind) has spoken."""
    if quiet:
        return ()
    dropped = {WarningKind(kind) for kind in ignore}
    return tuple(w for w in warnings if kind_of(w) not in dropped)


# Unicode categories that act instead of showing: controls (ESC, NUL, ...), format characters
# (bidi overrides, zero-width joiners, the BOM), surrogates, line and paragraph separators,
# and code points with no character.
ACTING = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(char: str) -> str:
    """One acting character as Python writes it in a string literal."""
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, reversible: bool = False) -> str:
    """Text safe to show: every acting character from a user's file (ESC [31m, a bidi
    override, a newline in a name) written as an escape (\\x1b, \\u202e, \\n), never sent
    as it is. `reversible` also doubles backslashes, so the escapes can be read back."""
    if text.isprintable() and not (reversible and "\\" in text):  # printable excludes every acting category
        return text
    out = []
    for char in text:
        if reversible and char == "\\":
            out.append("\\\\")
        elif char in NAMED or unicodedata.category(char) in ACTING:
            out.append(escaped(char))
        else:
            out.append(char)
    return "".join(out)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close match among choices, else ''."""
    pool = sorted(set(choices))
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[matches[0]]}'?)" if matches else ""


def format_shape(shape: Iterable[int]) -> str:
    """(64, 7, 7) as users write it in messages."""
    dims = tuple(shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
